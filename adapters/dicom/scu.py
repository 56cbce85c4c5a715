"""Chronicle as a DICOM SCU (pynetdicom): C-ECHO, C-STORE, C-FIND and C-MOVE to a modality.

`modality` arguments are the normalised configurations of `domain.modality_config` (AET, Host,
Port, LocalAet, Timeout...). Association-level failures raise DicomNetworkError with a reason an
operator can act on; per-instance C-STORE outcomes go to the caller's `on_result`.

Two hazards are handled (see DESIGN.md): TCP_NODELAY on every socket (adapters/dicom/sockets),
and pynetdicom 3.0.4's reply race (adapters/dicom/reply_race); on top of the latter, every DIMSE
wait is bounded and an instance without a response is retried once on a fresh association.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from io import BytesIO
from typing import Any

from pydicom import Dataset, dcmread
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from adapters.delivery import OnResult
from adapters.dicom import reactor, storage_commitment
from adapters.dicom.reply_race import guard_reply_race
from adapters.dicom.sockets import NODELAY_HANDLERS
from adapters.dicom.tls import DicomTls
from domain.storage_commitment import Entry
from domain.transcoding import UNTRANSCODABLE, transcoded

log = logging.getLogger(__name__)

UNCOMPRESSED = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian)
MAX_CONTEXTS = 128
STORE_WARNINGS = {0xB000, 0xB006, 0xB007}
PENDING = {0xFF00, 0xFF01}


class DicomNetworkError(RuntimeError):
    """The association failed (refused, rejected, aborted, timed out...): `reason` says why.
    `dimse_status`: the remote answered the request with that failure status."""

    def __init__(self, reason: str, dimse_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.dimse_status = dimse_status


# How Orthanc describes C-FIND failure statuses in its errors.
FIND_FAILURES = {
    0xA700: "out of resources",
    0xA900: "identifier does not match SOP class",
    0xC000: "unable to process - invalid query ?",
    0xFE00: "matching terminated due to cancel request",
}


def status_text(status: int) -> str:
    from pynetdicom.status import code_to_category

    return f"0x{status:04X} ({code_to_category(status)})"


class StoreItem:
    """One file to send: its identifiers and the dataset bytes after the file meta."""

    def __init__(self, instance_id: str, data: bytes) -> None:
        self.instance_id = instance_id
        self.data = data
        self.sop_class, self.sop_instance, self.transfer_syntax, self.offset = _file_header(data)

    @property
    def dataset_bytes(self) -> bytes:
        return self.data[self.offset :]

    def decoded(self) -> Dataset:
        return dcmread(BytesIO(self.data), force=True)


def _file_header(data: bytes) -> tuple[UID, UID, UID, int]:
    stream = BytesIO(data)
    read_preamble(stream, force=False)
    meta = _read_file_meta_info(stream)
    return (
        UID(meta.MediaStorageSOPClassUID),
        UID(meta.MediaStorageSOPInstanceUID),
        UID(meta.TransferSyntaxUID),
        stream.tell(),
    )


def _store_contexts(items: list[StoreItem]) -> list[PresentationContext]:
    """One context per (SOP class, transfer syntax) sent, plus the uncompressed syntaxes as
    a fallback (Orthanc proposes them too): a peer that does not take a compressed syntax
    gets the file transcoded."""
    wanted: dict[tuple[str, str], None] = {}
    for item in items:
        wanted[(item.sop_class, item.transfer_syntax)] = None
    for sop_class, _ in list(wanted):
        wanted.setdefault((sop_class, ExplicitVRLittleEndian), None)
        wanted.setdefault((sop_class, ImplicitVRLittleEndian), None)
    return [build_context(sop_class, [syntax]) for sop_class, syntax in wanted]


def _batches(items: list[StoreItem]) -> Iterator[list[StoreItem]]:
    """Consecutive groups of files needing at most MAX_CONTEXTS presentation contexts."""
    batch: list[StoreItem] = []
    for item in items:
        if batch and len(_store_contexts([*batch, item])) > MAX_CONTEXTS:
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


class DicomClient:
    def __init__(
        self,
        local_aet: str,
        timeout: float,
        maximum_pdu_length: int = 0,
        tls: DicomTls | None = None,
    ) -> None:
        """`tls`: for associations to modalities with UseDicomTls."""
        reactor.install()
        self.local_aet = local_aet
        self.timeout = timeout
        self.maximum_pdu_length = maximum_pdu_length
        self.tls = tls
        self._message_ids = _MessageIds()

    @classmethod
    def from_settings(cls, settings: Any) -> DicomClient:
        return cls(
            settings.dicom_aet,
            settings.dicom_scu_timeout,
            settings.dicom_maximum_pdu_length,
            DicomTls.from_settings(settings),
        )

    def _tls_arguments(self, modality: dict[str, Any], host: str) -> tuple[Any, str] | None:
        if not modality.get("UseDicomTls"):
            return None
        if self.tls is None:
            raise DicomNetworkError(
                f"modality {modality.get('AET')!r} uses DICOM TLS, but no DicomTlsCertificate "
                "and DicomTlsPrivateKey are configured"
            )
        return self.tls.client_context(), host

    # -- associations ----------------------------------------------------------------------

    def _timeout(self, modality: dict[str, Any]) -> float:
        configured = modality.get("Timeout") or 0
        return float(configured) if float(configured) > 0 else self.timeout

    @contextmanager
    def association(
        self,
        modality: dict[str, Any],
        contexts: list[PresentationContext],
        ext_neg: list[Any] | None = None,
    ) -> Iterator[Association]:
        """`ext_neg`: extended negotiation items (SCP/SCU role selection...)."""
        assoc = self._open(modality, contexts, ext_neg)
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()
            elif not assoc.is_aborted:
                assoc.abort()

    def _open(
        self,
        modality: dict[str, Any],
        contexts: list[PresentationContext],
        ext_neg: list[Any] | None = None,
    ) -> Association:
        timeout = self._timeout(modality)
        ae = AE(ae_title=modality.get("LocalAet") or self.local_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        ae.connection_timeout = timeout
        ae.maximum_pdu_size = self.maximum_pdu_length
        ae.requested_contexts = contexts
        aet, host, port = str(modality["AET"]), str(modality["Host"]), int(modality["Port"])
        opened = threading.Event()
        handlers = [*NODELAY_HANDLERS, (evt.EVT_CONN_OPEN, lambda _event: opened.set())]
        tls_args = self._tls_arguments(modality, host)
        try:
            assoc = ae.associate(
                host, port, ae_title=aet, evt_handlers=handlers, tls_args=tls_args, ext_neg=ext_neg
            )
        except OSError as error:  # the host name does not resolve, or the address is invalid
            raise DicomNetworkError(f"cannot reach {host}:{port}: {error}") from None
        if not assoc.is_established:
            raise DicomNetworkError(_association_failure(assoc, aet, host, port, opened.is_set()))
        guard_reply_race(assoc)
        return assoc

    # -- C-ECHO ----------------------------------------------------------------------------

    def echo(self, modality: dict[str, Any]) -> None:
        with self.association(modality, [build_context(Verification)]) as assoc:
            status = assoc.send_c_echo()
            _check_final(status, "C-ECHO", modality)

    # -- C-STORE ---------------------------------------------------------------------------

    def store(
        self,
        modality_configuration: dict[str, Any],
        files: Iterable[tuple[str, bytes]],
        on_result: OnResult,
        move_originator_aet: str = "",
        move_originator_id: int = 0,
    ) -> None:
        """Sends the files over one association (more if >128 contexts are needed).

        `on_result(instance id, succeeded, error)` is called once per file. Raises
        DicomNetworkError when no association can be made; files not reported then were not sent.
        """
        items = []
        for instance_id, data in files:
            try:
                items.append(StoreItem(instance_id, data))
            except Exception as exc:  # not a DICOM file with a file meta: cannot be sent
                on_result(instance_id, False, f"unreadable DICOM file: {exc}")
        originator = (move_originator_aet, move_originator_id)
        for batch in _batches(items):
            _StoreSession(self, modality_configuration, batch, on_result, originator).run()

    # -- storage commitment (N-ACTION, N-EVENT-REPORT) ------------------------------------

    def request_storage_commitment(
        self, modality: dict[str, Any], transaction_uid: str, instances: Sequence[Entry]
    ) -> None:
        """Asks the modality to commit the instances; its report comes to the SCP later."""
        with self.association(modality, storage_commitment.request_contexts()) as assoc:
            storage_commitment.send_request(
                assoc, transaction_uid, instances, str(modality["AET"]), self._message_ids.take()
            )

    def report_storage_commitment(
        self,
        modality: dict[str, Any],
        transaction_uid: str,
        succeeded: Sequence[Entry],
        failed: Sequence[Entry],
    ) -> None:
        """Tells the modality which of the instances it asked about are committed."""
        contexts = storage_commitment.request_contexts()
        with self.association(modality, contexts, storage_commitment.report_roles()) as assoc:
            storage_commitment.send_report(
                assoc,
                transaction_uid,
                succeeded,
                failed,
                str(modality["AET"]),
                self._message_ids.take(),
            )

    # -- C-FIND ----------------------------------------------------------------------------

    def find(
        self, modality: dict[str, Any], identifier: Dataset, model: str = "study"
    ) -> list[Dataset]:
        """The answers of a C-FIND; `model` is "patient", "study" or "worklist"."""
        sop_class = {
            "patient": PatientRootQueryRetrieveInformationModelFind,
            "study": StudyRootQueryRetrieveInformationModelFind,
            "worklist": ModalityWorklistInformationFind,
        }[model]
        answers: list[Dataset] = []
        with self.association(modality, [build_context(sop_class)]) as assoc:
            for status, answer in assoc.send_c_find(identifier, sop_class):
                code = int(getattr(status, "Status", -1))
                if code in PENDING and answer is not None:
                    answers.append(answer)
                elif code not in PENDING:
                    _check_final(status, "C-FIND", modality)
        return answers

    # -- C-MOVE ----------------------------------------------------------------------------

    def move(
        self, modality: dict[str, Any], identifier: Dataset, target_aet: str, model: str = "study"
    ) -> dict[str, int]:
        """Asks the modality to send the matches to `target_aet`; returns sub-operation counts."""
        sop_class = {
            "patient": PatientRootQueryRetrieveInformationModelMove,
            "study": StudyRootQueryRetrieveInformationModelMove,
        }[model]
        final: Dataset | None = None
        with self.association(modality, [build_context(sop_class)]) as assoc:
            for status, _identifier in assoc.send_c_move(identifier, target_aet, sop_class):
                final = status
        _check_final(final, "C-MOVE", modality)
        assert final is not None
        return {
            key: int(getattr(final, f"NumberOf{key}Suboperations", 0) or 0)
            for key in ("Completed", "Failed", "Warning")
        }


class _MessageIds:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0

    def take(self) -> int:
        with self._lock:
            self._next = self._next % 65535 + 1
            return self._next


class _StoreSession:
    """Sends a batch over one association; reconnects once per instance without a response."""

    def __init__(
        self,
        client: DicomClient,
        modality: dict[str, Any],
        items: list[StoreItem],
        on_result: OnResult,
        originator: tuple[str, int],
    ) -> None:
        self.client = client
        self.modality = modality
        self.items = items
        self.on_result = on_result
        self.originator = originator
        self.contexts = _store_contexts(items)
        self.assoc: Association | None = None

    def run(self) -> None:
        try:
            for item in self.items:
                self._send_with_retry(item)
        finally:
            self._close()

    def _send_with_retry(self, item: StoreItem) -> None:
        for attempt in (1, 2):
            assoc = self._association()
            try:
                succeeded, error = _send_one(assoc, item, self.originator, self.client)
            except _NoResponse as exc:
                self._close()
                if attempt == 2:
                    self.on_result(item.instance_id, False, str(exc))
                    return
                log.warning("no C-STORE response (%s); retrying once on a new association", exc)
                continue
            self.on_result(item.instance_id, succeeded, error)
            return

    def _association(self) -> Association:
        if self.assoc is None or not self.assoc.is_established:
            self.assoc = self.client._open(self.modality, self.contexts)
        return self.assoc

    def _close(self) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.assoc = None


class _NoResponse(Exception):
    pass


def _send_one(
    assoc: Association, item: StoreItem, originator: tuple[str, int], client: DicomClient
) -> tuple[bool, str]:
    context = _exact_context(assoc, item)
    if context is not None:
        status = _send_raw(assoc, context, item, originator, client._message_ids.take())
    elif _uncompressed_context(assoc, item):
        dataset = item.decoded()
        if item.transfer_syntax not in UNCOMPRESSED:
            try:  # the peer takes no compressed syntax of this file: send it uncompressed
                dataset = transcoded(dataset, ExplicitVRLittleEndian)
            except UNTRANSCODABLE as error:
                return False, f"cannot send {item.transfer_syntax} uncompressed: {error}"
        aet, message_id = originator
        status = assoc.send_c_store(
            dataset,
            msg_id=client._message_ids.take(),
            originator_aet=aet or None,
            originator_id=message_id or None,
        )
    else:
        return False, (
            f"the destination accepted no presentation context for SOP class "
            f"{item.sop_class} with transfer syntax {item.transfer_syntax}"
        )
    return _store_outcome(assoc, status)


def _store_outcome(assoc: Association, status: Dataset) -> tuple[bool, str]:
    code = getattr(status, "Status", None)
    if code is None:
        reason = "association aborted" if assoc.is_aborted else "no response"
        raise _NoResponse(f"C-STORE: {reason} within the DIMSE timeout")
    code = int(code)
    if code == 0 or code in STORE_WARNINGS:
        return True, ""
    comment = str(getattr(status, "ErrorComment", "") or "")
    return False, f"C-STORE failed with status {status_text(code)}" + (
        f": {comment}" if comment else ""
    )


def _exact_context(assoc: Association, item: StoreItem) -> PresentationContext | None:
    for context in assoc.accepted_contexts:
        if (
            context.abstract_syntax == item.sop_class
            and context.transfer_syntax[0] == item.transfer_syntax
        ):
            return context
    return None


def _uncompressed_context(assoc: Association, item: StoreItem) -> bool:
    return any(
        cx.abstract_syntax == item.sop_class and cx.transfer_syntax[0] in UNCOMPRESSED
        for cx in assoc.accepted_contexts
    )


def _send_raw(
    assoc: Association,
    context: PresentationContext,
    item: StoreItem,
    originator: tuple[str, int],
    message_id: int,
) -> Dataset:
    """pynetdicom's send_c_store, sending the file's dataset bytes as they are (no decode)."""
    if not assoc.is_established:
        raise _NoResponse("association no longer established")
    request = C_STORE()
    request.MessageID = message_id
    request.Priority = 0
    aet, originator_id = originator
    if aet:
        request.MoveOriginatorApplicationEntityTitle = aet
        request.MoveOriginatorMessageID = originator_id
    request.AffectedSOPClassUID = item.sop_class
    request.AffectedSOPInstanceUID = item.sop_instance
    request.DataSet = BytesIO(item.dataset_bytes)
    assoc._reactor_checkpoint.clear()
    while not assoc._is_paused and assoc.is_established:
        time.sleep(0.0001)
    try:
        assoc.dimse.send_msg(request, int(context.context_id or 0))
        _context_id, response = assoc.dimse.get_msg(block=True)
    finally:
        assoc._reactor_checkpoint.set()
    if response is None:
        assoc._handle_no_response()
        return Dataset()
    return assoc._check_received_status(response)


def _association_failure(assoc: Association, aet: str, host: str, port: int, opened: bool) -> str:
    where = f'connecting to AET "{aet}" at {host}:{port}'
    if not opened:
        return f"{where}: TCP connection failed (refused, unreachable or timed out)"
    if assoc.is_rejected:
        primitive = getattr(assoc.acceptor, "primitive", None)
        detail = ""
        if primitive is not None and getattr(primitive, "result_str", None):
            detail = f": {primitive.result_str}, {primitive.source_str}, {primitive.reason_str}"
        return f"{where}: association rejected{detail}"
    if assoc.is_aborted:
        if not assoc.accepted_contexts and assoc.rejected_contexts:
            return f"{where}: no presentation context accepted"
        return f"{where}: association aborted by the remote modality"
    return f"{where}: no association response (timeout or connection closed)"


def _check_final(status: Dataset | None, service: str, modality: dict[str, Any]) -> None:
    code = getattr(status, "Status", None)
    if code is None:
        raise DicomNetworkError(
            f'{service} to AET "{modality["AET"]}": no response (timeout, abort or closed '
            "connection)"
        )
    if service == "C-FIND" and int(code) not in (0x0000, *PENDING):
        description = FIND_FAILURES.get(int(code), "unknown status")
        raise DicomNetworkError(
            f'C-FIND SCU to AET "{modality["AET"]}" has failed with DIMSE status '
            f"0x{int(code):04X} ({description})",
            dimse_status=int(code),
        )
    if int(code) not in (0x0000, *STORE_WARNINGS):
        comment = str(getattr(status, "ErrorComment", "") or "")
        raise DicomNetworkError(
            f'{service} to AET "{modality["AET"]}" failed with status {status_text(int(code))}'
            + (f": {comment}" if comment else "")
        )
