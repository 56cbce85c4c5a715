"""A modality that speaks storage commitment (pynetdicom), for tests and Orthanc captures.

It asks (`ask`: an N-ACTION to a server), answers what it is asked (an N-EVENT-REPORT sent back
on a new association, with what `answer` decides) and records the reports it receives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pydicom import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.sop_class import Verification

from adapters.dicom.sockets import NODELAY_HANDLERS
from tests.support.server import free_port

PUSH_MODEL = "1.2.840.10008.1.20.1"
PUSH_MODEL_INSTANCE = "1.2.840.10008.1.20.1.1"
Entry = list[Any]
# Decides a report from the instances asked: (succeeded, failed with reasons).
Answer = Callable[[list[Entry]], tuple[list[Entry], list[Entry]]]


def all_committed(instances: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    return [list(entry) for entry in instances], []


def missing(uid: str) -> Answer:
    """Every instance committed but `uid` (0x0112)."""

    def answer(instances: list[Entry]) -> tuple[list[Entry], list[Entry]]:
        succeeded = [list(e) for e in instances if e[1] != uid]
        return succeeded, [[*e, 0x0112] for e in instances if e[1] == uid]

    return answer


def dataset(transaction_uid: str, succeeded: list[Entry], failed: list[Entry] | None) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    ds.ReferencedSOPSequence = _items(succeeded)
    if failed is not None:
        ds.FailedSOPSequence = _items(failed)
    return ds


def _items(entries: list[Entry]) -> DicomSequence:
    items = []
    for entry in entries:
        item = Dataset()
        item.ReferencedSOPClassUID = entry[0]
        item.ReferencedSOPInstanceUID = entry[1]
        if len(entry) > 2:
            item.FailureReason = entry[2]
        items.append(item)
    return DicomSequence(items)


def entries(sequence: Any, with_reason: bool = False) -> list[Entry]:
    found = []
    for item in sequence or []:
        entry = [str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID)]
        if with_reason:
            entry.append(int(item.FailureReason))
        found.append(entry)
    return found


class CommitmentPeer:
    def __init__(
        self,
        aet: str = "PEER",
        answer: Answer = all_committed,
        action_status: int = 0x0000,
        report_to: tuple[str, int, str] | None = None,
    ) -> None:
        """`report_to`: (host, port, AET) the peer sends its reports to; `action_status`: its
        answer to an N-ACTION (non-zero: it refuses, and reports nothing)."""
        self.aet = aet
        self.port = free_port()
        self.answer = answer
        self.action_status = action_status
        self.report_to = report_to
        self.requests: list[dict[str, Any]] = []  # the N-ACTIONs received
        self.reports: list[dict[str, Any]] = []  # the N-EVENT-REPORTs received
        self.answers_sent: list[int | None] = []  # the statuses its own reports got
        self.stored: list[str] = []  # the SOP instance UIDs received by C-STORE
        self._server: Any = None
        self._threads: list[threading.Thread] = []

    # -- as SCP ------------------------------------------------------------------------------

    def start(self) -> CommitmentPeer:
        ae = AE(ae_title=self.aet)
        ae.supported_contexts = AllStoragePresentationContexts  # it stores, too
        ae.add_supported_context(Verification)
        ae.add_supported_context(
            PUSH_MODEL, [ExplicitVRLittleEndian, ImplicitVRLittleEndian], True, True
        )
        self._server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[
                (evt.EVT_N_ACTION, self._on_action),
                (evt.EVT_N_EVENT_REPORT, self._on_report),
                (evt.EVT_C_STORE, self._on_store),
                *NODELAY_HANDLERS,
            ],
        )
        return self

    def stop(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> CommitmentPeer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def modality(self, **flags: Any) -> dict[str, Any]:
        return {"AET": self.aet, "Host": "127.0.0.1", "Port": self.port, **flags}

    def _on_store(self, event: Any) -> int:
        self.stored.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    def _on_action(self, event: Any) -> tuple[int, None]:
        info = event.action_information
        request = {
            "calling_aet": event.assoc.requestor.ae_title,
            "action_type": event.action_type,
            "transaction_uid": str(info.TransactionUID),
            "instances": entries(info.get("ReferencedSOPSequence")),
        }
        self.requests.append(request)
        if self.action_status == 0 and self.report_to is not None:
            thread = threading.Thread(target=self._report_back, args=(request,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self.action_status, None

    def _report_back(self, request: dict[str, Any]) -> None:
        time.sleep(0.2)  # after the N-ACTION response is out, as a modality would
        assert self.report_to is not None
        succeeded, failed = self.answer(request["instances"])
        host, port, aet = self.report_to
        self.answers_sent.append(
            report(self.aet, host, port, aet, request["transaction_uid"], succeeded, failed)
        )

    def _on_report(self, event: Any) -> tuple[int, None]:
        info = event.event_information
        context = event.assoc.accepted_contexts[0]
        self.reports.append(
            {
                "calling_aet": event.assoc.requestor.ae_title,
                "event_type": event.event_type,
                "transaction_uid": str(info.TransactionUID),
                "has_referenced_sequence": "ReferencedSOPSequence" in info,
                "has_failed_sequence": "FailedSOPSequence" in info,
                "succeeded": entries(info.get("ReferencedSOPSequence")),
                "failed": entries(info.get("FailedSOPSequence"), with_reason=True),
                # the reporter's role as the peer accepted it: Orthanc proposes SCP
                "reporter_roles": [context.as_scp, context.as_scu],
            }
        )
        return 0x0000, None

    def wait_for_reports(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.reports) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.reports

    # -- as SCU ------------------------------------------------------------------------------

    def ask(
        self,
        port: int,
        called_aet: str,
        transaction_uid: str,
        instances: list[Entry],
        action_type: int = 1,
    ) -> int | None:
        """An N-ACTION to the server; its status, None if the association failed."""

        def send(assoc: Any) -> Any:
            info = dataset(transaction_uid, instances, None)
            return assoc.send_n_action(info, action_type, PUSH_MODEL, PUSH_MODEL_INSTANCE)[0]

        return _exchange(self.aet, "127.0.0.1", port, called_aet, send, [])


def report(
    calling_aet: str,
    host: str,
    port: int,
    called_aet: str,
    transaction_uid: str,
    succeeded: list[Entry],
    failed: list[Entry],
    event_type: int | None = None,
) -> int | None:
    """An N-EVENT-REPORT to a server, proposing the SCP role; its status, None if none."""
    role = SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = PUSH_MODEL
    role.scu_role, role.scp_role = False, True

    def send(assoc: Any) -> Any:
        info = dataset(transaction_uid, succeeded, failed if failed else None)
        kind = event_type or (2 if failed else 1)
        return assoc.send_n_event_report(info, kind, PUSH_MODEL, PUSH_MODEL_INSTANCE)[0]

    return _exchange(calling_aet, host, port, called_aet, send, [role])


def _exchange(
    calling_aet: str,
    host: str,
    port: int,
    called_aet: str,
    send: Callable[[Any], Any],
    ext_neg: list[Any],
) -> int | None:
    """One request on an association of its own: the status answered, None if none."""
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(PUSH_MODEL, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = ae.associate(
        host, port, ae_title=called_aet, ext_neg=ext_neg or None, evt_handlers=NODELAY_HANDLERS
    )
    if not assoc.is_established:
        return None
    try:
        if not assoc.accepted_contexts:
            return None
        status = send(assoc)
        return int(status.Status) if "Status" in status else None
    finally:
        if assoc.is_established:
            assoc.release()
