"""The Litestar application: Orthanc-compatible routes at /."""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import DataError as EventStoreDataError
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp

from adapters.node import ChronicleNode, ProjectionLagError
from api.authentication import authenticate
from api.dependencies import ApiParts
from api.errors import (
    OrthancCode,
    OrthancError,
    handle_http_exception,
    handle_orthanc_error,
    handle_unexpected,
)
from api.form_uploads import ChunkStore
from api.method_override import honour_method_override
from api.operation_ids import operation_id
from api.routes.access import access_handlers
from api.routes.archives import archive_handlers
from api.routes.attachments import attachment_handlers
from api.routes.bulk import bulk_handlers
from api.routes.changes import changes_handlers
from api.routes.consumers import consumers_handlers
from api.routes.create_dicom import create_dicom_handlers
from api.routes.exports import exports_handlers
from api.routes.file_export import file_export_handlers
from api.routes.find import find_handlers
from api.routes.images import image_handlers
from api.routes.instance_content import content_handlers
from api.routes.jobs import jobs_handlers
from api.routes.labels import label_handlers
from api.routes.lua import lua_handlers
from api.routes.metadata import metadata_handlers
from api.routes.metrics import metrics_handlers
from api.routes.modalities import modalities_handlers
from api.routes.modification import modification_handlers
from api.routes.peers import peers_handlers
from api.routes.pixel_data import pixel_data_handlers
from api.routes.reconstruct import reconstruct_handlers
from api.routes.resources import resource_handlers
from api.routes.settings import settings_handlers
from api.routes.storage_commitment import storage_commitment_handlers
from api.routes.study_restructuring import study_restructuring_handlers
from api.routes.system import chronicle_version, system_handlers
from api.routes.tools import tools_handlers
from api.routes.transfers import transfers_handlers
from api.routes.upload import upload_handlers
from api.scripting import (
    LuaAdmission,
    StoredInstanceReader,
    filter_http_requests,
    scripting_shutdown,
    scripting_startup,
)
from api.security_headers import protect
from api.upload_timing import time_uploads


def _projection_lag(request, exc: ProjectionLagError):  # type: ignore[no-untyped-def]
    return handle_orthanc_error(request, OrthancError(OrthancCode.TIMEOUT, str(exc)))


def _unstorable_value(request, exc: Exception):  # type: ignore[no-untyped-def]
    """A value PostgreSQL cannot hold (a NUL character, a number out of range) or text that
    cannot be encoded, in an ID, a parameter or a body: the request is wrong, nothing was
    found or changed (the transaction that met it rolled back)."""
    details = f"A value of the request cannot be looked up or stored: {type(exc).__name__}"
    return handle_orthanc_error(request, OrthancError(OrthancCode.BAD_REQUEST, details))


def create_asgi_app(node: ChronicleNode) -> ASGIApp:
    """What the HTTP server runs: the application behind the outermost guard."""
    settings = node.settings
    authenticated = authenticate(
        filter_http_requests(create_app(node), node.lua),
        node.users,
        settings.authentication_enabled,
        anonymous_system=settings.anonymous_system,
        anonymous_openapi=settings.anonymous_openapi,
    )
    guarded = honour_method_override(protect(authenticated, [settings.http_host]))
    return time_uploads(guarded)


def orthanc_route_handlers() -> list[Any]:
    """Every route of the Orthanc-compatible surface (and its Chronicle extensions)."""
    return [
        *system_handlers,
        *changes_handlers,
        *consumers_handlers,
        *upload_handlers,
        *resource_handlers(),
        *content_handlers(),
        *metadata_handlers(),
        *attachment_handlers(),
        *label_handlers(),
        *jobs_handlers,
        *exports_handlers,
        *find_handlers,
        *file_export_handlers,
        *bulk_handlers,
        *reconstruct_handlers(),
        *archive_handlers(),
        *modification_handlers(),
        *study_restructuring_handlers(),
        *image_handlers(),
        *pixel_data_handlers(),
        *create_dicom_handlers(),
        *tools_handlers,
        *lua_handlers,
        *settings_handlers,
        *metrics_handlers,
        *transfers_handlers,
        *storage_commitment_handlers,
        *modalities_handlers,
        *peers_handlers,
        *access_handlers,
    ]


def _scripting(node: ChronicleNode) -> list[Any]:
    """Lua, when configured: its library and start-up hook, and the filter ingest asks."""
    if node.lua is None:
        return []
    node.ingestor.admission = LuaAdmission(node.lua, node.live, node.settings)
    reader = StoredInstanceReader(node.db, node.storage, node.live, node.settings)
    return scripting_startup(node.lua, node.settings, reader)


def _finalize(node: ChronicleNode) -> list[Any]:
    return [] if node.lua is None else scripting_shutdown(node.lua)


def create_app(node: ChronicleNode) -> Litestar:
    # One router per surface, so that guards (authentication) attach per surface; Dicoogle's
    # /dicoogle/ and Capacitor's /api/ come as routers of their own.
    orthanc = Router(path="/", route_handlers=orthanc_route_handlers())
    parts = ApiParts.of(node)
    return Litestar(
        route_handlers=[orthanc],
        on_startup=_scripting(node),
        on_shutdown=_finalize(node),
        state=State(
            {
                "db": parts.db,
                "storage": parts.storage,
                "settings": parts.settings,
                "live": parts.live,
                "upload_chunks": ChunkStore(),
            }
        ),
        dependencies=parts.dependencies(),
        exception_handlers={
            OrthancError: handle_orthanc_error,
            ProjectionLagError: _projection_lag,
            psycopg.DataError: _unstorable_value,
            EventStoreDataError: _unstorable_value,
            UnicodeError: _unstorable_value,  # e.g. a lone surrogate in a JSON string
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        request_max_body_size=node.settings.max_upload_bytes,
        # The process's logging is configured once (adapters.safe_logging); Litestar's own
        # configuration would add a second root handler with another format.
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="Chronicle (Orthanc-compatible REST API)",
            version=chronicle_version(),
            path="/schema",
            operation_id_creator=operation_id,
        ),
        debug=False,
    )
