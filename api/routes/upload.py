"""POST /instances: one DICOM file, or a ZIP archive of them (one result per file)."""

from __future__ import annotations

import io
import logging
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, post
from litestar.concurrency import sync_to_thread

from adapters import stage_timing
from adapters.ingest import Ingestor, IngestResult
from adapters.node import ReadModelWaiter
from adapters.recycling import StorageFull
from api.context import rest_origin, settings_of
from api.errors import OrthancCode, OrthancError
from api.form_uploads import (
    ChunkStore,
    FormPart,
    chunked_file,
    form_parts,
    gunzipped,
    multipart_boundary,
)
from domain.dicom_files import InvalidDicomFile
from domain.dicom_structure import PREFIX, UnreadableFile, check_prefix

log = logging.getLogger(__name__)

MAX_ZIP_ENTRIES = 100_000
REJECTED_HEADER = "X-Chronicle-Rejected-Files"


def upload_chunks(request: Request) -> ChunkStore:
    chunks: ChunkStore = request.app.state.upload_chunks
    return chunks


def result_body(result: IngestResult) -> dict[str, Any]:
    return {
        "ID": result.instance_id,
        "ParentPatient": result.patient_id,
        "ParentSeries": result.series_id,
        "ParentStudy": result.study_id,
        "Path": f"/instances/{result.instance_id}",
        "Status": result.status.value,
    }


@post("/instances", status_code=200)
async def upload_instances(
    request: Request, body: bytes, ingestor: Ingestor, wait_for: ReadModelWaiter
) -> Response[Any]:
    """Store a DICOM file, or every DICOM file of a ZIP archive.

    As Orthanc does, the body is used whatever its Content-Type, a ZIP archive is recognised
    by its magic bytes, `Content-Encoding: gzip` is decompressed, and a multipart/form-data
    body (Orthanc Explorer's upload form) stores its files and answers with an empty body.
    """
    # An async handler running the work in a thread: Litestar 2.25 wraps a sync_to_thread
    # POST handler twice when it returns a Response and shares its path with a GET handler.
    with stage_timing.stage("handler"):
        response = await sync_to_thread(_store, request, body, ingestor, wait_for)
    stage_timing.mark("answer")
    return response


def _store(
    request: Request, body: bytes, ingestor: Ingestor, wait_for: ReadModelWaiter
) -> Response[Any]:
    boundary = multipart_boundary(request.headers.get("content-type", ""))
    if boundary is not None:
        return _upload_multipart(request, form_parts(body, boundary), ingestor, wait_for)
    return _upload_body(request, body, request.headers.get("content-encoding"), ingestor, wait_for)


def _upload_body(
    request: Request,
    body: bytes,
    encoding: str | None,
    ingestor: Ingestor,
    wait_for: ReadModelWaiter,
) -> Response[Any]:
    """Orthanc's order: a ZIP archive by its magic bytes, then gzip, then a DICOM file."""
    if _is_zip(body):
        return _upload_zip(request, body, ingestor, wait_for)
    if encoding is not None and encoding.strip().lower() == "gzip":
        body = gunzipped(body, settings_of(request).max_upload_bytes)
    try:
        result = ingestor.ingest(body, rest_origin(request))
    except InvalidDicomFile as exc:
        raise invalid_file_error(exc) from None
    except StorageFull as exc:
        raise storage_full_error(exc) from None
    wait_for(result.position)
    return Response(result_body(result))


def invalid_file_error(exc: InvalidDicomFile) -> OrthancError:
    code = next((c for c in OrthancCode if c.number == exc.orthanc_status), None)
    return OrthancError(code or OrthancCode.BAD_FILE_FORMAT, exc.details, exc.http_status)


def storage_full_error(exc: StorageFull) -> OrthancError:
    """Orthanc's FullStorage: 507 for what Reject mode refuses, else 500."""
    return OrthancError(OrthancCode.FULL_STORAGE, exc.details, exc.http_status)


