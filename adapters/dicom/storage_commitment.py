"""DICOM Storage Commitment Push Model (PS3.4 Annex J) on the wire, as Orthanc 1.10.1 does it.

- As SCU, Chronicle sends an N-ACTION (action type 1) listing instances; the modality answers
  later with an N-EVENT-REPORT on an association of its own, which Chronicle's SCP receives.
- As SCP, Chronicle answers a modality's N-ACTION at once, then a processor sends the
  N-EVENT-REPORT (event type 1: all committed, 2: failures exist) on a new association to
  that modality, proposing the SCP role for the SOP class as Orthanc does.

Here: the datasets, their parsing (bounded and checked: the values end up in events), the
DIMSE exchanges over an association the caller opens, and the SCP's request handlers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
from pydicom import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import PresentationContext, build_context

from domain.origin import Channel, Origin
from domain.storage_commitment import Entry, StorageCommitments, new_transaction_uid

log = logging.getLogger(__name__)

PUSH_MODEL = UID("1.2.840.10008.1.20.1")
PUSH_MODEL_INSTANCE = UID("1.2.840.10008.1.20.1.1")  # the well-known SOP instance
REQUEST_STORAGE_COMMITMENT = 1  # N-ACTION action type
ALL_COMMITTED, FAILURES_EXIST = 1, 2  # N-EVENT-REPORT event types
SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110
NO_SUCH_EVENT_TYPE = 0x0113
INVALID_ARGUMENT_VALUE = 0x0115
INVALID_OBJECT_INSTANCE = 0x0117
NO_SUCH_ACTION = 0x0123
RESOURCE_LIMITATION = 0x0213
# What Orthanc proposes and accepts for this SOP class.
REQUEST_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
ACCEPTED_SYNTAXES = (ExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian)
MAX_ENTRIES = 100_000  # instances in one request or report
_UID_VALUE = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII: the values reach events


class StorageCommitmentError(RuntimeError):
    """The exchange failed; the message says why, in Orthanc's words where it has some."""


class InvalidCommitment(ValueError):
    """A request or report dataset that does not say what Annex J requires."""

    def __init__(self, message: str, status: int = PROCESSING_FAILURE) -> None:
        super().__init__(message)
        self.status = status


@runtime_checkable
class StorageCommitmentScu(Protocol):
    """Opens the associations (adapters.dicom.scu.DicomClient does)."""

    def request_storage_commitment(
        self, modality: dict[str, Any], transaction_uid: str, instances: Sequence[Entry]
    ) -> None:
        """Sends the N-ACTION; raises StorageCommitmentError (or DicomNetworkError)."""

    def report_storage_commitment(
        self,
        modality: dict[str, Any],
        transaction_uid: str,
        succeeded: Sequence[Entry],
        failed: Sequence[Entry],
    ) -> None:
        """Sends the N-EVENT-REPORT; raises StorageCommitmentError (or DicomNetworkError)."""


# --- presentation contexts ---------------------------------------------------------------------


def scp_context() -> PresentationContext:
    """The SCP's context: the modality may ask (SCU role) and report (SCP role)."""
    context = build_context(PUSH_MODEL, list(ACCEPTED_SYNTAXES))
    context.scu_role = True
    context.scp_role = True
    return context


def request_contexts() -> list[PresentationContext]:
    return [build_context(PUSH_MODEL, list(REQUEST_SYNTAXES))]


def report_roles() -> list[SCP_SCU_RoleSelectionNegotiation]:
    """The reporter proposes the SCP role only, as Orthanc (DCMTK's ASC_SC_ROLE_SCP)."""
    role = SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = PUSH_MODEL
    role.scu_role = False
    role.scp_role = True
    return [role]


# --- datasets ----------------------------------------------------------------------------------


