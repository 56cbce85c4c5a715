"""Lua scripting wired to the HTTP application: scripts call this application's routes in
this process (`InProcessRest`), and `LuaScripts` run once the application serves.

A script's request goes through the application as any other, past authentication: it acts
as the script's installer, and with authentication on, the installer's role must allow the
route (api.permissions), as it would over HTTP. The request is marked (`LUA_SCOPE`), so the
events it causes say their origin is Lua, and a script cannot start another script.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
from litestar import Litestar
from litestar.types import ASGIApp

from adapters.config import Settings, orthanc_configuration
from adapters.database import Database
from adapters.live_settings import LiveSettings
from adapters.lua.engine import Caller, LuaEngine, LuaError
from adapters.lua.library import install_library
from adapters.lua.values import origin_fields, to_lua
from adapters.processors.lua_callbacks import CALLBACKS
from adapters.storage import StorageArea
from api.context import LUA_SCOPE
from api.dicom_dictionary import private_dictionary
from api.dicom_json import simplified_tags
from api.metadata import all_metadata, annotation_names, expanded_metadata
from api.permissions import may
from domain.dicom_files import read_dicom
from domain.levels import INSTANCE
from domain.origin import Channel, Origin
from domain.passwords import ADMIN
from domain.users import CONFIGURATION
from projections.hierarchy import queries as hierarchy

log = logging.getLogger("chronicle.lua")

# Who the configuration's LuaScripts act as: an administrator, as in Orthanc.
CONFIGURED_SCRIPTS = Caller(user=CONFIGURATION, role=ADMIN)
_NOT_SERVING = (503, b"")


class InProcessRest:
    """The REST API of this process, for Lua (adapters.lua.library.RestCaller)."""

    def __init__(self, authentication_enabled: bool) -> None:
        self.authentication_enabled = authentication_enabled
        self._app: ASGIApp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def serve(self, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self._app, self._loop = app, loop

    def __call__(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], caller: Caller
    ) -> tuple[int, bytes]:
        if self._app is None or self._loop is None:
            return _NOT_SERVING
        route = path.split("?", 1)[0]
        if self.authentication_enabled and not may(caller.role, method, route):
            return 403, b""
        request = self._request(self._app, method, path, body, headers, caller)
        return asyncio.run_coroutine_threadsafe(request, self._loop).result()

    @staticmethod
    async def _request(
        app: ASGIApp,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        caller: Caller,
    ) -> tuple[int, bytes]:
        async def as_caller(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            scope["user"] = caller.user
            scope[LUA_SCOPE] = True
            await app(scope, receive, send)  # type: ignore[arg-type]

        transport = httpx.ASGITransport(app=as_caller, client=("127.0.0.1", 0))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            answer = await client.request(method, path, content=body, headers=headers)
            return answer.status_code, answer.content


def scripting_startup(
    engine: LuaEngine, settings: Settings, reader: StoredInstanceReader
) -> list[Callable[[Litestar], Awaitable[None]]]:
    """Lua's part of the application: the library, and the start-up hook that runs LuaScripts."""
    rest = InProcessRest(settings.authentication_enabled)
    install_library(engine, rest, lambda: orthanc_configuration(settings))
    engine.stored_instance = reader

    async def start(app: Litestar) -> None:
        rest.serve(app, asyncio.get_running_loop())
        await anyio.to_thread.run_sync(_run_configured_scripts, engine, settings.lua_scripts)

    return [start]


class StoredInstanceReader:
    """What OnStoredInstance is given: the instance's simplified tags and its metadata (name
    -> value), as GET /instances/{id}/simplified-tags and /metadata?expand answer them, read
    from the read model and the file directly (a third of an in-process request's cost).
    None when the instance is gone."""

    def __init__(
        self, db: Database, storage: StorageArea, live: LiveSettings, settings: Settings
    ) -> None:
        self.db = db
        self.storage = storage
        self.live = live
        self.names = annotation_names(settings)
        self.dictionary = private_dictionary(settings.dictionary)

    def __call__(self, instance_id: str) -> tuple[Any, Any] | None:
        with self.db.connection() as conn:
            row = hierarchy.get_resource(conn, INSTANCE, instance_id)
            if row is None:
                return None
            found = all_metadata(conn, row)
        try:
            data = self.storage.read(row["file_uuid"], row.get("file_compression"))
        except FileNotFoundError:
            return None
        tags = simplified_tags(
            read_dicom(data),
            default_encoding=self.live.default_encoding,
            private_dictionary=self.dictionary,
        )
        return tags, expanded_metadata(found, self.names)


def scripting_shutdown(engine: LuaEngine) -> list[Callable[[Litestar], Awaitable[None]]]:
    """The shutdown hook that calls Finalize() if the scripts define it, as Orthanc at stop."""

    def finalize() -> None:
        try:
            engine.call("Finalize", caller=CONFIGURED_SCRIPTS)
        except LuaError as error:
            log.error("Lua: Finalize() failed: %s\n%s", error.message, error.traceback)

    async def stop(app: Litestar) -> None:
        if engine.defines("Finalize"):
            await anyio.to_thread.run_sync(finalize)

    return [stop]


