"""/reconstruct: instances' files read again, with today's DefaultEncoding and parser, and
what changed in their descriptions recorded (Instance.Reconstructed), as Orthanc re-reads its
files to refresh its index."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import attrs

from adapters.live_settings import LiveSettings
from adapters.storage import StorageArea
from domain.archive import Archive
from domain.dicom_structure import InputBounds
from domain.instance_record import InstanceRecord, read_received
from domain.origin import Origin

BATCH = 100  # instances read, then recorded in one transaction


class Reconstructor:
    def __init__(
        self, archive: Archive, storage: StorageArea, live: LiveSettings, bounds: InputBounds
    ) -> None:
        self.archive = archive
        self.storage = storage
        self.live = live
        self.bounds = bounds

    def reconstruct(self, instances: Iterable[dict[str, Any]], origin: Origin) -> int | None:
        """`instances`: hierarchy rows. Returns the last log position appended, None if no
        description changed. A missing or unreadable file raises (OSError, InvalidDicomFile,
        CorruptedFile) once the batches before it are recorded."""
        last = None
        for chunk in _batches(instances):
            records = [self._read_again(row) for row in chunk]
            last = self.archive.reconstruct_instances(records, origin) or last
        return last

    def _read_again(self, row: dict[str, Any]) -> InstanceRecord:
        data = self.storage.read(row["file_uuid"], row.get("file_compression"))
        record = read_received(data, self.live.default_encoding, self.bounds)
        # The instance keeps its identity even if its identifiers now read differently.
        return attrs.evolve(
            record,
            instance_id=row["id"],
            series_id=row["series_id"],
            study_id=row["study_id"],
            patient_id=row["patient_id"],
        )


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, BATCH)):
        yield chunk
