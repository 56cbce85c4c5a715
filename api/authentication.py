"""HTTP authentication and permissions, as an ASGI layer in front of the application.

As Orthanc answers it: without valid credentials, 401 with `WWW-Authenticate: Basic
realm="…"` and an empty body (clients such as httplib2 only send credentials after that
challenge); a known user whose role may not call the route (api.permissions), 403 with an
Orthanc error body. Failed attempts are answered later and later (adapters.login_guard). The
caller's name goes into the request's scope (`user`), which the events the request causes
record.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from litestar.concurrency import sync_to_thread
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

from adapters.login_guard import LoginThrottle
from adapters.user_directory import UserDirectory
from api.asgi import request_header
from api.errors import OrthancCode, OrthancError, orthanc_error_body
from api.permissions import may

REALM = "Chronicle"
# What an anonymous GET /system shows when that is configured: enough to find the server.
MINIMAL_SYSTEM = ("ApiVersion", "Implementation", "Name", "Version")
OPENAPI_PREFIX = "/schema"


def authenticate(
    app: ASGIApp,
    users: UserDirectory,
    enabled: bool,
    anonymous_system: bool = False,
    anonymous_openapi: bool = False,
) -> ASGIApp:
    """`anonymous_system`: GET /system answers its minimal form without credentials;
    `anonymous_openapi`: the OpenAPI document and its pages are open."""
    if not enabled:
        return app
    throttle = LoginThrottle()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        header = request_header(scope, b"authorization")
        if header is None:
            method, path = scope.get("method"), scope["path"]
            if anonymous_openapi and method == "GET" and path.startswith(OPENAPI_PREFIX):
                await app(scope, receive, send)
            elif anonymous_system and method == "GET" and path == "/system":
                await app(scope, receive, _minimal_system(send))
            else:
                await _challenge(send)
            return
        client = scope.get("client")
        source = client[0] if client else ""
        attempt = await sync_to_thread(users.authenticate_header, header, source)
        identity = attempt.identity
        if identity is None:
            delay = throttle.failed(attempt.claimed, source)
            await asyncio.sleep(delay)
            await _challenge(send, retry_after=delay)
            return
        method, path = str(scope.get("method", "")), scope["path"]
        if not may(identity.role, method, path):
            await _forbidden(send, method, path, identity.role)
            return
        scope["user"] = identity.name
        await app(scope, receive, send)

    return guarded


def _minimal_system(send: Send) -> Send:
    """Sends GET /system's answer with only MINIMAL_SYSTEM's fields."""
    held: list[Any] = []

    async def filtered(message: Any) -> None:
        if message["type"] == "http.response.start":
            held.append(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        held.append(message["body"])
        if message.get("more_body"):
            return
        start, body = held[0], b"".join(held[1:])
        try:
            full = json.loads(body)
            body = json.dumps({key: full[key] for key in MINIMAL_SYSTEM if key in full}).encode()
        except (ValueError, TypeError):
            body = b"{}"
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        await _answer(send, start["status"], headers, body)

    return filtered


async def _challenge(send: Send, retry_after: float = 0.0) -> None:
    """The 401; after repeated failures, also when to try again (Retry-After, in seconds)."""
    headers = [(b"www-authenticate", f'Basic realm="{REALM}"'.encode())]
    if retry_after:
        headers.append((b"retry-after", str(math.ceil(retry_after)).encode()))
    await _answer(send, 401, headers, b"")


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    length = (b"content-length", str(len(body)).encode())
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, length],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


async def _forbidden(send: Send, method: str, path: str, role: str) -> None:
    error = OrthancError(OrthancCode.FORBIDDEN, f"The role {role!r} may not call {method} {path}")
    body = json.dumps(orthanc_error_body(method, path, error), indent=3).encode()
    await _answer(send, 403, [(b"content-type", b"application/json")], body)
