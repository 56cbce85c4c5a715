"""Labels (Orthanc 1.12) on any resource, and a patient's protection against recycling."""

from __future__ import annotations

import re

from litestar import Request, Response, delete, get, put
from litestar.handlers import HTTPRouteHandler

from adapters.node import ReadModelWaiter
from api.context import read_connection, rest_origin
from api.errors import OrthancCode, OrthancError, unknown_resource
from api.params import boolean_body
from api.routes.metadata import empty_response, text_response
from api.routes.resources import load_resource
from domain.archive import Archive
from domain.levels import LEVEL_NAMES, LEVEL_PATHS, PATIENT
from projections.hierarchy import queries as hierarchy

_LABEL = re.compile(r"[A-Za-z0-9_-]{1,64}")


def checked_label(label: str) -> str:
    """As Orthanc's: 1 to 64 letters, digits, "-" or "_"."""
    if not _LABEL.fullmatch(label):
        raise OrthancError(
            OrthancCode.PARAMETER_OUT_OF_RANGE,
            "A label must be a non-empty, alphanumeric string (including - and _) with at "
            f"most 64 characters, found: {label[:80]}",
        )
    return label


def _labels(request: Request, level: int, resource_id: str) -> list[str]:
    row = load_resource(request, level, resource_id)
    with read_connection(request) as conn:
        return hierarchy.labels_of(conn, [row["id"]]).get(row["id"], [])


def _label_handlers(level: int) -> list[HTTPRouteHandler]:
    base = f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/labels"
    prefix = LEVEL_PATHS[level]

    @get(base, name=f"{prefix}-labels", sync_to_thread=True)
    def list_labels(request: Request, resource_id: str) -> list[str]:
        """The labels of the resource, sorted."""
        return _labels(request, level, resource_id)

    @get(f"{base}/{{label:str}}", name=f"{prefix}-label", sync_to_thread=True)
    def has_label(request: Request, resource_id: str, label: str) -> Response[bytes]:
        """200 (empty) when the resource has the label, 404 otherwise."""
        if checked_label(label) not in _labels(request, level, resource_id):
            raise unknown_resource()
        return empty_response()

    def label_setter(present: bool) -> HTTPRouteHandler:
        handler = put if present else delete
        verb = "put" if present else "delete"

        @handler(
            f"{base}/{{label:str}}",
            name=f"{prefix}-label-{verb}",
            status_code=200,
            sync_to_thread=True,
        )
        def set_label(
            request: Request,
            resource_id: str,
            label: str,
            archive: Archive,
            wait_for: ReadModelWaiter,
        ) -> Response[bytes]:
            row = load_resource(request, level, resource_id)
            position = archive.set_label(
                row["id"], LEVEL_NAMES[level], checked_label(label), present, rest_origin(request)
            )
            if position is not None:
                wait_for(position)
            return empty_response()

        return set_label

    return [list_labels, has_label, label_setter(True), label_setter(False)]


@get("/tools/labels", sync_to_thread=True)
def all_labels(request: Request) -> list[str]:
    """Every label some resource has, sorted."""
    with read_connection(request) as conn:
        return hierarchy.all_labels(conn)


def _patient(request: Request, resource_id: str) -> str:
    """Orthanc answers a protection call on anything but a patient with a bad parameter."""
    with read_connection(request) as conn:
        row = hierarchy.get_resource(conn, PATIENT, resource_id)
    if row is None:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE)
    return str(row["id"])


@get("/patients/{resource_id:str}/protected", sync_to_thread=True)
def get_protected(request: Request, resource_id: str) -> Response[bytes]:
    """1 if the patient is protected from recycling, else 0."""
    patient = _patient(request, resource_id)
    with read_connection(request) as conn:
        return text_response("1" if hierarchy.is_protected(conn, patient) else "0")


@put("/patients/{resource_id:str}/protected", sync_to_thread=True)
def set_protected(
    request: Request, resource_id: str, body: bytes, archive: Archive, wait_for: ReadModelWaiter
) -> Response[bytes]:
    """Protects (1, true) or unprotects (0, false) the patient."""
    patient = _patient(request, resource_id)
    protected = boolean_body(body)
    position = archive.set_protected(patient, LEVEL_NAMES[PATIENT], protected, rest_origin(request))
    if position is not None:
        wait_for(position)
    return empty_response()


def label_handlers() -> list[HTTPRouteHandler]:
    handlers = [handler for level in range(4) for handler in _label_handlers(level)]
    return [*handlers, all_labels, get_protected, set_protected]