def request_dataset(transaction_uid: str, instances: Sequence[Entry]) -> Dataset:
    dataset = Dataset()
    dataset.TransactionUID = transaction_uid
    dataset.ReferencedSOPSequence = _items(instances, with_reason=False)
    return dataset


def result_dataset(
    transaction_uid: str, succeeded: Sequence[Entry], failed: Sequence[Entry]
) -> Dataset:
    """The Event Information; FailedSOPSequence only when there are failures, as Orthanc."""
    dataset = Dataset()
    dataset.TransactionUID = transaction_uid
    dataset.ReferencedSOPSequence = _items(succeeded, with_reason=False)
    if failed:
        dataset.FailedSOPSequence = _items(failed, with_reason=True)
    return dataset


def _items(entries: Sequence[Entry], with_reason: bool) -> DicomSequence:
    items = []
    for entry in entries:
        item = Dataset()
        item.ReferencedSOPClassUID = entry[0]
        item.ReferencedSOPInstanceUID = entry[1]
        if with_reason:
            item.FailureReason = int(entry[2])
        items.append(item)
    return DicomSequence(items)


@attrs.frozen
class Commitment:
    """What a request or a report dataset says."""

    transaction_uid: str
    succeeded: list[Entry]  # the requested instances, for a request
    failed: list[Entry] = attrs.Factory(list)


def parse_request(dataset: Dataset | None) -> Commitment:
    if dataset is None:
        raise InvalidCommitment("storage commitment request without a dataset")
    instances = _entries(dataset, "ReferencedSOPSequence", mandatory=True)
    return Commitment(_transaction_uid(dataset), instances)


def parse_report(dataset: Dataset | None, event_type: int | None) -> Commitment:
    if event_type not in (ALL_COMMITTED, FAILURES_EXIST):
        raise InvalidCommitment(f"unknown event type {event_type}", NO_SUCH_EVENT_TYPE)
    if dataset is None:
        raise InvalidCommitment("storage commitment report without a dataset")
    succeeded = _entries(dataset, "ReferencedSOPSequence", mandatory=event_type == ALL_COMMITTED)
    failed: list[Entry] = []
    if event_type == FAILURES_EXIST:
        failed = _entries(dataset, "FailedSOPSequence", mandatory=True, with_reason=True)
    if len(succeeded) + len(failed) > MAX_ENTRIES:
        raise InvalidCommitment("too many instances in one report", RESOURCE_LIMITATION)
    return Commitment(_transaction_uid(dataset), succeeded, failed)


def _transaction_uid(dataset: Dataset) -> str:
    return _uid(dataset, "TransactionUID")


def _uid(dataset: Dataset, keyword: str) -> str:
    value = str(dataset.get(keyword, "") or "").strip("\x00 ")
    if not _UID_VALUE.match(value):
        raise InvalidCommitment(f"missing or invalid {keyword}", INVALID_ARGUMENT_VALUE)
    return value


def _entries(
    dataset: Dataset, keyword: str, mandatory: bool, with_reason: bool = False
) -> list[Entry]:
    if keyword not in dataset:
        if mandatory:
            raise InvalidCommitment(f"missing {keyword}", INVALID_ARGUMENT_VALUE)
        return []
    items = dataset[keyword].value or []
    if len(items) > MAX_ENTRIES:
        raise InvalidCommitment(f"more than {MAX_ENTRIES} instances", RESOURCE_LIMITATION)
    return [_entry(item, with_reason) for item in items]


def _entry(item: Dataset, with_reason: bool) -> Entry:
    entry: Entry = [_uid(item, "ReferencedSOPClassUID"), _uid(item, "ReferencedSOPInstanceUID")]
    if with_reason:
        reason = item.get("FailureReason")
        if not isinstance(reason, int) or not 0 <= reason <= 0xFFFF:
            raise InvalidCommitment("missing Failure Reason (0008,1197)", INVALID_ARGUMENT_VALUE)
        entry.append(reason)
    return entry


# --- the exchanges (over an association the caller opened) -------------------------------------


