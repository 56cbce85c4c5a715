"""Values between Lua and Python (and JSON) as Orthanc's Lua functions convert them.

A Lua table whose keys are exactly 1..n is a JSON array, an empty table is `[]` (Lua cannot
tell an empty object from an empty list; Orthanc answers `[]`), any other table an object
with its keys as text. JSON null becomes nil.
"""

from __future__ import annotations

from typing import Any

import lupa.lua54 as lua

from domain.origin import Channel, Origin


def to_python(value: Any, keep_strings: bool = False) -> Any:
    """A Lua value as plain Python; `keep_strings`: numbers as text (DumpJson's second argument)."""
    if lua.lua_type(value) == "table":
        items = list(value.items())
        keys = [key for key, _ in items]
        if keys and sorted(keys, key=_sort_key) != list(range(1, len(keys) + 1)):
            return {_key_text(key): to_python(item, keep_strings) for key, item in items}
        ordered = sorted(items, key=lambda pair: _sort_key(pair[0]))
        return [to_python(item, keep_strings) for _, item in ordered]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        number = int(value) if isinstance(value, float) and value.is_integer() else value
        return str(value) if keep_strings else number
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return None  # functions, userdata: JSON has nothing for them


def to_lua(runtime: lua.LuaRuntime, value: Any) -> Any:
    """Plain Python (parsed JSON) as Lua values: dicts and lists as tables, None as nil."""
    if isinstance(value, dict):
        return runtime.table_from(
            {_lua_key(key): to_lua(runtime, item) for key, item in value.items()}
        )
    if isinstance(value, list | tuple):
        return runtime.table_from([to_lua(runtime, item) for item in value])
    if isinstance(value, str):
        return value.encode("utf-8")  # the runtime's strings are bytes (adapters.lua.engine)
    return value


def _lua_key(key: Any) -> Any:
    return key.encode("utf-8") if isinstance(key, str) else key


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int) and not isinstance(key, bool) else (1, str(key))


def _key_text(key: Any) -> str:
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def origin_fields(origin: Origin) -> dict[str, str]:
    """Orthanc's `origin` argument of the callbacks and filters: who caused it, with the fields
    Orthanc 1.10.1 gives for that kind of request."""
    if origin.channel is Channel.DICOM:
        return {
            "CalledAet": origin.called_aet,
            "RemoteAet": origin.remote_aet,
            "RemoteIp": origin.remote_ip,
            "RequestOrigin": origin.orthanc_origin,
        }
    return {
        "RemoteIp": origin.remote_ip,
        "RequestOrigin": origin.orthanc_origin,
        "Username": origin.user,
    }
