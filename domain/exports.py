"""Commands recording exports: every instance sent to a modality or peer, and the outcome."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from eventsourcing.application import AggregateNotFoundError

from domain.aggregates import ExportRecord, ExportsLog
from domain.commands import CommandContext
from domain.conflicts import retry_on_conflict
from domain.origin import Origin


@attrs.frozen
class ExportEntry:
    instance_id: str
    series_id: str
    study_id: str
    patient_id: str
    identifiers: dict[str, str]  # PatientID, StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID
    destination_kind: str  # "modality" or "peer"
    destination: str  # the modality's or peer's name
    remote_aet: str
    job_id: str | None
    succeeded: bool
    error: str = ""


class ExportCommands(CommandContext):
    """Mixed into the Archive application."""

    def record_exports(self, entries: Sequence[ExportEntry], origin: Origin) -> int | None:
        """One event per instance, all in one transaction; returns the last log position."""
        if not entries:
            return None
        records = [
            ExportRecord(**attrs.asdict(entry, recurse=False), origin=origin.to_dict())
            for entry in entries
        ]
        return self._append(*records)

    @retry_on_conflict
    def clear_exports(self, origin: Origin) -> int:
        try:
            log: ExportsLog = self.repository.get(ExportsLog.create_id())
        except AggregateNotFoundError:
            log = ExportsLog()
        log.clear(origin=origin.to_dict())
        return self._append(log)
