"""Orthanc's error body: HttpError, HttpStatus, Message, Method, OrthancError, OrthancStatus,
Uri, and Details when there is more to say."""

from __future__ import annotations

import logging
from enum import Enum
from http import HTTPStatus

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from adapters.safe_logging import error_report


class OrthancCode(Enum):
    """Orthanc's ErrorCode values used by Chronicle: (number, message, HTTP status)."""

    INTERNAL_ERROR = (-1, "Internal error", 500)
    NOT_IMPLEMENTED = (2, "Not implemented yet", 501)
    PARAMETER_OUT_OF_RANGE = (3, "Parameter out of range", 400)
    BAD_PARAMETER_TYPE = (5, "Bad type for a parameter", 400)
    BAD_SEQUENCE_OF_CALLS = (6, "Bad sequence of calls", 400)
    INEXISTENT_ITEM = (7, "Accessing an inexistent item", 404)
    BAD_REQUEST = (8, "Bad request", 400)
    NETWORK_PROTOCOL = (9, "Error in the network protocol", 500)
    DATABASE = (11, "Error in the database engine", 500)
    URI_SYNTAX = (12, "Badly formatted URI", 400)
    INEXISTENT_FILE = (13, "Inexistent file", 404)
    CANNOT_WRITE_FILE = (14, "Cannot write to file", 500)
    BAD_FILE_FORMAT = (15, "Bad file format", 400)
    TIMEOUT = (16, "Timeout", 500)
    CORRUPTED_FILE = (20, "Corrupted file (e.g. inconsistent MD5 hash)", 500)
    UNKNOWN_RESOURCE = (17, "Unknown resource", 404)
    FULL_STORAGE = (19, "The file storage is full", 500)
    INEXISTENT_TAG = (21, "Inexistent tag", 404)
    UNKNOWN_DICOM_TAG = (27, "Unknown DICOM tag", 500)
    BAD_JSON = (28, "Cannot parse a JSON document", 400)
    CANNOT_EXECUTE_LUA = (2031, "Cannot execute a Lua command", 500)
    EMPTY_REQUEST = (33, "The request is empty", 400)
    REVISION = (
        43,
        "A bad revision number was provided, which might indicate conflict between multiple "
        "writers",
        409,
    )
    # Orthanc 1.10 has no code for a known user whose role may not call a route.
    FORBIDDEN = (-1, "Forbidden", 403)

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def message(self) -> str:
        return self.value[1]

    @property
    def http_status(self) -> int:
        return self.value[2]


class OrthancError(Exception):
    """An error answered with Orthanc's JSON body, or with no body at all when `empty_body`
    (Orthanc answers some 404s with nothing: a /content path or a metadata that is absent)."""

    def __init__(
        self,
        code: OrthancCode,
        details: str | None = None,
        http_status: int | None = None,
        *,
        empty_body: bool = False,
    ) -> None:
        super().__init__(details or code.message)
        self.code = code
        self.details = details
        self.http_status = http_status or code.http_status
        self.empty_body = empty_body


def unknown_resource(details: str | None = None) -> OrthancError:
    return OrthancError(OrthancCode.UNKNOWN_RESOURCE, details)


def not_found_without_body(reason: str) -> OrthancError:
    """Orthanc's bare 404 (no body) for an item that does not exist in an existing resource."""
    return OrthancError(OrthancCode.INEXISTENT_ITEM, reason, http_status=404, empty_body=True)


def error_body(request: Request, error: OrthancError) -> dict:
    return orthanc_error_body(request.method, request.url.path, error)


def orthanc_error_body(method: str, path: str, error: OrthancError) -> dict:
    """The body for `error` on `method path`, also for the layers that run before Litestar."""
    body: dict = {}
    if error.details:
        body["Details"] = _printable(error.details)
    body.update(
        HttpError=HTTPStatus(error.http_status).phrase,
        HttpStatus=error.http_status,
        Message=error.code.message,
        Method=method,
        OrthancError=error.code.message,
        OrthancStatus=error.code.number,
        Uri=_printable(path.rstrip("/") or "/"),
    )
    return body


def _printable(text: str) -> str:
    """Text that quotes the client's input can hold what JSON cannot encode (a lone
    surrogate): replaced, so the error itself is always sent."""
    return text.encode("utf-8", "replace").decode("utf-8")


def handle_orthanc_error(request: Request, error: OrthancError) -> Response:
    if error.empty_body:
        return Response(b"", status_code=error.http_status, media_type="text/plain")
    return Response(error_body(request, error), status_code=error.http_status)


def handle_http_exception(request: Request, exc: HTTPException) -> Response:
    if isinstance(exc, NotFoundException):
        # an unknown route: Orthanc says "Unknown resource" and nothing more
        return handle_orthanc_error(request, unknown_resource())
    if isinstance(exc, ValidationException):
        code = OrthancCode.BAD_REQUEST
    elif exc.status_code == 405:
        headers = _orthanc_allow(exc.headers or {})
        return Response(b"", status_code=405, headers=headers, media_type="text/plain")
    elif exc.status_code == 413:
        code = OrthancCode.BAD_REQUEST
    elif exc.status_code >= 500:  # a defect on our side: the operator must see it
        logging.getLogger("chronicle.api").error(
            "internal error on %s %s: %s", request.method, request.url.path, error_report(exc)
        )
        code = OrthancCode.INTERNAL_ERROR
    else:
        code = OrthancCode.BAD_REQUEST
    error = OrthancError(code, str(exc.detail), http_status=exc.status_code)
    return handle_orthanc_error(request, error)


_METHOD_ORDER = ("GET", "POST", "DELETE", "PUT")


def _orthanc_allow(headers: dict[str, str]) -> dict[str, str]:
    """Orthanc's Allow header: its own methods (no OPTIONS, HEAD), in its order, comma only."""
    allowed = {
        method.strip().upper()
        for name, value in headers.items()
        if name.lower() == "allow"
        for method in value.split(",")
    }
    kept = [method for method in _METHOD_ORDER if method in allowed]
    return {"Allow": ",".join(kept)} if kept else {}


def handle_unexpected(request: Request, exc: Exception) -> Response:
    logging.getLogger("chronicle.api").error(
        "unexpected error on %s %s: %s", request.method, request.url.path, error_report(exc)
    )
    return handle_orthanc_error(request, OrthancError(OrthancCode.INTERNAL_ERROR))
