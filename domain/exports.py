"""Commands recording exports: the resources a store call names (Orthanc's /exports), every
instance sent to a modality or peer and its outcome (the audit trail)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from eventsourcing.application import AggregateNotFoundError

from domain.aggregates import ExportRecord, ExportRequest, ExportsLog
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


@attrs.frozen
class RequestedExport:
    """A resource a store call names, with the identifiers Orthanc's /exports shows for it."""

    resource_id: str
    level: str  # Patient, Study, Series or Instance
    identifiers: dict[str, str]  # PatientID and the UIDs down to the resource's level
    destination_kind: str  # "modality" or "peer"
    destination: str


def export_requests(
    requested: Sequence[RequestedExport], job_id: str, origin: Origin
) -> list[ExportRequest]:
    """The events a store job's submission appends with it (one transaction)."""
    return [
        ExportRequest(**attrs.asdict(entry, recurse=False), job_id=job_id, origin=origin.to_dict())
        for entry in requested
    ]


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
