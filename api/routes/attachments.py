"""/{level}/{id}/attachments: an instance's DICOM file ("dicom", content type 1) and the user
attachments of any resource (1024-65535, or a [UserContentType] name): files in the storage
area, named by Resource events (file first, event second, reaper after delete)."""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
from litestar import Request, Response, delete, get, post, put
from litestar.handlers import HTTPRouteHandler

from adapters.attachments import store_attachment
from adapters.node import ReadModelWaiter
from adapters.storage import StorageArea
from api.context import read_connection, rest_origin, settings_of, storage_of
from api.errors import OrthancCode, OrthancError, unknown_resource
from api.metadata import annotation_names
from api.revisions import etag, not_modified, require_if_match_on_delete, write_revisions
from api.routes.metadata import (
    empty_response,
    forbidden_without_body,
    revision_error,
    text_response,
)
from api.routes.resources import load_resource
from domain.annotation_names import is_user
from domain.annotations import NoSuchItem, RevisionMismatch, RevisionRequired
from domain.archive import Archive
from domain.levels import INSTANCE, LEVEL_NAMES, LEVEL_PATHS
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

DICOM = 1
ATTACHMENT_OPERATIONS = [
    "compress",
    "compressed-data",
    "compressed-md5",
    "compressed-size",
    "data",
    "info",
    "is-compressed",
    "md5",
    "size",
    "uncompress",
    "verify-md5",
    "uuid",
]
ABSENT = frozenset({2})  # dicom-as-json: Orthanc no longer keeps it, so it cannot be deleted


@attrs.frozen
class Attachment:
    content_type: int
    uuid: str
    size: int
    md5: str
    revision: int

    @property
    def etag(self) -> str:
        return etag(self.revision, self.md5)


def _attachments(request: Request, row: Row) -> dict[int, Attachment]:
    found: dict[int, Attachment] = {}
    if row["level"] == INSTANCE:
        found[DICOM] = Attachment(DICOM, row["file_uuid"], row["file_size"], row["file_md5"], 0)
    with read_connection(request) as conn:
        for item in hierarchy.user_attachments(conn, row["id"]):
            found[item["content_type"]] = Attachment(**item)
    return found


