"""Sending instances to a destination, and the audit of every instance sent.

Store jobs (to a modality or a peer) and the C-MOVE/C-GET SCP both deliver through here: each
instance's outcome becomes an export entry, appended in groups so that a crash leaves at most
one group of sends unaudited. Routing will deliver the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from domain.archive import Archive
from domain.exports import ExportEntry
from domain.origin import Origin

log = logging.getLogger(__name__)

OnResult = Callable[[str, bool, str], None]  # (instance ID, succeeded, error)


class Sender(Protocol):
    """Sends files over one association or connection, reporting each instance's outcome."""

    def store(
        self,
        configuration: dict[str, Any],
        files: Iterable[tuple[str, bytes]],
        on_result: OnResult,
        **options: Any,
    ) -> None: ...


class Senders:
    """The sender for each kind of destination ("modality", "peer")."""

    def __init__(self, **by_kind: Sender) -> None:
        self._by_kind = by_kind

    def get(self, kind: str) -> Sender | None:
        return self._by_kind.get(kind)

    def __getitem__(self, kind: str) -> Sender:
        return self._by_kind[kind]


@attrs.frozen
class Destination:
    kind: str  # "modality" or "peer"
    name: str
    configuration: dict[str, Any]

    @property
    def remote_aet(self) -> str:
        return str(self.configuration.get("AET", ""))

    def reference(self) -> dict[str, str]:
        """What a job's events keep: the name, never the configuration (peers have secrets)."""
        return {"kind": self.kind, "name": self.name}


@attrs.frozen
class Delivered:
    """An instance as the audit names it."""

    instance_id: str
    series_id: str
    study_id: str
    patient_id: str
    identifiers: dict[str, str]
    file_uuid: str
    file_compression: str | None = None  # how the file is stored (None: as it is)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Delivered:
        """From a hierarchy row of instances_with_identifiers()."""
        return cls(
            row["id"],
            row["series_id"],
            row["study_id"],
            row["patient_id"],
            row["identifiers"],
            row["file_uuid"],
            row.get("file_compression"),
        )


class DeliveryAudit:
    """Records the outcome of each instance sent to one destination as an export."""

    def __init__(
        self,
        archive: Archive,
        destination: Destination,
        origin: Origin,
        job_id: str | None = None,
        group: int = 10,
        recorded: Callable[[int], None] | None = None,
    ) -> None:
        """`recorded(position)` is called after each group is appended."""
        self.archive = archive
        self.destination = destination
        self.origin = origin
        self.job_id = job_id
        self.group = group
        self.recorded = recorded
        self.failed: list[str] = []
        self._pending: list[ExportEntry] = []

    def record(self, instance: Delivered, succeeded: bool, error: str) -> None:
        self._pending.append(
            ExportEntry(
                instance_id=instance.instance_id,
                series_id=instance.series_id,
                study_id=instance.study_id,
                patient_id=instance.patient_id,
                identifiers=dict(instance.identifiers),
                destination_kind=self.destination.kind,
                destination=self.destination.name,
                remote_aet=self.destination.remote_aet,
                job_id=self.job_id,
                succeeded=succeeded,
                error=error,
            )
        )
        if not succeeded:
            self.failed.append(instance.instance_id)
        if len(self._pending) >= self.group:
            self.flush()

    def flush(self) -> None:
        entries, self._pending = self._pending, []
        if entries:
            position = self.archive.record_exports(entries, self.origin)
            if self.recorded is not None and position is not None:
                self.recorded(position)


def deliver(
    sender: Sender,
    configuration: dict[str, Any],
    instances: list[Delivered],
    read_file: Callable[[str, str | None], bytes],
    audit: DeliveryAudit,
    **options: Any,
) -> list[str]:
    """Sends the instances over one association, auditing each outcome as it comes in; an
    association-level failure fails every instance not reported yet. Returns the failed IDs."""
    unreported = {instance.instance_id: instance for instance in instances}
    failed_before = len(audit.failed)

    def on_result(instance_id: str, succeeded: bool, error: str) -> None:
        instance = unreported.pop(instance_id, None)
        if instance is not None:  # else already recorded (a sender reporting twice)
            audit.record(instance, succeeded, error)

    def file_items() -> Iterable[tuple[str, bytes]]:
        for instance in instances:
            yield instance.instance_id, read_file(instance.file_uuid, instance.file_compression)

    try:
        sender.store(configuration, file_items(), on_result, **options)
    except Exception as error:
        reason = str(error) or type(error).__name__
        for instance in list(unreported.values()):
            on_result(instance.instance_id, False, reason)
    for instance in list(unreported.values()):  # the sender said nothing about these
        on_result(instance.instance_id, False, "not sent")
    audit.flush()
    return audit.failed[failed_before:]