def send_request(
    assoc: Association, transaction_uid: str, instances: Sequence[Entry], aet: str, msg_id: int
) -> None:
    """The N-ACTION; raises StorageCommitmentError unless the modality answers success."""
    if not _has_context(assoc):
        raise StorageCommitmentError(
            f"Storage commitment - Unable to send N-ACTION request to AET: {aet}"
        )
    status, _reply = assoc.send_n_action(
        request_dataset(transaction_uid, instances),
        REQUEST_STORAGE_COMMITMENT,
        PUSH_MODEL,
        PUSH_MODEL_INSTANCE,
        msg_id=msg_id,
    )
    _check(status, "N-ACTION", aet)


def send_report(
    assoc: Association,
    transaction_uid: str,
    succeeded: Sequence[Entry],
    failed: Sequence[Entry],
    aet: str,
    msg_id: int,
) -> None:
    """The N-EVENT-REPORT; raises StorageCommitmentError unless the modality answers success."""
    if not _has_context(assoc):
        raise StorageCommitmentError(
            f"Storage commitment - Unable to send N-EVENT-REPORT request to AET: {aet}"
        )
    status, _reply = assoc.send_n_event_report(
        result_dataset(transaction_uid, succeeded, failed),
        FAILURES_EXIST if failed else ALL_COMMITTED,
        PUSH_MODEL,
        PUSH_MODEL_INSTANCE,
        msg_id=msg_id,
    )
    _check(status, "N-EVENT-REPORT", aet)


def _has_context(assoc: Association) -> bool:
    return any(cx.abstract_syntax == PUSH_MODEL for cx in assoc.accepted_contexts)


def _check(status: Dataset, message: str, aet: str) -> None:
    code = getattr(status, "Status", None)
    if code is None:
        raise StorageCommitmentError(
            f"Storage commitment - Unable to read {message} response from AET: {aet}"
        )
    if int(code) != SUCCESS:
        raise StorageCommitmentError(
            f"Storage commitment - The request cannot be handled by remote AET: {aet} "
            f"({message} status 0x{int(code):04X})"
        )


# --- asking a modality -------------------------------------------------------------------------