def _attachment_handlers(level: int) -> list[HTTPRouteHandler]:
    base = f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/attachments"
    one = f"{base}/{{name:str}}"
    prefix = LEVEL_PATHS[level]

    @get(base, name=f"{prefix}-attachments", sync_to_thread=True)
    def list_attachments(request: Request, resource_id: str, full: str | None = None) -> Any:
        """The attachments of the resource (names; name -> content type with `full`)."""
        found = _attachments(request, load_resource(request, level, resource_id))
        names = annotation_names(settings_of(request))
        named = {names.attachment_name(number): number for number in found}
        return named if full is not None else list(named)

    def number_of(request: Request, name: str) -> int:
        number = annotation_names(settings_of(request)).attachment_number(name)
        if number is None:
            raise OrthancError(OrthancCode.INEXISTENT_ITEM)
        return number

    def attachment(request: Request, resource_id: str, name: str) -> Attachment:
        row = load_resource(request, level, resource_id)
        found = _attachments(request, row).get(number_of(request, name))
        if found is None:
            raise unknown_resource()
        return found

    @get(one, name=f"{prefix}-attachment", sync_to_thread=True)
    def attachment_operations(request: Request, resource_id: str, name: str) -> Response[Any]:
        found = attachment(request, resource_id, name)
        cached = not_modified(request, found.etag)
        return cached or Response(ATTACHMENT_OPERATIONS, headers={"ETag": found.etag})

    @get(f"{one}/info", name=f"{prefix}-attachment-info", sync_to_thread=True)
    def attachment_info(request: Request, resource_id: str, name: str) -> Response[Any]:
        found = attachment(request, resource_id, name)
        cached = not_modified(request, found.etag)
        if cached is not None:
            return cached
        body = {
            "CompressedMD5": found.md5,
            "CompressedSize": found.size,
            "ContentType": found.content_type,
            "UncompressedMD5": found.md5,
            "UncompressedSize": found.size,
            "Uuid": found.uuid,
        }
        return Response(body, headers={"ETag": found.etag})

    def text_handler(suffix: str, value_of: Any) -> HTTPRouteHandler:
        @get(f"{one}/{suffix}", name=f"{prefix}-attachment-{suffix}", sync_to_thread=True)
        def attachment_text(request: Request, resource_id: str, name: str) -> Response[bytes]:
            found = attachment(request, resource_id, name)
            return not_modified(request, found.etag) or text_response(value_of(found), found.etag)

        return attachment_text

    def data_handler(suffix: str) -> HTTPRouteHandler:
        @get(f"{one}/{suffix}", name=f"{prefix}-attachment-{suffix}", sync_to_thread=True)
        def attachment_data(request: Request, resource_id: str, name: str) -> Response[bytes]:
            found = attachment(request, resource_id, name)
            cached = not_modified(request, found.etag)
            if cached is not None:
                return cached
            mime = (
                "application/dicom"
                if found.content_type == DICOM
                else annotation_names(settings_of(request)).mime_type(found.content_type)
            )
            data = storage_of(request).read(found.uuid)
            return Response(data, media_type=mime, headers={"ETag": found.etag})

        return attachment_data

    @post(
        f"{one}/verify-md5",
        name=f"{prefix}-attachment-verify",
        status_code=200,
        sync_to_thread=True,
    )
    def verify_md5(request: Request, resource_id: str, name: str) -> dict[str, Any]:
        """Reads the file back and checks it against the MD5 recorded when it was stored."""
        found = attachment(request, resource_id, name)
        if _md5_of(storage_of(request), found.uuid) != found.md5:
            raise OrthancError(OrthancCode.CORRUPTED_FILE)
        return {}

    @put(one, name=f"{prefix}-attachment-put", sync_to_thread=True)
    def set_attachment(
        request: Request,
        resource_id: str,
        name: str,
        body: bytes,
        archive: Archive,
        wait_for: ReadModelWaiter,
    ) -> Response[Any]:
        """Stores the body as the user attachment `name` of the resource."""
        row = load_resource(request, level, resource_id)
        number = number_of(request, name)
        if not is_user(number):
            raise forbidden_without_body()
        current = _attachments(request, row).get(number)
        revisions = write_revisions(request, current.md5 if current else None)
        target = (row["id"], LEVEL_NAMES[level])
        try:
            written = store_attachment(
                storage_of(request), archive, target, number, body, rest_origin(request), revisions
            )
        except (RevisionRequired, RevisionMismatch) as error:
            raise revision_error(error) from None
        wait_for(written.position)
        tag = etag(written.revision, hashlib.md5(body).hexdigest())
        return Response({}, headers={"ETag": tag}, media_type="application/json")

    @delete(one, name=f"{prefix}-attachment-delete", status_code=200, sync_to_thread=True)
    def delete_attachment(
        request: Request,
        resource_id: str,
        name: str,
        archive: Archive,
        wait_for: ReadModelWaiter,
    ) -> Response[bytes]:
        number = number_of(request, name)
        if not is_user(number) and number not in ABSENT:
            raise forbidden_without_body()
        require_if_match_on_delete(request)
        row = load_resource(request, level, resource_id)
        current = _attachments(request, row).get(number)
        revisions = write_revisions(request, current.md5 if current else None)
        try:
            position = archive.remove_attachment(row["id"], number, rest_origin(request), revisions)
        except (RevisionRequired, RevisionMismatch, NoSuchItem) as error:
            raise revision_error(error) from None
        wait_for(position)
        return empty_response()

    return [
        list_attachments,
        attachment_operations,
        attachment_info,
        text_handler("md5", lambda found: found.md5),
        text_handler("size", lambda found: str(found.size)),
        text_handler("compressed-md5", lambda found: found.md5),
        text_handler("compressed-size", lambda found: str(found.size)),
        text_handler("is-compressed", lambda found: "0"),
        data_handler("data"),
        data_handler("compressed-data"),
        verify_md5,
        set_attachment,
        delete_attachment,
    ]


def _md5_of(storage: StorageArea, uuid: str) -> str:
    digest = hashlib.md5()
    with open(storage.path_of(uuid), "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def attachment_handlers() -> list[HTTPRouteHandler]:
    return [handler for level in range(4) for handler in _attachment_handlers(level)]
