"""The small /tools routes that need no state: generated UIDs, the server's clock, and the
(empty) list of plugins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from pydicom.uid import generate_uid

from api.errors import not_found_without_body
from api.routes.metadata import text_response

UID_LEVELS = frozenset({"study", "series", "instance"})


@get("/tools/generate-uid", sync_to_thread=False)
def generate_uid_route(level: str | None = None) -> Response[bytes]:
    """A new identifier for a resource of `level` (lower case, as Orthanc): a UUID for a
    patient, a DICOM UID (under pydicom's root) for a study, series or instance."""
    if level == "patient":
        return text_response(str(uuid.uuid4()))
    if level in UID_LEVELS:
        return text_response(str(generate_uid()))
    raise not_found_without_body(f"no such level: {level!r}")


@get("/tools/now", sync_to_thread=False)
def now_universal() -> Response[bytes]:
    """The server's time in UTC, YYYYMMDDTHHMMSS."""
    return text_response(datetime.now(UTC).strftime("%Y%m%dT%H%M%S"))


@get("/tools/now-local", sync_to_thread=False)
def now_local() -> Response[bytes]:
    """The server's local time, YYYYMMDDTHHMMSS."""
    return text_response(datetime.now().astimezone().strftime("%Y%m%dT%H%M%S"))


@get("/plugins", sync_to_thread=False)
def plugins() -> list[str]:
    """Chronicle loads no Orthanc plugin."""
    return []


@get("/plugins/{name:str}", sync_to_thread=False)
def plugin(name: str) -> Response[bytes]:
    raise not_found_without_body(f"no plugin {name!r}")


tools_handlers: list[HTTPRouteHandler] = [
    generate_uid_route,
    now_universal,
    now_local,
    plugins,
    plugin,
]
