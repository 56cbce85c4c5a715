"""Ingest: header only, file first, event second; the client hears "stored" once both are durable.

Used by every way in: REST upload, C-STORE, folder import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from adapters import stage_timing
from adapters.compression import ZLIB_WITH_SIZE
from adapters.recycling import Recycler
from adapters.storage import StorageArea
from domain.archive import Archive, StoreOutcome, StoreStatus
from domain.dicom_files import InvalidDicomFile, parse_dataset
from domain.dicom_structure import DEFAULT_BOUNDS, InputBounds
from domain.dicom_writing import dataset_bytes
from domain.instance_record import InstanceRecord, read_received
from domain.origin import Origin
from domain.transcoding import UNTRANSCODABLE, transcoded, transfer_syntax

log = logging.getLogger(__name__)


class Admission(Protocol):
    """Whether an instance may be stored, asked before anything is written (Lua's
    ReceivedInstanceFilter and ReceivedCStoreInstanceFilter): None if it may, else the DIMSE
    status a C-STORE sender is answered (0x0000 included: refused, yet "success")."""

    def __call__(self, data: bytes, origin: Origin) -> int | None: ...


@attrs.frozen
class IngestTranscoding:
    """Orthanc's IngestTranscoding: the syntax new files are stored in, for which of them."""

    target: str
    of_uncompressed: bool = True
    of_compressed: bool = True

    def applied(self, data: bytes) -> bytes:
        """The file in the target syntax, or as it came: already in it, not to be transcoded,
        or not transcodable (logged; Orthanc stores the original too)."""
        try:
            ds = parse_dataset(data)
        except InvalidDicomFile:
            return data  # refused with its reason by the ingest itself
        syntax = transfer_syntax(ds)
        if syntax == self.target:
            return data
        if not (self.of_compressed if syntax.is_compressed else self.of_uncompressed):
            return data
        try:
            return dataset_bytes(transcoded(ds, self.target))
        except UNTRANSCODABLE as error:
            log.warning("stored as received, not transcoded to %s: %s", self.target, error)
            return data


@attrs.frozen
class IngestResult:
    status: StoreStatus
    instance_id: str
    series_id: str
    study_id: str
    patient_id: str
    position: int | None
    cstore_status: int = 0  # what a C-STORE sender hears when the instance is filtered out


class Ingestor:
    def __init__(
        self,
        archive: Archive,
        storage: StorageArea,
        overwrite: bool = False,
        default_encoding: Callable[[], str] = lambda: "Latin1",
        bounds: InputBounds = DEFAULT_BOUNDS,
        recycler: Recycler | None = None,
        compress: bool = False,
        transcoding: IngestTranscoding | None = None,
    ) -> None:
        """`default_encoding`: the one to read files without SpecificCharacterSet with now
        (REST may change it); `recycler`: the storage quotas' keeper, None when no limit is
        configured; `compress`: files stored compressed (Orthanc's StorageCompression)."""
        self.archive = archive
        self.storage = storage
        self.overwrite = overwrite
        self.default_encoding = default_encoding
        self.bounds = bounds
        self.recycler = recycler
        self.compression = ZLIB_WITH_SIZE if compress else None
        self.transcoding = transcoding
        self.admission: Admission | None = None  # set by the HTTP application (api.scripting)

    def ingest(
        self, data: bytes, origin: Origin, derived: dict[str, Any] | None = None
    ) -> IngestResult:
        """Raises domain.dicom_files.InvalidDicomFile, or adapters.recycling.StorageFull when
        the storage quota refuses the instance, leaving nothing behind. `derived`: what a
        modification made it from (domain.aggregates.Instance.Stored)."""
        if self.transcoding is not None:
            with stage_timing.stage("transcode"):
                data = self.transcoding.applied(data)
        with stage_timing.stage("parse"):
            described = read_received(data, self.default_encoding(), self.bounds)
        refusal = None if self.admission is None else self.admission(data, origin)
        if refusal is not None:
            return attrs.evolve(
                _result(described, StoreStatus.FILTERED_OUT, None), cstore_status=refusal
            )
        with stage_timing.stage("file"):
            stored = self.storage.write(data, self.compression)
        record = attrs.evolve(described, attachment=attrs.asdict(stored), derived=derived)
        try:
            with stage_timing.stage("append"):
                outcome = self._store(record, origin)
        except BaseException:
            self._forget_unless_recorded(record.instance_id, stored.uuid)
            raise
        if outcome.status is StoreStatus.ALREADY_STORED:
            self.storage.remove(stored.uuid)
        return _result(record, outcome.status, outcome.position)

    def _store(self, record: InstanceRecord, origin: Origin) -> StoreOutcome:
        def store() -> StoreOutcome:
            return self.archive.store(record, origin, self.overwrite)

        if self.recycler is None:
            return store()
        return self.recycler.store(record, origin, self.overwrite, store)

    def _forget_unless_recorded(self, instance_id: str, file_uuid: str) -> None:
        """After a failed append, remove the file only if no committed event names it.

        The failure may have come after the commit (a connection lost during COMMIT); if the
        log cannot even be asked, the file stays and the next start-up sweep decides.
        """
        try:
            recorded = self.archive.attachment_of(instance_id)
        except Exception:
            return
        if recorded != file_uuid:
            self.storage.remove(file_uuid)


def _result(record: InstanceRecord, status: StoreStatus, position: int | None) -> IngestResult:
    return IngestResult(
        status=status,
        instance_id=record.instance_id,
        series_id=record.series_id,
        study_id=record.study_id,
        patient_id=record.patient_id,
        position=position,
    )
