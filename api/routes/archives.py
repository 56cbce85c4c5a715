"""ZIP archives of patients, studies, series and instances: GET and POST
/{patients,studies,series}/{id}/archive and POST /tools/create-archive, laid out as Orthanc lays
them out (domain.archive_layout).

Streamed: each file is read, deflated (Orthanc's level 6) and sent before the next is read, so
memory holds one file at a time and the first bytes leave at once; ZIP64 records are written
where sizes or offsets need them; a client that goes away stops the work. Archives are always
made synchronously here: `Asynchronous` archive jobs (and `Transcode`) are refused with a clear
error until they exist.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from api.context import read_connection
from api.dicom_files import read_bytes
from api.errors import OrthancCode, OrthancError, unknown_resource
from api.request_bodies import is_synchronous, json_body
from domain.archive_layout import ArchivedInstance, archive_layout
from domain.levels import LEVEL_PATHS
from projections.hierarchy import queries as hierarchy

COMPRESSION_LEVEL = 6  # Orthanc's
ZIP64_FILE = 0xFFFF_FFFF - 0x1_0000  # bytes: a file this large needs ZIP64 sizes
_LEVELS = LEVEL_PATHS[:3]  # an archive of one instance only comes from /tools/create-archive


def _archived(request: Request, resource_ids: list[str]) -> tuple[list[tuple[str, str]], dict]:
    """The archive's layout and its instances' rows; an unknown ID is a 404, as Orthanc."""
    with read_connection(request) as conn:
        known = hierarchy.get_resources(conn, resource_ids)
        missing = [resource_id for resource_id in resource_ids if resource_id not in known]
        if missing:
            raise unknown_resource()
        instances = hierarchy.instances_with_identifiers(conn, resource_ids)
        ancestors = hierarchy.get_resources(
            conn,
            sorted(
                {row[key] for row in instances for key in ("series_id", "study_id", "patient_id")}
            ),
        )
    rows = {row["id"]: row for row in instances}
    asked = set(resource_ids)
    entries = [
        ArchivedInstance(
            instance_id=row["id"],
            series_id=row["series_id"],
            study_id=row["study_id"],
            patient_id=row["patient_id"],
            patient_tags=ancestors[row["patient_id"]]["main_tags"] or {},
            study_tags=ancestors[row["study_id"]]["main_tags"] or {},
            series_tags=ancestors[row["series_id"]]["main_tags"] or {},
            order=_order(row, index, asked),
        )
        for index, row in enumerate(instances)
    ]
    return archive_layout(entries), rows


def _order(row: dict[str, Any], index: int, asked: set[str]) -> tuple[int, int]:
    """Orthanc: a series asked for whole (or through its study or patient) lists its instances
    in storage order, one whose instances were asked one by one in the order asked."""
    whole = not asked.isdisjoint((row["series_id"], row["study_id"], row["patient_id"]))
    return (0, row["created_position"]) if whole else (1, index)


class _Chunks(io.RawIOBase):
    """What zipfile writes, kept until taken; not seekable, so zipfile streams (data
    descriptors after each file)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _zip_stream(request: Request, layout: list[tuple[str, str]], rows: dict) -> Iterator[bytes]:
    sink = _Chunks()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSION_LEVEL) as zf:
        for path, instance_id in layout:
            data = read_bytes(request, rows[instance_id])
            info = zipfile.ZipInfo(path, date_time=_DOS_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=len(data) >= ZIP64_FILE) as member:
                member.write(data)
            del data
            yield sink.take()
    yield sink.take()  # the central directory


_DOS_EPOCH = (1980, 1, 1, 0, 0, 0)


def _archive_response(request: Request, resource_ids: list[str], filename: str) -> Stream:
    layout, rows = _archived(request, resource_ids)
    return Stream(
        _zip_stream(request, layout, rows),
        media_type="application/zip",
        headers={"Content-Disposition": f'filename="{filename}"'},
    )


def _options(body: bytes) -> Any:
    try:
        options = json_body(body)
    except OrthancError:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT) from None  # Orthanc says no more
    if isinstance(options, dict):
        if not is_synchronous(options):
            raise OrthancError(
                OrthancCode.NOT_IMPLEMENTED, "Asynchronous archive jobs are not implemented yet"
            )
        if "Transcode" in options:
            raise OrthancError(OrthancCode.NOT_IMPLEMENTED, "Transcoding is not implemented yet")
    return options


def _resources_of(options: Any) -> list[str]:
    """Orthanc's body: a list of IDs, or an object whose `Resources` is one."""
    if isinstance(options, dict):
        if "Resources" not in options:
            raise OrthancError(
                OrthancCode.BAD_FILE_FORMAT, "Missing field Resources in the JSON body"
            )
        options = options["Resources"]
    if not isinstance(options, list) or not all(isinstance(item, str) for item in options):
        raise OrthancError(
            OrthancCode.BAD_FILE_FORMAT, "Expected a list of strings (Orthanc identifiers)"
        )
    return options


def _archive_handlers(collection: str) -> list[HTTPRouteHandler]:
    path = f"/{collection}/{{resource_id:str}}/archive"

    @get(path, name=f"{collection}-archive", sync_to_thread=True)
    def archive(
        request: Request,
        resource_id: str,
        filename: str | None = None,
        transcode: str | None = None,
    ) -> Stream:
        """A ZIP archive of the resource (Orthanc does not check its level either)."""
        if transcode is not None:
            raise OrthancError(OrthancCode.NOT_IMPLEMENTED, "Transcoding is not implemented yet")
        return _archive_response(request, [resource_id], filename or f"{resource_id}.zip")

    @post(path, name=f"{collection}-archive-post", sync_to_thread=True, status_code=200)
    def archive_post(request: Request, resource_id: str, body: bytes) -> Stream:
        _options(body)
        return _archive_response(request, [resource_id], f"{resource_id}.zip")

    return [archive, archive_post]


@post("/tools/create-archive", sync_to_thread=True, status_code=200)
def create_archive(request: Request, body: bytes) -> Stream:
    return _archive_response(request, _resources_of(_options(body)), "Archive.zip")


def archive_handlers() -> list[HTTPRouteHandler]:
    return [*(h for collection in _LEVELS for h in _archive_handlers(collection)), create_archive]
