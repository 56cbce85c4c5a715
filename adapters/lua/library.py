"""The functions Orthanc gives Lua scripts, defined in a LuaEngine.

REST calls go to Chronicle's own API in this process (`RestCaller`, given by the API layer),
as the script's installer: a route their role may not call answers as any refused call does.
As in Orthanc, RestApiGet/Post/Put answer the body as a string and RestApiDelete true, or nil
when the call fails; the `builtin` argument changes nothing (Chronicle loads no plugin).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import lupa.lua54 as lua
from pydicom.uid import generate_uid

from adapters.lua.engine import Caller, LuaEngine
from adapters.lua.values import to_lua, to_python


class RestCaller(Protocol):
    def __call__(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], caller: Caller
    ) -> tuple[int, bytes]: ...


def install_library(
    engine: LuaEngine, rest: RestCaller, configuration: Callable[[], dict[str, Any]]
) -> None:
    runtime = engine.runtime
    engine.rest = rest

    def caller() -> Caller:
        if engine.caller is None:  # only called from inside a script, which has one
            raise RuntimeError("a Lua function was called outside a script")
        return engine.caller

    def call(method: str, uri: Any, body: Any, headers: Any) -> tuple[int, bytes]:
        data = None if body is None else _bytes(body)
        return rest(method, _text(uri), data, _headers(headers), caller())

    def rest_get(uri: Any, builtin: Any = None, headers: Any = None) -> bytes | None:
        status, answer = call("GET", uri, None, headers)
        return answer if status < 400 else None

    def rest_post(uri: Any, body: Any = b"", builtin: Any = None, headers: Any = None) -> Any:
        status, answer = call("POST", uri, body, headers)
        return answer if status < 400 else None

    def rest_put(uri: Any, body: Any = b"", builtin: Any = None, headers: Any = None) -> Any:
        status, answer = call("PUT", uri, body, headers)
        return answer if status < 400 else None

    def rest_delete(uri: Any, builtin: Any = None, headers: Any = None) -> bool | None:
        status, _ = call("DELETE", uri, None, headers)
        return True if status < 400 else None

    def parse_json(text: Any) -> Any:
        try:
            return to_lua(runtime, json.loads(_text(text)))
        except ValueError:
            return None

    def dump_json(value: Any, keep_strings: Any = False) -> bytes:
        converted = to_python(value, bool(keep_strings))
        text = json.dumps(converted, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return text.encode("utf-8")

    def generate_dicom_uid(level: Any = None) -> bytes:
        patient = _text(level or "").lower() == "patient"
        return (str(uuid.uuid4()) if patient else str(generate_uid())).encode()

    engine.define("RestApiGet", rest_get)
    engine.define("RestApiPost", rest_post)
    engine.define("RestApiPut", rest_put)
    engine.define("RestApiDelete", rest_delete)
    engine.define("ParseJson", parse_json)
    engine.define("DumpJson", dump_json)
    engine.define("GenerateDicomUid", generate_dicom_uid)
    engine.define("GetOrthancConfiguration", lambda: to_lua(runtime, configuration()))
    runtime.execute(_PRINT_RECURSIVE.encode())


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def _headers(value: Any) -> dict[str, str]:
    if lua.lua_type(value) != "table":
        return {}
    return {_text(key): _text(item) for key, item in value.items()}


# Orthanc's PrintRecursive: one line per value, its path of keys, its type and, but for a
# table, its value.
_PRINT_RECURSIVE = """
function PrintRecursive(value)
  local function visit(item, path)
    local line = path == "" and type(item) or path .. ", " .. type(item)
    if type(item) ~= "table" then line = line .. ", " .. tostring(item) end
    print(line)
    if type(item) == "table" then
      for key, child in pairs(item) do visit(child, path .. "\\t[" .. tostring(key) .. "]") end
    end
  end
  visit(value, "")
end
"""
