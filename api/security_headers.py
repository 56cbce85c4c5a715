"""Headers every response carries."""

from __future__ import annotations

from litestar import Response


def add_security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
