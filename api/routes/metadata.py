"""/{level}/{id}/metadata: the automatic metadata (computed from the hierarchy) and the user
metadata (1024-65535, Resource events), read, written and deleted as Orthanc does."""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Request, Response, delete, get, put
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_200_OK

from adapters.node import ReadModelWaiter
from api.context import read_connection, rest_origin, settings_of
from api.errors import OrthancCode, OrthancError, not_found_without_body, unknown_resource
from api.metadata import all_metadata, annotation_names, expanded_metadata
from api.revisions import etag, not_modified, require_if_match_on_delete, write_revisions
from api.routes.resources import load_resource
from domain.annotation_names import is_user
from domain.annotations import NoSuchItem, RevisionMismatch, RevisionRequired
from domain.archive import Archive
from domain.levels import LEVEL_NAMES, LEVEL_PATHS
from projections.hierarchy.queries import Row

MAX_METADATA_BYTES = 1024 * 1024  # a metadata lives in an event: attachments hold big values


def text_response(value: str, tag: str | None = None) -> Response[bytes]:
    """Orthanc's text answers: text/plain without charset, with the ETag when there is one."""
    headers = {"ETag": tag} if tag else {}
    return Response(
        value.encode(), media_type="text/plain", headers=headers, status_code=HTTP_200_OK
    )


def empty_response(tag: str | None = None, status: int = HTTP_200_OK) -> Response[bytes]:
    headers = {"ETag": tag} if tag else {}
    return Response(b"", media_type="text/plain", headers=headers, status_code=status)


def forbidden_without_body() -> OrthancError:
    """Orthanc's bare 403 for writing a system metadata or attachment."""
    return OrthancError(OrthancCode.FORBIDDEN, http_status=403, empty_body=True)


def revision_error(error: Exception) -> OrthancError:
    if isinstance(error, RevisionRequired | RevisionMismatch):
        return OrthancError(OrthancCode.REVISION)
    return unknown_resource()


def _md5(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()


def _all_metadata(request: Request, row: Row) -> dict[int, tuple[str, int]]:
    with read_connection(request) as conn:
        return all_metadata(conn, row)


def _metadata_handlers(level: int) -> list[HTTPRouteHandler]:
    base = f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/metadata"
    prefix = LEVEL_PATHS[level]

    @get(base, name=f"{prefix}-metadata", sync_to_thread=True)
    def list_metadata(
        request: Request,
        resource_id: str,
        expand: str | None = None,
        numeric: str | None = None,
    ) -> Any:
        """The metadata of the resource: names (numbers with `numeric`), or name -> value
        with `expand`."""
        found = _all_metadata(request, load_resource(request, level, resource_id))
        names = annotation_names(settings_of(request))
        if expand is None:
            keys = {n: str(n) if numeric is not None else names.metadata_name(n) for n in found}
            return [keys[number] for number in found]
        return expanded_metadata(found, names, numeric is not None)

    def number_of(request: Request, name: str) -> int:
        number = annotation_names(settings_of(request)).metadata_number(name)
        if number is None:
            raise OrthancError(OrthancCode.INEXISTENT_ITEM)
        return number

    @get(f"{base}/{{name:str}}", name=f"{prefix}-metadata-one", sync_to_thread=True)
    def one_metadata(request: Request, resource_id: str, name: str) -> Response[bytes]:
        row = load_resource(request, level, resource_id)
        number = number_of(request, name)
        value, revision = _all_metadata(request, row).get(number, (None, 0))
        if value is None:
            raise not_found_without_body(f"The resource has no metadata {name}")
        tag = etag(revision, _md5(value))
        return not_modified(request, tag) or text_response(value, tag)

    @put(f"{base}/{{name:str}}", name=f"{prefix}-metadata-put", sync_to_thread=True)
    def set_metadata(
        request: Request,
        resource_id: str,
        name: str,
        body: bytes,
        archive: Archive,
        wait_for: ReadModelWaiter,
    ) -> Response[bytes]:
        """Sets a user metadata (1024-65535, or a [UserMetadata] name) to the body."""
        row = load_resource(request, level, resource_id)
        number = number_of(request, name)
        if not is_user(number):
            raise forbidden_without_body()
        if len(body) > MAX_METADATA_BYTES:
            raise OrthancError(OrthancCode.BAD_REQUEST, "A metadata value is at most 1 MiB")
        value = body.decode("utf-8", "replace")
        if "\0" in value:  # PostgreSQL text cannot hold it (Orthanc's SQLite can)
            raise OrthancError(OrthancCode.BAD_REQUEST, "A metadata value cannot hold NUL")
        current = _all_metadata(request, row).get(number)
        revisions = write_revisions(request, _md5(current[0]) if current else None)
        try:
            written = archive.set_metadata(
                row["id"], LEVEL_NAMES[level], number, value, rest_origin(request), revisions
            )
        except (RevisionRequired, RevisionMismatch) as error:
            raise revision_error(error) from None
        wait_for(written.position)
        return empty_response(etag(written.revision, _md5(value)))

    @delete(
        f"{base}/{{name:str}}",
        name=f"{prefix}-metadata-delete",
        status_code=200,
        sync_to_thread=True,
    )
    def delete_metadata(
        request: Request,
        resource_id: str,
        name: str,
        archive: Archive,
        wait_for: ReadModelWaiter,
    ) -> Response[bytes]:
        number = number_of(request, name)
        if not is_user(number):
            raise forbidden_without_body()
        require_if_match_on_delete(request)  # as Orthanc, before the resource is looked for
        row = load_resource(request, level, resource_id)
        current = _all_metadata(request, row).get(number)
        revisions = write_revisions(request, _md5(current[0]) if current else None)
        try:
            position = archive.remove_metadata(row["id"], number, rest_origin(request), revisions)
        except (RevisionRequired, RevisionMismatch, NoSuchItem) as error:
            raise revision_error(error) from None
        wait_for(position)
        return empty_response()

    return [list_metadata, one_metadata, set_metadata, delete_metadata]


def metadata_handlers() -> list[HTTPRouteHandler]:
    return [handler for level in range(4) for handler in _metadata_handlers(level)]
