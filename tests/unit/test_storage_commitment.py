"""Storage commitment without a server: the two aggregates on eventsourcing's in-memory
persistence, and the Annex J datasets as they go over the wire (encoded, decoded, checked)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import BytesIO

import pytest
from eventsourcing.domain import Aggregate
from pydicom import Dataset
from pynetdicom.dsutils import decode, encode

from adapters.dicom import storage_commitment as wire
from api.permissions import may
from domain import storage_commitment as commitment
from domain.aggregates import event_classes
from domain.archive import Archive
from domain.origin import Channel, Origin
from domain.passwords import ADMIN, AUDITOR, USER
from domain.storage_commitment import (
    StorageCommitmentReport,
    StorageCommitmentRequest,
    StorageCommitments,
    report_aggregate_id,
)

REST = Origin(Channel.REST, user="alice")
DICOM = Origin(Channel.DICOM, remote_aet="PEER")
CT = "1.2.840.10008.5.1.4.1.1.2"


def instances(count: int) -> list[list[str]]:
    return [[CT, f"1.2.3.{n}"] for n in range(count)]


@pytest.fixture
def archive() -> Iterator[Archive]:
    app = Archive(group_commit=False)  # no env: eventsourcing's in-memory persistence
    yield app
    app.close()


@pytest.fixture
def commitments(archive: Archive) -> StorageCommitments:
    return StorageCommitments(archive)


def events_of(archive: Archive, aggregate_id: object) -> list[object]:
    return list(archive.repository.event_store.get(aggregate_id))  # type: ignore[arg-type]


# --- aggregates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("aggregate", commitment.AGGREGATES, ids=lambda a: a.__name__)
def test_every_event_class_declares_its_version(aggregate: type[Aggregate]) -> None:
    classes = event_classes(aggregate)
    assert len(classes) == 4
    for cls in classes:
        declared = [base for base in cls.__mro__ if base.__qualname__ == cls.__qualname__]
        assert any("class_version" in vars(base) for base in declared), cls.__qualname__


def test_a_request_lists_its_instances_in_bounded_events(
    archive: Archive, commitments: StorageCommitments
) -> None:
    asked = instances(2 * commitment.ENTRIES_PER_EVENT + 1)
    commitments.request("2.25.1", "pacs", "PACS", asked, REST, job_id="job")
    report: StorageCommitmentReport = archive.repository.get(report_aggregate_id("2.25.1"))
    assert report.instances == asked and not report.reported
    events = events_of(archive, report.id)
    assert [type(e).__name__ for e in events] == ["Requested", *["EntriesListed"] * 3]
    assert max(len(getattr(e, "entries", [])) for e in events) == commitment.ENTRIES_PER_EVENT


def test_a_report_stands_against_a_late_failure(
    archive: Archive, commitments: StorageCommitments
) -> None:
    commitments.request("2.25.2", "pacs", "PACS", instances(2), REST)
    position = commitments.receive_report("2.25.2", "PACS", instances(1), [[CT, "9", 0x112]], DICOM)
    assert position > 0
    assert commitments.request_failed("2.25.2", "timed out", REST) is None
    names = [type(e).__name__ for e in events_of(archive, report_aggregate_id("2.25.2"))]
    assert names == ["Requested", "EntriesListed", "ReportReceived", *["EntriesListed"] * 2]


def test_a_request_fails_once(commitments: StorageCommitments) -> None:
    commitments.request("2.25.3", "pacs", "PACS", instances(1), REST)
    assert commitments.request_failed("2.25.3", "refused", REST) is not None
    assert commitments.request_failed("2.25.3", "refused again", REST) is None
    with pytest.raises(commitment.UnknownReport):
        commitments.request_failed("2.25.4", "never asked", REST)


def test_a_report_nobody_asked_for_opens_its_own_record(
    archive: Archive, commitments: StorageCommitments
) -> None:
    commitments.receive_report("2.25.5", "PEER", instances(2), [], DICOM)
    report: StorageCommitmentReport = archive.repository.get(report_aggregate_id("2.25.5"))
    assert (report.remote_aet, report.instances, report.reported) == ("PEER", [], True)
    # a second report replaces the first one's outcome, as in Orthanc
    commitments.receive_report("2.25.5", "PEER", [], instances(2), DICOM)
    received = [e for e in events_of(archive, report.id) if type(e).__name__ == "ReportReceived"]
    assert [(e.succeeded, e.failed) for e in received] == [(2, 0), (0, 2)]


def test_a_request_received_is_answered_once(commitments: StorageCommitments) -> None:
    request_id, _ = commitments.receive_request(
        "2.25.6", "PEER", "CHRONICLE", "peer", instances(3), DICOM
    )
    again, _ = commitments.receive_request("2.25.6", "PEER", "CHRONICLE", "peer", [], DICOM)
    assert again != request_id  # the same transaction sent twice: two requests
    request = commitments.request_of(request_id)
    assert request is not None and request.instances == instances(3) and not request.answered
    commitments.answered(request, instances(2), [[CT, "1.2.3.2", 0x112]], REST)
    answered = commitments.request_of(request_id)
    assert answered is not None and answered.answered
    assert commitments.request_of(report_aggregate_id("none")) is None


def test_transaction_uids_are_uids_under_2_25() -> None:
    uid = commitment.new_transaction_uid()
    assert uid.startswith("2.25.") and uid[5:].isdigit() and len(uid) <= 64
    assert uid != commitment.new_transaction_uid()


def test_answered_event_types(archive: Archive, commitments: StorageCommitments) -> None:
    for failed, expected in (([], 1), ([[CT, "1", 0x119]], 2)):
        request_id, _ = commitments.receive_request("2.25.7", "PEER", "C", "peer", [], DICOM)
        request = commitments.request_of(request_id)
        assert request is not None
        commitments.answered(request, [], failed, REST)
        answered = [
            e
            for e in events_of(archive, request_id)
            if isinstance(e, StorageCommitmentRequest.Answered)
        ]
        assert [e.event_type for e in answered] == [expected]


# --- datasets ------------------------------------------------------------------------------------


def over_the_wire(dataset: Dataset) -> Dataset:
    """Encoded as Explicit VR Little Endian and decoded, as a peer receives it."""
    data = encode(dataset, False, True)
    assert data is not None
    decoded: Dataset = decode(BytesIO(data), False, True)
    return decoded


def test_a_request_dataset_reads_back() -> None:
    sent = wire.request_dataset("2.25.8", instances(3))
    assert wire.parse_request(over_the_wire(sent)) == wire.Commitment("2.25.8", instances(3))


def test_a_result_dataset_has_a_failed_sequence_only_with_failures() -> None:
    success = over_the_wire(wire.result_dataset("2.25.9", instances(2), []))
    assert "FailedSOPSequence" not in success and len(success.ReferencedSOPSequence) == 2
    assert wire.parse_report(success, wire.ALL_COMMITTED).succeeded == instances(2)
    failed = [[CT, "1.9", 0x0112]]
    mixed = over_the_wire(wire.result_dataset("2.25.9", [], failed))
    assert "ReferencedSOPSequence" in mixed and len(mixed.ReferencedSOPSequence) == 0
    assert wire.parse_report(mixed, wire.FAILURES_EXIST) == wire.Commitment("2.25.9", [], failed)


def _request(transaction_uid: object = "2.25.10", items: object = None) -> Dataset:
    dataset = Dataset()
    if transaction_uid is not None:
        dataset.TransactionUID = transaction_uid
    if items is not None:
        dataset.ReferencedSOPSequence = items
    return dataset


def _item(sop_class: str = CT, sop_instance: str = "1.2", reason: int | None = None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    if reason is not None:
        item.FailureReason = reason
    return item


@pytest.mark.parametrize(
    ("made", "status"),
    [
        (lambda: None, wire.PROCESSING_FAILURE),
        (lambda: _request(None, [_item()]), wire.INVALID_ARGUMENT_VALUE),
        (lambda: _request(items=None), wire.INVALID_ARGUMENT_VALUE),
        (lambda: _request(items=[_item(sop_instance="")]), wire.INVALID_ARGUMENT_VALUE),
        (lambda: _request(items=[_item(sop_instance="1.2\x001")]), wire.INVALID_ARGUMENT_VALUE),
        (lambda: _request("x" * 65, [_item()]), wire.INVALID_ARGUMENT_VALUE),
    ],
)
@pytest.mark.filterwarnings("ignore:.*VR UI")  # pydicom's, on the invalid UIDs made here
def test_a_request_that_annex_j_does_not_allow_is_refused(
    made: Callable[[], Dataset | None], status: int
) -> None:
    with pytest.raises(wire.InvalidCommitment) as refused:
        wire.parse_request(made())
    assert refused.value.status == status


def test_reports_are_checked() -> None:
    with pytest.raises(wire.InvalidCommitment) as unknown:
        wire.parse_report(_request(items=[]), 3)
    assert unknown.value.status == wire.NO_SUCH_EVENT_TYPE
    without_reason = _request(items=[])
    without_reason.FailedSOPSequence = [_item()]
    with pytest.raises(wire.InvalidCommitment):
        wire.parse_report(without_reason, wire.FAILURES_EXIST)
    # a success report must list what was committed; a failure report need not
    with pytest.raises(wire.InvalidCommitment):
        wire.parse_report(_request(), wire.ALL_COMMITTED)
    only_failures = _request()
    only_failures.FailedSOPSequence = [_item(reason=0x0119)]
    assert wire.parse_report(only_failures, wire.FAILURES_EXIST).failed == [[CT, "1.2", 0x0119]]


def test_too_many_instances_are_a_resource_limitation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "MAX_ENTRIES", 2)
    with pytest.raises(wire.InvalidCommitment) as refused:
        wire.parse_request(_request(items=[_item(), _item(), _item()]))
    assert refused.value.status == wire.RESOURCE_LIMITATION


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        (USER, "POST", "/modalities/pacs/storage-commitment", True),
        (USER, "GET", "/storage-commitment/2.25.1", True),
        (USER, "POST", "/storage-commitment/2.25.1/remove", False),  # it deletes
        (ADMIN, "POST", "/storage-commitment/2.25.1/remove", True),
        (AUDITOR, "GET", "/storage-commitment/2.25.1", False),
        (AUDITOR, "POST", "/modalities/pacs/storage-commitment", False),
    ],
)
def test_who_may_use_storage_commitment(role: str, method: str, path: str, allowed: bool) -> None:
    assert may(role, method, path) is allowed
