"""Orthanc's error body: HttpError, HttpStatus, Message, Method, OrthancError, OrthancStatus,
Uri, and Details when there is more to say."""

from __future__ import annotations

import logging
from http import HTTPStatus

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from adapters.safe_logging import error_report
from domain.orthanc_errors import OrthancCode


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
