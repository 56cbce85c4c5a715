"""The small /tools routes: their list, generated UIDs, the server's clock, the DICOM
conformance statement, shutdown and reset, and the (empty) list of plugins."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.handlers import HTTPRouteHandler
from pydicom.uid import generate_uid

from adapters.dicom.conformance import conformance_statement
from adapters.live_settings import LiveSettings
from adapters.process_control import MAIN_PROCESS_VARIABLE, request_stop
from api.errors import OrthancCode, OrthancError, not_found_without_body
from api.routes.metadata import empty_response, text_response

UID_LEVELS = frozenset({"study", "series", "instance"})


@get(["/tools", "/tools/"], sync_to_thread=False)
def list_tools(request: Request) -> list[str]:
    """The tools this server has (each route directly under /tools/), by name."""
    names = {
        route.path.removeprefix("/tools/")
        for route in request.app.routes
        if route.path.startswith("/tools/") and "{" not in route.path
    }
    return sorted(name for name in names if name and "/" not in name)


@get("/tools/dicom-conformance", sync_to_thread=False)
def dicom_conformance(live: LiveSettings) -> Response[bytes]:
    statement = conformance_statement(
        live.accepted_transfer_syntaxes, live.unknown_sop_class_accepted
    )
    return text_response(statement)


@post("/tools/invalidate-tags", sync_to_thread=False)
def invalidate_tags() -> Response[bytes]:
    """Orthanc drops its cached DICOM-as-JSON summaries; Chronicle keeps none (it reads the
    tags from the files, with the current dictionary), so there is nothing to drop."""
    return empty_response()


@post("/tools/shutdown", status_code=200, sync_to_thread=False)
def shutdown() -> Response[bytes]:
    """Every process of the archive stops, once this answer has left."""
    return _stopping(restart=False)


@post("/tools/reset", status_code=200, sync_to_thread=False)
def reset() -> Response[bytes]:
    """The archive stops and starts again, its configuration file read anew."""
    return _stopping(restart=True)


def _stopping(restart: bool) -> Response[bytes]:
    if MAIN_PROCESS_VARIABLE not in os.environ:
        raise OrthancError(
            OrthancCode.UNSUPPORTED_HERE, "only a server run by `chronicle serve` can be stopped"
        )
    return Response(
        b"{}", media_type="application/json", background=BackgroundTask(request_stop, restart)
    )


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
    list_tools,
    dicom_conformance,
    invalidate_tags,
    shutdown,
    reset,
    generate_uid_route,
    now_universal,
    now_local,
    plugins,
    plugin,
]
