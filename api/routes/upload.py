"""POST /instances: one DICOM file, or a ZIP archive of them (one result per file)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from litestar import Request, post

from adapters.ingest import IngestResult
from api.context import node_of, rest_origin
from api.errors import OrthancCode, OrthancError
from domain.dicom_files import InvalidDicomFile

MAX_ZIP_ENTRIES = 100_000


def result_body(result: IngestResult) -> dict[str, Any]:
    return {
        "ID": result.instance_id,
        "ParentPatient": result.patient_id,
        "ParentSeries": result.series_id,
        "ParentStudy": result.study_id,
        "Path": f"/instances/{result.instance_id}",
        "Status": result.status.value,
    }


@post("/instances", status_code=200, sync_to_thread=True)
def upload_instances(request: Request, body: bytes) -> Any:
    """Store a DICOM file, or every DICOM file of a ZIP archive."""
    node = node_of(request)
    if zipfile.is_zipfile(io.BytesIO(body)) and not _looks_like_dicom(body):
        return _upload_zip(request, body)
    try:
        result = node.ingestor.ingest(body, rest_origin(request))
    except InvalidDicomFile as exc:
        raise invalid_file_error(exc) from None
    node.wait_for(result.position)
    return result_body(result)


def invalid_file_error(exc: InvalidDicomFile) -> OrthancError:
    code = next((c for c in OrthancCode if c.number == exc.orthanc_status), None)
    return OrthancError(code or OrthancCode.BAD_FILE_FORMAT, exc.details, exc.http_status)


def _upload_zip(request: Request, body: bytes) -> list[dict[str, Any]]:
    node = node_of(request)
    origin = rest_origin(request)
    results: list[IngestResult] = []
    for data in _zip_members(body, node.settings.max_upload_bytes):
        try:
            results.append(node.ingestor.ingest(data, origin))
        except InvalidDicomFile:
            continue
    positions = [r.position for r in results if r.position is not None]
    node.wait_for(max(positions) if positions else None)
    return [result_body(r) for r in results]


def _zip_members(body: bytes, max_total: int) -> list[bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if len(entries) > MAX_ZIP_ENTRIES:
            raise OrthancError(OrthancCode.BAD_REQUEST, "Too many files in the ZIP archive")
        if sum(info.file_size for info in entries) > max_total:
            raise OrthancError(OrthancCode.BAD_REQUEST, "The ZIP archive expands beyond the limit")
        return [archive.read(info) for info in entries]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise OrthancError(
            OrthancCode.BAD_FILE_FORMAT, f"Cannot open ZIP archive from memory buffer ({exc})"
        ) from None


def _looks_like_dicom(body: bytes) -> bool:
    return body[128:132] == b"DICM"


upload_handlers = [upload_instances]
