"""Orthanc's HTTP method faking, for old clients and proxies that only send GET and POST: an
`X-HTTP-Method-Override: PUT|DELETE` header on any request, or `?_method=PUT|DELETE` on a GET,
makes the request that method. Any other override value is a 400 with an empty body, as in
Orthanc. The override is applied before the write protection, which judges the method the
request becomes."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from litestar.types import ASGIApp, Receive, Scope, Send

from api.asgi import request_header
from api.security_headers import SECURITY_HEADERS

OVERRIDABLE = {"PUT", "DELETE"}
OVERRIDE_HEADER = b"x-http-method-override"


def honour_method_override(app: ASGIApp) -> ASGIApp:
    async def overridden(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = _override(scope)
            if method is not None and method not in OVERRIDABLE:
                await _bad_method(send)
                return
            if method is not None:
                scope = {**scope, "method": method, "query_string": _without_method(scope)}
        await app(scope, receive, send)

    return overridden


def _override(scope: Scope) -> str | None:
    """The method the request asks to become, upper-cased; None when it asks nothing."""
    header = request_header(scope, OVERRIDE_HEADER)
    if header is not None:
        text = header.strip()
        return text.upper() if text else None
    if scope.get("method") == "GET":
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True):
            if name == "_method":
                return value.upper() if value else None
    return None


def _without_method(scope: Scope) -> bytes:
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k != "_method"]).encode("latin-1")


async def _bad_method(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-length", b"0"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": b""})