def _run_configured_scripts(engine: LuaEngine, scripts: list[str]) -> None:
    """Each of LuaScripts in order, then Initialize() if they define it, as Orthanc at start;
    a failing script stops the start."""
    for script in scripts:
        try:
            engine.run_file(Path(script), CONFIGURED_SCRIPTS)
        except LuaError as error:
            raise RuntimeError(f"LuaScripts: {script}: {error.message}") from None
        log.info("Lua script loaded: %s", script)
    try:
        engine.call("Initialize", caller=CONFIGURED_SCRIPTS)
    except LuaError as error:
        log.error("Lua: Initialize() failed: %s\n%s", error.message, error.traceback)


RECEIVED_INSTANCE_FILTER = "ReceivedInstanceFilter"
RECEIVED_CSTORE_INSTANCE_FILTER = "ReceivedCStoreInstanceFilter"
_ACCEPTED, _OUT_OF_RESOURCES = 0x0000, 0xA700


class LuaAdmission:
    """Orthanc's filters asked before each instance is stored (adapters.ingest.Admission):
    - ReceivedInstanceFilter(tags, origin, info), for every way in: false stores nothing (REST
      answers "FilteredOut", C-STORE success, as Orthanc 1.10.1);
    - then, for C-STORE only, ReceivedCStoreInstanceFilter(tags, origin, info): 0 stores the
      instance, any other number stores nothing and is the status the sender is answered, as
      Orthanc documents it (Orthanc 1.10.1 itself reads the number as a boolean, inverting it).
    A filter that fails, or answers something else than a boolean or a number, refuses the
    instance: "out of resources" to a C-STORE sender, as Orthanc answers when a filter throws.
    """

    def __init__(self, engine: LuaEngine, live: LiveSettings, settings: Settings) -> None:
        self.engine = engine
        self.live = live
        self.dictionary = private_dictionary(settings.dictionary)

    def __call__(self, data: bytes, origin: Origin) -> int | None:
        received = self.engine.defines(RECEIVED_INSTANCE_FILTER)
        cstore = origin.channel is Channel.DICOM and self.engine.defines(
            RECEIVED_CSTORE_INSTANCE_FILTER
        )
        if not (received or cstore):
            return None
        arguments = self._arguments(data, origin)
        name = RECEIVED_INSTANCE_FILTER
        try:
            if received and not _predicate(self.engine.call(name, *arguments, caller=CALLBACKS)):
                return _ACCEPTED
            name = RECEIVED_CSTORE_INSTANCE_FILTER
            if cstore:
                status = _dimse_status(self.engine.call(name, *arguments, caller=CALLBACKS))
                return None if status == _ACCEPTED else status
        except LuaError as error:
            log.error("Lua: %s failed: %s\n%s", name, error.message, error.traceback)
            return _OUT_OF_RESOURCES
        return None

    def _arguments(self, data: bytes, origin: Origin) -> tuple[Any, Any, Any]:
        header = read_dicom(data)
        tags = simplified_tags(
            header,
            default_encoding=self.live.default_encoding,
            private_dictionary=self.dictionary,
        )
        meta = getattr(header.dataset, "file_meta", None)
        info = {
            "HasPixelData": "PixelData" in header.dataset or header.pixel_data_skipped,
            "TransferSyntaxUID": str(getattr(meta, "TransferSyntaxUID", "") or ""),
        }
        runtime = self.engine.runtime
        return (
            to_lua(runtime, tags),
            to_lua(runtime, origin_fields(origin)),
            to_lua(runtime, info),
        )


def _predicate(answer: Any) -> bool:
    """A filter's verdict: Orthanc wants a boolean."""
    if not isinstance(answer, bool):
        raise LuaError("the filter must return a boolean (true or false)")
    return answer


def _dimse_status(answer: Any) -> int:
    if isinstance(answer, bool) or not isinstance(answer, int | float) or answer != int(answer):
        raise LuaError("the filter must return a DIMSE status (0 to accept)")
    return int(answer) & 0xFFFF


def filter_http_requests(app: ASGIApp, engine: LuaEngine | None) -> ASGIApp:
    """Orthanc's IncomingHttpRequestFilter(method, uri, ip, username, headers), asked before
    each HTTP request is routed (after authentication): false answers 403 with no body, as
    Orthanc 1.10.1. A failing filter refuses the request too. Requests Lua itself makes are
    not filtered."""
    if engine is None:
        return app
    name = "IncomingHttpRequestFilter"

    def allowed(scope: Any) -> bool:
        client = scope.get("client")
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", [])
        }
        user = scope.get("user")
        arguments = (
            str(scope.get("method", "")).encode(),
            str(scope["path"]).encode(),
            (client[0] if client else "").encode(),
            (user if isinstance(user, str) else "").encode(),
            to_lua(engine.runtime, headers),
        )
        try:
            return bool(engine.call(name, *arguments, caller=CALLBACKS))
        except LuaError as error:
            log.error("Lua: %s failed: %s\n%s", name, error.message, error.traceback)
            return False

    async def filtered(scope: Any, receive: Any, send: Any) -> None:
        asked = scope["type"] == "http" and engine.defines(name) and not scope.get(LUA_SCOPE)
        if asked and not await anyio.to_thread.run_sync(allowed, scope):
            await send({"type": "http.response.start", "status": 403, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return filtered


def lua_caller(scope: Any) -> Caller:
    """Who a script sent over REST acts as: the user who sent it. Only administrators may
    (api.permissions); without authentication, every caller is one."""
    user = scope.get("user")
    return Caller(user=user if isinstance(user, str) else "", role=ADMIN)
