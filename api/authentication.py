"""HTTP authentication and permissions, as an ASGI layer in front of the application.

As Orthanc answers it: without valid credentials, 401 with `WWW-Authenticate: Basic
realm="…"` and an empty body (clients such as httplib2 only send credentials after that
challenge); a known user whose role may not call the route (api.permissions), 403 with an
Orthanc error body. The caller's name goes into the request's scope (`user`), which the events
the request causes record.
"""

from __future__ import annotations

import json

from litestar.concurrency import sync_to_thread
from litestar.types import ASGIApp, Receive, Scope, Send

from adapters.user_directory import UserDirectory
from api.permissions import may

REALM = "Chronicle"


def authenticate(app: ASGIApp, users: UserDirectory, enabled: bool) -> ASGIApp:
    if not enabled:
        return app

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        identity = await sync_to_thread(users.authenticate_basic, header) if header else None
        if identity is None:
            await _challenge(send)
            return
        method, path = scope["method"], scope["path"]
        if not may(identity.role, method, path):
            await _forbidden(send, method, path, identity.role)
            return
        scope["user"] = identity.name  # type: ignore[typeddict-unknown-key]
        await app(scope, receive, send)

    return guarded


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


async def _challenge(send: Send) -> None:
    headers = [(b"www-authenticate", f'Basic realm="{REALM}"'.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _forbidden(send: Send, method: str, path: str, role: str) -> None:
    body = json.dumps(
        {
            "Details": f"The role {role!r} may not call {method} {path}",
            "HttpError": "Forbidden",
            "HttpStatus": 403,
            "Message": "Forbidden",
            "Method": method,
            "OrthancError": "Forbidden",
            "OrthancStatus": -1,
            "Uri": path,
        },
        indent=3,
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
