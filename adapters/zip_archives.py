"""ZIP archives of stored instances, as Orthanc makes them (domain.archive_layout for the
names): streamed, one file in memory at a time, deflated at Orthanc's level 6 (by zlib-ng),
with ZIP64 records where sizes or offsets need them. The HTTP routes send the chunks as they
come; an archive job writes them to a file (adapters.jobs.archive).

A media is the same instances in the same order, named IMAGES/IM0, IMAGES/IM1…, with their
DICOMDIR (domain.dicomdir) last, made as the files go by."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import psycopg
from zlib_ng import zlib_ng

from domain.archive_layout import ArchivedInstance, archive_layout
from domain.dicom_files import read_dicom, transfer_syntax_uid
from domain.dicomdir import DicomDir, media_file_name
from domain.transcoding import UNTRANSCODABLE, transcoded_bytes
from projections.hierarchy import queries as hierarchy

log = logging.getLogger(__name__)
COMPRESSION_LEVEL = 6  # Orthanc's
ZIP64_FILE = 0xFFFF_FFFF - 0x1_0000  # bytes: a file this large needs ZIP64 sizes
_DOS_EPOCH = (1980, 1, 1, 0, 0, 0)

Row = dict[str, Any]


class UnknownResources(LookupError):
    """An ID asked for names no resource."""


@attrs.frozen
class ArchivePlan:
    """What goes into an archive: (path, instance ID) in order, and each instance's row."""

    layout: list[tuple[str, str]]
    rows: dict[str, Row]

    @property
    def uncompressed_size(self) -> int:
        return sum(int(self.rows[i]["file_size"] or 0) for _, i in self.layout)


def plan_archive(conn: psycopg.Connection, resource_ids: list[str]) -> ArchivePlan:
    """The archive of the resources (any level); UnknownResources if one does not exist."""
    known = hierarchy.get_resources(conn, resource_ids)
    missing = [resource_id for resource_id in resource_ids if resource_id not in known]
    if missing:
        raise UnknownResources(missing[0])
    instances = hierarchy.instances_with_identifiers(conn, resource_ids)
    lineage = {row[key] for row in instances for key in ("series_id", "study_id", "patient_id")}
    ancestors = hierarchy.get_resources(conn, sorted(lineage))
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
    return ArchivePlan(archive_layout(entries), {row["id"]: row for row in instances})


def as_media(plan: ArchivePlan) -> ArchivePlan:
    """The same instances in the same order, as a media names them."""
    layout = [(media_file_name(n), instance) for n, (_, instance) in enumerate(plan.layout)]
    return ArchivePlan(layout, plan.rows)


def in_syntax(read: Callable[[Row], bytes], target: str | None) -> Callable[[Row], bytes]:
    """`read`, its files written in the `target` transfer syntax; a file that cannot be is
    archived as it is stored (and logged), as Orthanc archives it."""
    if target is None:
        return read

    def transcoding(row: Row) -> bytes:
        data = read(row)
        try:
            return transcoded_bytes(data, target)
        except UNTRANSCODABLE as error:
            log.info("instance %s archived as stored: %s", row["id"], error)
            return data

    return transcoding


def _order(row: Row, index: int, asked: set[str]) -> tuple[int, int]:
    """Orthanc: a series asked for whole (or through its study or patient) lists its instances
    in storage order, one whose instances were asked one by one in the order asked."""
    whole = not asked.isdisjoint((row["series_id"], row["study_id"], row["patient_id"]))
    return (0, row["created_position"]) if whole else (1, index)


class _Chunks(io.RawIOBase):
    """What zipfile writes, kept until taken; not seekable, so zipfile streams (a data
    descriptor after each file)."""

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


def zip_chunks(
    plan: ArchivePlan, read: Callable[[Row], bytes], dicomdir: DicomDir | None = None
) -> Iterator[bytes]:
    """The archive's bytes, a chunk per file and one for the central directory; `read(row)`:
    an instance's DICOM file. With `dicomdir` (a media: see as_media), each file is added to
    it and it is written last, as "DICOMDIR"."""
    sink = _Chunks()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSION_LEVEL) as zf:
        for path, instance_id in plan.layout:
            data = read(plan.rows[instance_id])
            _write(zf, path, data)
            if dicomdir is not None:
                ds = read_dicom(data).dataset
                dicomdir.add(path, ds, transfer_syntax_uid(ds))
            del data
            yield sink.take()
        if dicomdir is not None:
            _write(zf, "DICOMDIR", dicomdir.encode())
    yield sink.take()


def _write(zf: zipfile.ZipFile, path: str, data: bytes) -> None:
    info = zipfile.ZipInfo(path, date_time=_DOS_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=len(data) >= ZIP64_FILE) as member:
        _faster_deflate(member)
        member.write(data)


def _faster_deflate(member: Any) -> None:
    """zlib-ng's deflate at the same level instead of zlib's: the same format, several times
    faster (deflate is what bounds an archive's throughput). zipfile offers no way to choose
    its compressor, so the member's is swapped before anything is written; a zipfile whose
    members keep it elsewhere keeps zlib's."""
    if getattr(member, "_compressor", None) is not None and not member._file_size:
        member._compressor = zlib_ng.compressobj(COMPRESSION_LEVEL, zlib_ng.DEFLATED, -15)
