"""DICOM storage commitment (Push Model), both ways, as events.

- A report (`StorageCommitmentReport`): Chronicle asked a modality to commit instances (REST's
  `/modalities/{id}/storage-commitment`, or a store job with `StorageCommitment`); the
  modality's N-EVENT-REPORT completes it. Keyed by its transaction UID, so that the report can
  arrive at any process. A report nobody here asked for is recorded too, as Orthanc does.
- A request (`StorageCommitmentRequest`): a modality asked Chronicle (N-ACTION); a processor
  looks the instances up and answers with an N-EVENT-REPORT, and records the answer.

Instance lists go in chunks of ENTRIES_PER_EVENT entries, each an event of its own appended
with the one that opens them, so that no event grows with the size of a study.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from domain.commands import existing
from domain.conflicts import retry_on_conflict
from domain.origin import Origin

OriginFields = dict[str, str]
Entry = list[Any]  # [SOP class UID, SOP instance UID] (and the failure reason, for failures)

ENTRIES_PER_EVENT = 1000
REQUESTED, SUCCEEDED, FAILED = "requested", "succeeded", "failed"
PENDING, SUCCESS, FAILURE = "Pending", "Success", "Failure"

# Failure Reason (0008,1197) values (PS3.3 C.14.1.1).
PROCESSING_FAILURE = 0x0110
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119

_NAMESPACE = UUID("0c7d5e2a-8f43-4f0b-b1d6-3f5c9a2e7b14")


def report_aggregate_id(transaction_uid: str) -> UUID:
    return uuid5(_NAMESPACE, "report:" + transaction_uid)


def new_transaction_uid() -> str:
    """A UID under 2.25 (a UUID as a number), as Orthanc makes them."""
    return f"2.25.{uuid4().int}"


def _chunks(entries: Sequence[Entry]) -> list[list[Entry]]:
    return [
        [list(entry) for entry in entries[start : start + ENTRIES_PER_EVENT]]
        for start in range(0, len(entries), ENTRIES_PER_EVENT)
    ]


class StorageCommitmentReport(Aggregate):
    """A storage commitment asked of a modality, and the report it sent back."""

    class Requested(Aggregate.Created):
        class_version = 1
        transaction_uid: str
        modality: str  # its symbolic name ("" for a report nobody here asked for)
        remote_aet: str
        job_id: str | None  # the store job that asked, if one did
        count: int  # instances requested, listed by the EntriesListed events that follow
        origin: OriginFields

    class EntriesListed(Aggregate.Event):
        class_version = 1
        kind: str  # requested, succeeded or failed
        entries: list[Entry]

    class RequestFailed(Aggregate.Event):
        """The modality did not take the request: no report will come."""

        class_version = 1
        reason: str
        origin: OriginFields

    class ReportReceived(Aggregate.Event):
        """The modality's N-EVENT-REPORT; it replaces an earlier one, as in Orthanc. Its
        instances are listed by the EntriesListed events that follow."""

        class_version = 1
        remote_aet: str
        succeeded: int
        failed: int
        origin: OriginFields

    @staticmethod
    def create_id(transaction_uid: str, **_: Any) -> UUID:
        return report_aggregate_id(transaction_uid)

    @event(Requested)
    def __init__(
        self,
        transaction_uid: str,
        modality: str,
        remote_aet: str,
        job_id: str | None,
        count: int,
        origin: OriginFields,
    ) -> None:
        self.transaction_uid = transaction_uid
        self.remote_aet = remote_aet
        self.instances: list[Entry] = []
        self.reported = False
        self.failed = False

    @event(EntriesListed)
    def _listed(self, kind: str, entries: list[Entry]) -> None:
        if kind == REQUESTED:
            self.instances.extend(entries)

    @event(RequestFailed)
    def _request_failed(self, reason: str, origin: OriginFields) -> None:
        self.failed = True

    @event(ReportReceived)
    def _report_received(
        self, remote_aet: str, succeeded: int, failed: int, origin: OriginFields
    ) -> None:
        self.reported = True

    def list_entries(self, kind: str, entries: Sequence[Entry]) -> None:
        for chunk in _chunks(entries):
            self._listed(kind=kind, entries=chunk)

    def fail(self, reason: str, origin: OriginFields) -> bool:
        """False when a report came first or it failed already: that stands."""
        if self.reported or self.failed:
            return False
        self._request_failed(reason=reason, origin=origin)
        return True

    def receive(
        self,
        remote_aet: str,
        succeeded: Sequence[Entry],
        failed: Sequence[Entry],
        origin: OriginFields,
    ) -> None:
        self._report_received(
            remote_aet=remote_aet, succeeded=len(succeeded), failed=len(failed), origin=origin
        )
        self.list_entries(SUCCEEDED, succeeded)
        self.list_entries(FAILED, failed)


class StorageCommitmentRequest(Aggregate):
    """A storage commitment a modality asked of Chronicle (Orthanc runs it as a
    StorageCommitmentScp job), and the answer sent."""

    class Received(Aggregate.Created):
        class_version = 1
        transaction_uid: str
        remote_aet: str
        called_aet: str
        modality: str  # the symbolic name of the modality that asked
        count: int  # instances, listed by the EntriesListed events that follow
        origin: OriginFields

    class EntriesListed(Aggregate.Event):
        class_version = 1
        kind: str  # requested, succeeded or failed
        entries: list[Entry]

    class Answered(Aggregate.Event):
        """The N-EVENT-REPORT the modality accepted (event type 1: all committed, 2: some
        failed); the instances follow in EntriesListed events."""

        class_version = 1
        event_type: int
        succeeded: int
        failed: int
        origin: OriginFields

    class AnswerFailed(Aggregate.Event):
        class_version = 1
        reason: str
        origin: OriginFields

    @event(Received)
    def __init__(
        self,
        transaction_uid: str,
        remote_aet: str,
        called_aet: str,
        modality: str,
        count: int,
        origin: OriginFields,
    ) -> None:
        self.transaction_uid = transaction_uid
        self.remote_aet = remote_aet
        self.called_aet = called_aet
        self.modality = modality
        self.instances: list[Entry] = []
        self.answered = False

    @event(EntriesListed)
    def _listed(self, kind: str, entries: list[Entry]) -> None:
        if kind == REQUESTED:
            self.instances.extend(entries)

    @event(Answered)
    def _answered(self, event_type: int, succeeded: int, failed: int, origin: OriginFields) -> None:
        self.answered = True

    @event(AnswerFailed)
    def _answer_failed(self, reason: str, origin: OriginFields) -> None:
        self.answered = True

    def list_entries(self, kind: str, entries: Sequence[Entry]) -> None:
        for chunk in _chunks(entries):
            self._listed(kind=kind, entries=chunk)

    def answer(
        self, succeeded: Sequence[Entry], failed: Sequence[Entry], origin: OriginFields
    ) -> None:
        event_type = 2 if failed else 1
        self._answered(
            event_type=event_type, succeeded=len(succeeded), failed=len(failed), origin=origin
        )
        self.list_entries(SUCCEEDED, succeeded)
        self.list_entries(FAILED, failed)

    def fail(self, reason: str, origin: OriginFields) -> None:
        self._answer_failed(reason=reason, origin=origin)


class UnknownReport(LookupError):
    pass


class StorageCommitments:
    """The storage commitment commands, on the archive's event store."""

    def __init__(self, archive: Application) -> None:
        self.archive = archive

    def request(
        self,
        transaction_uid: str,
        modality: str,
        remote_aet: str,
        instances: Sequence[Entry],
        origin: Origin,
        job_id: str | None = None,
    ) -> int:
        """A pending report, recorded before the N-ACTION goes (the N-EVENT-REPORT may come
        back at once, to any process)."""
        report = StorageCommitmentReport(
            transaction_uid=transaction_uid,
            modality=modality,
            remote_aet=remote_aet,
            job_id=job_id,
            count=len(instances),
            origin=origin.to_dict(),
        )
        report.list_entries(REQUESTED, instances)
        return self._append(report)

    @retry_on_conflict
    def request_failed(self, transaction_uid: str, reason: str, origin: Origin) -> int | None:
        """None when a report came first (it stands)."""
        report = self._report(transaction_uid)
        if not report.fail(reason, origin.to_dict()):
            return None
        return self._append(report)

    @retry_on_conflict
    def receive_report(
        self,
        transaction_uid: str,
        remote_aet: str,
        succeeded: Sequence[Entry],
        failed: Sequence[Entry],
        origin: Origin,
    ) -> int:
        """The modality's N-EVENT-REPORT, for a transaction asked here or not."""
        report: StorageCommitmentReport | None = existing(
            self.archive.repository, report_aggregate_id(transaction_uid)
        )
        if report is None:
            report = StorageCommitmentReport(
                transaction_uid=transaction_uid,
                modality="",
                remote_aet=remote_aet,
                job_id=None,
                count=0,
                origin=origin.to_dict(),
            )
        report.receive(remote_aet, succeeded, failed, origin.to_dict())
        return self._append(report)

    def receive_request(
        self,
        transaction_uid: str,
        remote_aet: str,
        called_aet: str,
        modality: str,
        instances: Sequence[Entry],
        origin: Origin,
    ) -> tuple[UUID, int]:
        """A modality's N-ACTION: each is a request of its own (a modality may send the same
        transaction again); the processor answers it."""
        request = StorageCommitmentRequest(
            transaction_uid=transaction_uid,
            remote_aet=remote_aet,
            called_aet=called_aet,
            modality=modality,
            count=len(instances),
            origin=origin.to_dict(),
        )
        request.list_entries(REQUESTED, instances)
        return request.id, self._append(request)

    def request_of(self, request_id: UUID) -> StorageCommitmentRequest | None:
        found: StorageCommitmentRequest | None = existing(self.archive.repository, request_id)
        return found

    def answered(
        self,
        request: StorageCommitmentRequest,
        succeeded: Sequence[Entry],
        failed: Sequence[Entry],
        origin: Origin,
    ) -> int:
        request.answer(succeeded, failed, origin.to_dict())
        return self._append(request)

    def answer_failed(self, request: StorageCommitmentRequest, reason: str, origin: Origin) -> int:
        request.fail(reason, origin.to_dict())
        return self._append(request)

    def _report(self, transaction_uid: str) -> StorageCommitmentReport:
        report: StorageCommitmentReport | None = existing(
            self.archive.repository, report_aggregate_id(transaction_uid)
        )
        if report is None:
            raise UnknownReport(transaction_uid)
        return report

    def _append(self, aggregate: Aggregate) -> int:
        recordings = self.archive.save(aggregate)
        return max(recording.notification.id for recording in recordings)


AGGREGATES: tuple[type[Aggregate], ...] = (StorageCommitmentReport, StorageCommitmentRequest)