def _upload_multipart(
    request: Request, parts: list[FormPart], ingestor: Ingestor, wait_for: ReadModelWaiter
) -> Response[bytes]:
    """Each part is uploaded as its own body (with its own Content-Encoding), as Orthanc
    does; a chunk of a larger file waits for the rest. The answer is empty, as Orthanc's."""
    limit = settings_of(request).max_upload_bytes
    announced = chunked_file(request.headers, limit)
    for part in parts:
        data: bytes | None = part.content
        if announced is not None:
            data = upload_chunks(request).add(announced, part.content)
        if data is not None:
            encoding = part.headers.get("content-encoding")
            _upload_body(request, data, encoding, ingestor, wait_for)
    return Response(b"", status_code=200, media_type="text/plain")


def _upload_zip(
    request: Request, body: bytes, ingestor: Ingestor, wait_for: ReadModelWaiter
) -> Response[list[dict[str, Any]]]:
    """Orthanc's answer (the stored members), plus REJECTED_HEADER: how many members were
    refused (not DICOM, unreadable, invalid), which Orthanc only logs."""
    origin = rest_origin(request)
    results: list[IngestResult] = []
    rejected: list[str] = []
    for name, data in _zip_members(body, settings_of(request).max_upload_bytes, rejected):
        try:
            results.append(ingestor.ingest(data, origin))
        except InvalidDicomFile as error:
            rejected.append(name)
            log.warning("ZIP upload: member %r refused: %s", name, error)
        except StorageFull as full:
            # As Orthanc: the whole request fails there; the members before it stay stored.
            _wait_for_last(results, wait_for)
            raise storage_full_error(full) from None
    _wait_for_last(results, wait_for)
    headers = {REJECTED_HEADER: str(len(rejected))}
    return Response([result_body(r) for r in results], headers=headers)


def _wait_for_last(results: list[IngestResult], wait_for: ReadModelWaiter) -> None:
    positions = [r.position for r in results if r.position is not None]
    wait_for(max(positions) if positions else None)


def _zip_members(body: bytes, max_total: int, rejected: list[str]) -> Iterator[tuple[str, bytes]]:
    """The files of the archive, in archive order, one at a time (never all in memory).

    The archive is checked before the first file: an archive with no entry cannot be opened
    (Orthanc's minizip refuses it), and counts and expanded sizes are capped. A member that
    cannot be read, or whose first bytes show it is not DICOM (checked before the rest is
    inflated), is skipped, as Orthanc skips it, and its name added to `rejected`.
    """
    archive, entries = _open_zip(body, max_total)
    for info in entries:
        try:
            with archive.open(info) as member:
                check_prefix(member.read(PREFIX))
            yield info.filename, archive.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as error:
            log.warning("ZIP upload: member %r cannot be read: %s", info.filename, error)
            rejected.append(info.filename)
        except UnreadableFile as error:
            log.warning("ZIP upload: member %r is not a DICOM file: %s", info.filename, error)
            rejected.append(info.filename)


def _open_zip(body: bytes, max_total: int) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        infos = []
    if not infos:
        raise OrthancError(
            OrthancCode.BAD_FILE_FORMAT, "Cannot open ZIP archive from memory buffer"
        )
    entries = [info for info in infos if not info.is_dir()]
    if len(entries) > MAX_ZIP_ENTRIES:
        raise OrthancError(OrthancCode.BAD_REQUEST, "Too many files in the ZIP archive")
    if sum(info.file_size for info in entries) > max_total:
        raise OrthancError(OrthancCode.BAD_REQUEST, "The ZIP archive expands beyond the limit")
    return archive, entries


def _is_zip(body: bytes) -> bool:
    """Orthanc's ZipReader::IsZipMemoryBuffer: "PK" and a local, end or spanning signature.

    A Part 10 file ("DICM" after its preamble) is DICOM even if its preamble starts "PK".
    """
    if body[128:132] == b"DICM":
        return False
    return body[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


upload_handlers = [upload_instances]
