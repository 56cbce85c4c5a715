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
from adapters.lua.engine import Caller, LuaEngine, LuaError
from adapters.lua.library import install_library
from api.context import LUA_SCOPE
from api.permissions import may
from domain.passwords import ADMIN
from domain.users import CONFIGURATION

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
    engine: LuaEngine | None, settings: Settings
) -> list[Callable[[Litestar], Awaitable[None]]]:
    """The application's start-up hook for Lua: none without scripting."""
    if engine is None:
        return []
    rest = InProcessRest(settings.authentication_enabled)
    install_library(engine, rest, lambda: orthanc_configuration(settings))

    async def start(app: Litestar) -> None:
        rest.serve(app, asyncio.get_running_loop())
        await anyio.to_thread.run_sync(_run_configured_scripts, engine, settings.lua_scripts)

    return [start]


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


def lua_caller(scope: Any) -> Caller:
    """Who a script sent over REST acts as: the user who sent it. Only administrators may
    (api.permissions); without authentication, every caller is one."""
    user = scope.get("user")
    return Caller(user=user if isinstance(user, str) else "", role=ADMIN)
