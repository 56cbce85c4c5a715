"""/{level}/{id}/attachments: an instance's DICOM file ("dicom", content type 1) and the user
attachments of any resource (1024-65535, or a [UserContentType] name): files in the storage
area, named by Resource events (file first, event second, reaper after delete).

As in Orthanc, `compress` and `uncompress` rewrite a file zlib-compressed (with its size in
front) or as it is: `data`, `md5` and `size` stay the data's, while `compressed-data`,
`compressed-md5` and `compressed-size` are those of the stored bytes. Compressing a user
attachment is logged as UpdatedAttachment; the DICOM file's is not, and nothing is logged
when the file already is as asked."""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.handlers import HTTPRouteHandler

from adapters.attachments import (
    change_attachment_compression,
    change_file_compression,
    store_attachment,
)
from adapters.compression import ZLIB_WITH_SIZE, CorruptedFile
from adapters.node import ReadModelWaiter
from adapters.storage import StorageArea
from api.attachment_views import DICOM, Attachment, attachments_of_rows
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
from domain.annotation_names import DEFAULT_MIME, is_user
from domain.annotations import NoSuchItem, RevisionMismatch, RevisionRequired
from domain.archive import Archive, UnknownInstance
from domain.levels import LEVEL_NAMES, LEVEL_PATHS
from projections.hierarchy.queries import Row

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


def _attachments(request: Request, row: Row) -> dict[int, Attachment]:
    with read_connection(request) as conn:
        return attachments_of_rows(conn, [row])[0]


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
        return Response(found.info(), headers={"ETag": found.etag})

    def text_handler(suffix: str, value_of: Any) -> HTTPRouteHandler:
        @get(f"{one}/{suffix}", name=f"{prefix}-attachment-{suffix}", sync_to_thread=True)
        def attachment_text(request: Request, resource_id: str, name: str) -> Response[bytes]:
            found = attachment(request, resource_id, name)
            return not_modified(request, found.etag) or text_response(value_of(found), found.etag)

        return attachment_text

    def data_handler(suffix: str, stored: bool) -> HTTPRouteHandler:
        """`stored`: the bytes as stored (compressed-data, binary as in Orthanc), else the
        data with the attachment's MIME type."""

        @get(f"{one}/{suffix}", name=f"{prefix}-attachment-{suffix}", sync_to_thread=True)
        def attachment_data(request: Request, resource_id: str, name: str) -> Response[bytes]:
            found = attachment(request, resource_id, name)
            cached = not_modified(request, found.etag)
            if cached is not None:
                return cached
            if stored:
                mime = DEFAULT_MIME
            elif found.content_type == DICOM:
                mime = "application/dicom"
            else:
                mime = annotation_names(settings_of(request)).mime_type(found.content_type)
            compression = None if stored else found.compression
            data = _read(storage_of(request), found.uuid, compression)
            return Response(data, media_type=mime, headers={"ETag": found.etag})

        return attachment_data

    @post(
        f"{one}/verify-md5",
        name=f"{prefix}-attachment-verify",
        status_code=200,
        sync_to_thread=True,
    )
    def verify_md5(request: Request, resource_id: str, name: str) -> dict[str, Any]:
        """Reads the file back and checks it against the MD5s recorded when it was stored:
        the stored bytes', then (compressed) the data's."""
        found = attachment(request, resource_id, name)
        storage = storage_of(request)
        if _md5_of(storage, found.uuid) != found.stored_md5:
            raise OrthancError(OrthancCode.CORRUPTED_FILE)
        if found.compression is not None:
            data = _read(storage, found.uuid, found.compression)
            if hashlib.md5(data).hexdigest() != found.md5:
                raise OrthancError(OrthancCode.CORRUPTED_FILE)
        return {}

    def compression_handler(suffix: str, compression: str | None) -> HTTPRouteHandler:
        @post(
            f"{one}/{suffix}",
            name=f"{prefix}-attachment-{suffix}",
            status_code=200,
            sync_to_thread=True,
        )
        def change_compression(
            request: Request,
            resource_id: str,
            name: str,
            archive: Archive,
            wait_for: ReadModelWaiter,
        ) -> Response[Any]:
            """Rewrites the attachment's file compressed (compress) or as it is (uncompress):
            a new file, recorded, then the old one removed. Nothing when it already is so."""
            found = attachment(request, resource_id, name)
            if found.compression != compression:
                storage, origin = storage_of(request), rest_origin(request)
                try:
                    if found.content_type == DICOM:
                        position = change_file_compression(
                            storage, archive, resource_id, found.source, compression, origin
                        )
                    else:
                        position = change_attachment_compression(
                            storage,
                            archive,
                            resource_id,
                            found.content_type,
                            found.source,
                            compression,
                            origin,
                        ).position
                except (RevisionMismatch, NoSuchItem, UnknownInstance) as error:
                    raise revision_error(error) from None
                except FileNotFoundError:
                    raise _missing_file(found) from None
                except CorruptedFile:
                    raise OrthancError(OrthancCode.CORRUPTED_FILE) from None
                wait_for(position)
            return Response({}, media_type="application/json")

        return change_compression

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
        text_handler("compressed-md5", lambda found: found.stored_md5),
        text_handler("compressed-size", lambda found: str(found.stored_size)),
        text_handler("is-compressed", lambda found: "0" if found.compression is None else "1"),
        data_handler("data", stored=False),
        data_handler("compressed-data", stored=True),
        verify_md5,
        compression_handler("compress", ZLIB_WITH_SIZE),
        compression_handler("uncompress", None),
        set_attachment,
        delete_attachment,
    ]


def _read(storage: StorageArea, uuid: str, compression: str | None) -> bytes:
    try:
        return storage.read(uuid, compression)
    except CorruptedFile as error:
        raise OrthancError(OrthancCode.CORRUPTED_FILE, str(error)) from None


def _missing_file(found: Attachment) -> OrthancError:
    return OrthancError(OrthancCode.INEXISTENT_FILE, f"The file {found.uuid} is missing")


def _md5_of(storage: StorageArea, uuid: str) -> str:
    digest = hashlib.md5()
    with open(storage.path_of(uuid), "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def attachment_handlers() -> list[HTTPRouteHandler]:
    return [handler for level in range(4) for handler in _attachment_handlers(level)]
