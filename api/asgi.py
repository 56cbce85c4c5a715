"""Reading raw ASGI requests, for the layers that run before Litestar (guards, overrides)."""

from __future__ import annotations

from litestar.types import Scope


def request_header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower-case bytes), or None."""
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
