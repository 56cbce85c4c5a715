"""POST /instances/{id}/export: the instance's DICOM file written to a path on the server's
file system (Orthanc's RestApiWriteToFileSystemEnabled, off by default). Orthanc's /exports
does not list it; Chronicle's audit trail (/exports/audit) records it, kind "file"."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from litestar import Request, Response, post

from adapters.node import ReadModelWaiter
from api.context import read_connection, rest_origin, settings_of
from api.dicom_files import read_bytes
from api.errors import OrthancCode, OrthancError
from api.routes.metadata import forbidden_without_body
from api.routes.resources import load_resource
from domain.archive import Archive
from domain.exports import ExportEntry
from domain.levels import INSTANCE
from projections.hierarchy import queries as hierarchy

FILE = "file"


@post("/instances/{resource_id:str}/export", status_code=200, sync_to_thread=True)
def export_instance_file(
    request: Request, resource_id: str, body: bytes, archive: Archive, wait_for: ReadModelWaiter
) -> Response[bytes]:
    """The body is the target path (relative ones from the server's working directory); an
    existing file there is replaced. Answers {} once the file is durable."""
    if not settings_of(request).rest_api_write_to_file_system_enabled:
        raise forbidden_without_body()
    instance = load_resource(request, INSTANCE, resource_id)
    data = read_bytes(request, instance)
    target = Path(body.decode("utf-8", "replace"))
    try:
        _write_durably(target, data)
    except (OSError, ValueError):
        raise OrthancError(OrthancCode.CANNOT_WRITE_FILE) from None
    with read_connection(request) as conn:
        (row,) = hierarchy.instances_with_identifiers(conn, [resource_id])
    entry = ExportEntry(
        instance_id=row["id"],
        series_id=row["series_id"],
        study_id=row["study_id"],
        patient_id=row["patient_id"],
        identifiers=row["identifiers"],
        destination_kind=FILE,
        destination=str(target.absolute()),
        remote_aet="",
        job_id=None,
        succeeded=True,
    )
    wait_for(archive.record_exports([entry], rest_origin(request)), ("exports",))
    return Response(b"{}", media_type="application/json")


def _write_durably(target: Path, data: bytes) -> None:
    """Written beside the target, then renamed over it: never a half-written file there."""
    if not str(target) or target.is_dir():
        raise IsADirectoryError(str(target))
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".chronicle-export-")
    try:
        os.fchmod(descriptor, 0o644)  # mkstemp's 0600 would hide it from other programs
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


file_export_handlers = [export_instance_file]
