"""The outermost ASGI layer: headers on every response (router 404/405 included), and
protection of the API against web pages in the operator's browser: a Host that is not this
server (DNS rebinding) is refused, and so is a cross-origin write."""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.asgi import request_header

SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff")]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CROSS_SITE = {"cross-site", "same-site"}


def protect(app: ASGIApp, host_names: Iterable[str] = ()) -> ASGIApp:
    allowed = {name.strip("[]").lower() for name in (*LOOPBACK_NAMES, *host_names)}

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        refusal = _refusal(scope, allowed)
        if refusal is not None:
            await _refuse(send, *refusal)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await app(scope, receive, send_with_headers)

    return guarded


MAX_ECHOED = 100  # characters of a refused Host shown back


def _host_name(authority: str) -> str:
    return (urlsplit(f"//{authority}").hostname or "").lower()


def _refusal(scope: Scope, allowed: set[str]) -> tuple[int, str] | None:
    host = request_header(scope, b"host")
    if host is not None and _host_name(host) not in allowed:
        shown = host if len(host) <= MAX_ECHOED else host[:MAX_ECHOED] + "…"
        return 421, f"Requests must be addressed to this server, not to {shown!r}"
    if scope.get("method") in SAFE_METHODS:
        return None
    origin = request_header(scope, b"origin")
    if origin and origin != "null":
        origin_host = urlsplit(origin).netloc
        if host is None or origin_host.lower() != host.lower():
            return 403, "Cross-origin writes are refused"
    # A browser names where a request comes from even when it sends no Origin (a GET that
    # `?_method=DELETE` turns into a write, from an <img> on another site).
    if request_header(scope, b"sec-fetch-site") in CROSS_SITE:
        return 403, "Cross-origin writes are refused"
    return None


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"HttpStatus": status, "Message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})
