"""The functions Orthanc gives Lua scripts, defined in a LuaEngine.

REST calls go to Chronicle's own API in this process (`RestCaller`, given by the API layer),
as the script's installer: a route their role may not call answers as any refused call does.
As in Orthanc, RestApiGet/Post/Put answer the body as a string and RestApiDelete true, or nil
when the call fails; the `builtin` argument changes nothing (Chronicle loads no plugin).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import httpx
import lupa.lua54 as lua
from pydicom.uid import generate_uid

from adapters.lua.engine import Caller, LuaEngine
from adapters.lua.values import to_lua, to_python

log = logging.getLogger("chronicle.lua")


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

    def send(collection: str, resource_id: Any, target: Any) -> bytes:
        """Sends now (a synchronous store) and answers the ID, so that calls chain as in
        Orthanc's `Delete(SendToModality(instanceId, "PACS"))`; a failed send is a Lua error,
        so nothing after it in the chain runs."""
        identifier = _text(resource_id)
        body = json.dumps({"Resources": [identifier], "Synchronous": True}).encode()
        status, answer = call("POST", f"/{collection}/{_text(target)}/store", body, None)
        if status >= 400:
            raise LuaCommandFailed(
                f"cannot send {identifier} to {_text(target)}: {_details(answer)}"
            )
        return identifier.encode()

    def delete(resource_id: Any) -> bool:
        """Deletes a resource of any level, as Orthanc's Delete; a Lua error if it is unknown."""
        identifier = _text(resource_id)
        for collection in ("instances", "series", "studies", "patients"):
            status, _ = call("DELETE", f"/{collection}/{identifier}", None, None)
            if status < 400:
                return True
        raise LuaCommandFailed(f"cannot delete {identifier}: unknown resource")

    def modify_instance(
        resource_id: Any, replacements: Any = None, removals: Any = None, private: Any = False
    ) -> bytes:
        """Orthanc's ModifyInstance(id, replacements, removals, removePrivateTags): stores the
        modified instance now (its metadata ModifiedFrom names the source) and answers its ID,
        so that SendToModality(ModifyInstance(...), "PACS") chains; a failure is a Lua error."""
        identifier = _text(resource_id)
        request: dict[str, Any] = {"Resources": [identifier], "Synchronous": True}
        if replacements is not None:
            request["Replace"] = to_python(replacements, True) or {}  # {} reads as a list
        if removals is not None:
            request["Remove"] = to_python(removals, True) or []
        request["RemovePrivateTags"] = bool(private)
        body = json.dumps(request).encode()
        status, answer = call("POST", "/tools/bulk-modify", body, None)
        if status >= 400:
            raise LuaCommandFailed(f"cannot modify {identifier}: {_details(answer)}")
        resources = json.loads(answer).get("Resources", [])
        return next(r["ID"] for r in resources if r["Type"] == "Instance").encode()

    engine.define("ModifyInstance", modify_instance)
    engine.define(
        "SendToModality", lambda resource, modality, *_: send("modalities", resource, modality)
    )
    engine.define("SendToPeer", lambda resource, peer, *_: send("peers", resource, peer))
    engine.define("Delete", delete)
    http = OutgoingHttp()
    engine.define("HttpGet", lambda url, headers=None: http.request("GET", url, None, headers))
    engine.define(
        "HttpPost", lambda url, body=b"", headers=None: http.request("POST", url, body, headers)
    )
    engine.define(
        "HttpPut", lambda url, body=b"", headers=None: http.request("PUT", url, body, headers)
    )
    engine.define(
        "HttpDelete", lambda url, headers=None: http.request("DELETE", url, None, headers)
    )
    engine.define("SetHttpCredentials", http.set_credentials)
    engine.define("SetHttpTimeout", http.set_timeout)
    engine.define("RestApiGet", rest_get)
    engine.define("RestApiPost", rest_post)
    engine.define("RestApiPut", rest_put)
    engine.define("RestApiDelete", rest_delete)
    engine.define("ParseJson", parse_json)
    engine.define("DumpJson", dump_json)
    engine.define("GenerateDicomUid", generate_dicom_uid)
    engine.define("GetOrthancConfiguration", lambda: to_lua(runtime, configuration()))
    runtime.execute(_PRINT_RECURSIVE.encode())


class OutgoingHttp:
    """HttpGet/Post/Put/Delete: requests to other servers, with the credentials and timeout
    the script last set (Orthanc's SetHttpCredentials, SetHttpTimeout; 10 s by default). The
    body of the answer, or nil when the request fails; HttpDelete answers true."""

    def __init__(self) -> None:
        self.auth: tuple[str, str] | None = None
        self.timeout = 10.0

    def set_credentials(self, user: Any, password: Any) -> None:
        self.auth = (_text(user), _text(password))

    def set_timeout(self, seconds: Any) -> None:
        self.timeout = float(seconds) if float(seconds) > 0 else 10.0

    def request(self, method: str, url: Any, body: Any, headers: Any) -> Any:
        content = None if body is None else _bytes(body)
        try:
            answer = httpx.request(
                method,
                _text(url),
                content=content,
                headers=_headers(headers),
                auth=self.auth,
                timeout=self.timeout,
            )
        except httpx.HTTPError as error:
            log.warning("Lua: %s %s failed: %s", method, _text(url), type(error).__name__)
            return None
        if answer.status_code >= 400:
            return None
        return True if method == "DELETE" else answer.content


class LuaCommandFailed(RuntimeError):
    """A command a script gave (SendToModality, Delete…) failed: the script stops there."""


def _details(answer: bytes) -> str:
    try:
        body = json.loads(answer)
    except ValueError:
        return answer.decode("utf-8", "replace") or "refused"
    if isinstance(body, dict):
        return str(body.get("Details") or body.get("Message") or "refused")
    return "refused"


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