class CommitmentRequestFailed(RuntimeError):
    """The modality did not take the request; its report says Failure, with `reason`."""

    def __init__(self, reason: str, transaction_uid: str, position: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transaction_uid = transaction_uid
        self.position = position


@attrs.frozen
class CommitmentTarget:
    name: str  # the modality's symbolic name
    configuration: dict[str, Any]  # as the SCU takes it (AET, Host, Port, Timeout...)


def request_commitment(
    commitments: StorageCommitments,
    scu: StorageCommitmentScu,
    destination: CommitmentTarget,
    instances: Sequence[Entry],
    origin: Origin,
    job_id: str | None = None,
) -> tuple[str, int]:
    """Records a pending report, then sends the N-ACTION (the N-EVENT-REPORT may come back
    at once, to any process); returns the transaction UID and the log position. A refusal is
    recorded (the report fails) and raised as CommitmentRequestFailed."""
    transaction_uid = new_transaction_uid()
    remote_aet = str(destination.configuration.get("AET", ""))
    position = commitments.request(
        transaction_uid, destination.name, remote_aet, instances, origin, job_id
    )
    try:
        scu.request_storage_commitment(destination.configuration, transaction_uid, instances)
    except Exception as error:  # refused, unreachable, timed out: the report says why
        reason = str(error) or type(error).__name__
        log.warning("storage commitment request to AET %r failed: %s", remote_aet, reason)
        failed = commitments.request_failed(transaction_uid, reason, origin)
        raise CommitmentRequestFailed(reason, transaction_uid, failed or position) from None
    return transaction_uid, position


# --- the SCP's handlers --------------------------------------------------------------------------


@attrs.frozen
class Peer:
    """Who is asking, as the association's negotiation found it."""

    calling_aet: str
    called_aet: str
    remote_ip: str
    modality: str  # its symbolic name, "" when the AET is no known modality


Answer = tuple[int | Dataset, Dataset | None]


class StorageCommitmentScp:
    """N-ACTION and N-EVENT-REPORT requests, each recorded as events before the answer."""

    def __init__(self, commitments: StorageCommitments, committed: Callable[[int], None]) -> None:
        """`committed(position)`: waits until the read models show the appended events."""
        self.commitments = commitments
        self.committed = committed

    def on_action(self, event: evt.Event, peer: Peer) -> Answer:
        """A modality asks Chronicle to commit instances; the answer goes out later, from the
        processor (adapters/processors/storage_commitment)."""
        try:
            request = self._parse_action(event)
            if not peer.modality:  # Orthanc: "Unknown remote modality for storage commitment"
                raise InvalidCommitment(f"unknown remote modality {peer.calling_aet!r}")
            self.commitments.receive_request(
                request.transaction_uid,
                peer.calling_aet,
                peer.called_aet,
                peer.modality,
                request.succeeded,
                _origin(peer),
            )
        except InvalidCommitment as refused:
            log.warning("storage commitment request from AET %r: %s", peer.calling_aet, refused)
            return _failure(refused), None
        log.info(
            "storage commitment request from AET %r: %d instance(s), transaction %s",
            peer.calling_aet,
            len(request.succeeded),
            request.transaction_uid,
        )
        return SUCCESS, None

    def on_event_report(self, event: evt.Event, peer: Peer) -> Answer:
        """A modality reports on a storage commitment (asked here or not, as Orthanc takes
        either)."""
        try:
            report = self._parse_report(event)
        except InvalidCommitment as refused:
            log.warning("storage commitment report from AET %r: %s", peer.calling_aet, refused)
            return _failure(refused), None
        position = self.commitments.receive_report(
            report.transaction_uid, peer.calling_aet, report.succeeded, report.failed, _origin(peer)
        )
        self.committed(position)
        log.info(
            "storage commitment report from AET %r for transaction %s: %d committed, %d failed",
            peer.calling_aet,
            report.transaction_uid,
            len(report.succeeded),
            len(report.failed),
        )
        return SUCCESS, None

    @staticmethod
    def _parse_action(event: evt.Event) -> Commitment:
        if event.action_type != REQUEST_STORAGE_COMMITMENT:
            raise InvalidCommitment(f"unknown action type {event.action_type}", NO_SUCH_ACTION)
        _check_instance(getattr(event.request, "RequestedSOPInstanceUID", None))
        return _decoded(lambda: parse_request(event.action_information))

    @staticmethod
    def _parse_report(event: evt.Event) -> Commitment:
        _check_instance(getattr(event.request, "AffectedSOPInstanceUID", None))
        return _decoded(lambda: parse_report(event.event_information, event.event_type))


def _decoded(parse: Callable[[], Commitment]) -> Commitment:
    """pydicom decodes lazily: a malformed dataset fails on first access, anywhere."""
    try:
        return parse()
    except InvalidCommitment:
        raise
    except Exception as error:
        raise InvalidCommitment(f"undecodable dataset ({type(error).__name__})") from None


def _check_instance(uid: Any) -> None:
    if str(uid or "") != PUSH_MODEL_INSTANCE:
        raise InvalidCommitment(
            "unexpected SOP instance UID for storage commitment", INVALID_OBJECT_INSTANCE
        )


def _failure(refused: InvalidCommitment) -> Dataset:
    status = Dataset()
    status.Status = refused.status
    status.ErrorComment = str(refused)[:64]
    return status


def _origin(peer: Peer) -> Origin:
    return Origin(
        Channel.DICOM,
        remote_ip=peer.remote_ip,
        remote_aet=peer.calling_aet,
        called_aet=peer.called_aet,
    )
