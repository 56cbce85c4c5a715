"""POST /tools/execute-script: a Lua script run in the server's Lua state, as in Orthanc."""

from __future__ import annotations

import logging

from litestar import Request, Response, post

from adapters.config import Settings
from adapters.lua.engine import LuaEngine, LuaError
from api.context import LUA_SCOPE
from api.errors import OrthancCode, OrthancError
from api.scripting import lua_caller

log = logging.getLogger("chronicle.lua")


@post("/tools/execute-script", status_code=200, sync_to_thread=True)
def execute_script(
    request: Request, body: bytes, settings: Settings, lua: LuaEngine | None
) -> Response[bytes]:
    """What the script printed. Disabled unless ExecuteLuaEnabled: 403 with no body, as Orthanc."""
    if not settings.execute_lua_enabled or lua is None:
        return Response(b"", status_code=403, media_type="text/plain")
    if request.scope.get(LUA_SCOPE):
        raise OrthancError(OrthancCode.BAD_REQUEST, "A Lua script cannot run another script")
    try:
        output = lua.run(body.decode("utf-8", "replace"), lua_caller(request.scope))
    except LuaError as error:
        log.warning("Lua script failed: %s\n%s", error.message, error.traceback)
        raise OrthancError(OrthancCode.CANNOT_EXECUTE_LUA, error.message) from None
    return Response(output.encode("utf-8"), media_type="text/plain")


lua_handlers = [execute_script]
