"""C-MOVE and C-GET SCP handlers: the instances come from the hierarchy, the files from storage.

pynetdicom drives the sub-operations (pending responses, counts, the failed SOP instance list);
these generators yield the destination, the count, then one dataset per instance, and record
one export per instance with the outcome read from the C-STORE response (EVT_DIMSE_RECV).
The datasets are read without decoding their values, so pydicom writes the elements back as
they were received (same transfer syntax: the file's bytes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from io import BytesIO
from typing import TYPE_CHECKING, Any

from pydicom import Dataset, dcmread
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import evt
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import Verification

from adapters.delivery import Delivered, DeliveryAudit, Destination
from adapters.dicom import find
from adapters.dicom.find import InstanceToSend
from adapters.jobs import store
from domain.origin import Channel, Origin

if TYPE_CHECKING:
    from adapters.dicom.scp import AssociationAccess, DicomServer

log = logging.getLogger(__name__)

PENDING = 0xFF00
CANCELLED = 0xFE00
STORE_COMMAND = 0x8001  # C-STORE-RSP
STORE_OK = {0x0000, 0xB000, 0xB006, 0xB007}
UNCOMPRESSED = (ImplicitVRLittleEndian, ExplicitVRLittleEndian)
MAX_CONTEXTS = 128
EXPORT_BATCH = 100


class RetrieveRefused(RuntimeError):
    pass


class StoreResponses:
    """C-STORE-RSP statuses by SOP instance UID, collected from EVT_DIMSE_RECV."""

    def __init__(self) -> None:
        self._statuses: dict[str, int] = {}
        self._lock = threading.Lock()

    def on_receive(self, event: evt.Event) -> None:
        command = event.message.command_set
        if getattr(command, "CommandField", None) == STORE_COMMAND:
            with self._lock:
                self._statuses[str(command.AffectedSOPInstanceUID)] = int(command.Status)

    def outcome(self, sop_instance_uid: str) -> tuple[bool, str]:
        with self._lock:
            status = self._statuses.pop(sop_instance_uid, None)
        if status is None:
            return False, "not sent: no accepted presentation context, or no C-STORE response"
        if status in STORE_OK:
            return True, ""
        return False, f"C-STORE failed with status 0x{status:04X}"


def sub_operation_contexts(instances: list[InstanceToSend]) -> list[PresentationContext]:
    """One context per (SOP class, transfer syntax), plus implicit VR for uncompressed files."""
    wanted: dict[tuple[str, str], None] = {}
    for item in instances:
        wanted[(item.sop_class_uid, item.transfer_syntax)] = None
    for sop_class, syntax in list(wanted):
        if UID(syntax) in UNCOMPRESSED:
            wanted.setdefault((sop_class, ImplicitVRLittleEndian), None)
    return [build_context(sop, [syntax]) for sop, syntax in list(wanted)[:MAX_CONTEXTS]]


class Retrieval:
    """One C-MOVE or C-GET: reads the files, tracks outcomes, records the exports."""

    def __init__(
        self,
        server: DicomServer,
        access: AssociationAccess,
        instances: list[InstanceToSend],
        destination: str,
        remote_aet: str,
        kind: str,
    ) -> None:
        self.server = server
        self.kind = kind
        self.instances = instances
        self.responses = StoreResponses()
        origin = Origin(
            Channel.DICOM,
            remote_ip=access.remote_ip,
            remote_aet=access.calling_aet,
            called_aet=access.called_aet,
        )
        self.audit = DeliveryAudit(
            server.node.archive,
            Destination("modality", destination, {"AET": remote_aet}),
            origin,
            group=EXPORT_BATCH,
            recorded=lambda position: server.node.wait_for(position, ("exports",)),
        )
        self.attempted = 0

    def datasets(self, is_cancelled: Callable[[], bool]) -> Iterator[tuple[int, Dataset | None]]:
        try:
            for item in self.instances:
                if is_cancelled():
                    yield CANCELLED, None
                    return
                self.attempted += 1
                yield PENDING, self._dataset(item)
                self._record(item, *self.responses.outcome(item.identifiers["SOPInstanceUID"]))
        finally:
            self.flush()

    def fail_all(self, reason: str) -> None:
        for item in self.instances:
            self._record(item, False, reason)
        self.flush()

    def _dataset(self, item: InstanceToSend) -> Dataset:
        try:
            # force: a file received without its meta header is stored as it came
            storage = self.server.node.storage
            if item.file_compression is None:
                ds = dcmread(storage.path_of(item.file_uuid), force=True)
            else:
                data = storage.read(item.file_uuid, item.file_compression)
                ds = dcmread(BytesIO(data), force=True)
            if "TransferSyntaxUID" not in ds.file_meta and item.transfer_syntax:
                ds.file_meta.TransferSyntaxUID = UID(item.transfer_syntax)
            return ds
        except Exception as exc:
            log.error(
                "%s: cannot read the file of instance %s: %s",
                self.kind,
                item.instance_id,
                type(exc).__name__,
            )
            return _unsendable(item)  # pynetdicom counts it as a failed sub-operation

    def _record(self, item: InstanceToSend, succeeded: bool, error: str) -> None:
        delivered = Delivered(
            item.instance_id,
            item.series_id,
            item.study_id,
            item.patient_id,
            item.identifiers,
            item.file_uuid,
            item.file_compression,
        )
        try:
            self.audit.record(delivered, succeeded, error)
        except Exception:
            log.exception("could not record the exports of %s", self.kind)

    def flush(self) -> None:
        try:
            self.audit.flush()
        except Exception:
            log.exception("could not record the exports of %s", self.kind)


def _unsendable(item: InstanceToSend) -> Dataset:
    """A dataset pynetdicom refuses to send (no file meta), so the failure names the UID."""
    placeholder = Dataset()
    placeholder.SOPClassUID = item.sop_class_uid
    placeholder.SOPInstanceUID = item.identifiers["SOPInstanceUID"]
    return placeholder


def _instances(server: DicomServer, identifier: Dataset) -> list[InstanceToSend]:
    with server.node.db.connection() as conn:
        return find.instances_to_send(conn, identifier)


def on_move(server: DicomServer, event: evt.Event) -> Iterator[Any]:
    access = server.access_of(event.assoc)
    if not access.allows("move"):
        raise RetrieveRefused(f"C-MOVE not allowed for AET {access.calling_aet!r}")
    destination_aet = str(event.move_destination or "").strip()
    modality = server.policy.destination(destination_aet)
    if modality is None:
        log.warning("C-MOVE: unknown destination AET %r", destination_aet)
        yield None, None
        return
    instances = _instances(server, event.identifier)
    if not server.settings.synchronous_cmove:
        yield modality.host, modality.port  # never associated with: no sub-operation here
        _submit_move_job(server, event, access, modality.name, instances)
        yield 0
        return
    retrieval = Retrieval(server, access, instances, modality.name, modality.aet, "C-MOVE")
    yield modality.host, modality.port, _sub_association_kwargs(modality.aet, instances, retrieval)
    yield len(instances)
    sent = False
    try:
        for result in retrieval.datasets(lambda: event.is_cancelled):
            sent = True
            yield result
    finally:
        if not sent and instances:
            retrieval.fail_all(
                f"could not associate with {modality.aet} at {modality.host}:{modality.port}"
            )


def _submit_move_job(
    server: DicomServer,
    event: evt.Event,
    access: AssociationAccess,
    destination: str,
    instances: list[InstanceToSend],
) -> None:
    """Orthanc with SynchronousCMove false: the move becomes a DicomModalityStore job, seen in
    /jobs, and the SCU is told it succeeded at once."""
    origin = Origin(
        Channel.DICOM,
        remote_ip=access.remote_ip,
        remote_aet=access.calling_aet,
        called_aet=access.called_aet,
    )
    options = {"MoveOriginatorAet": access.calling_aet, "MoveOriginatorID": event.message_id}
    parameters = store.parameters(
        Destination("modality", destination, {}),
        [item.instance_id for item in instances],
        options,
        description=store.C_MOVE,
    )
    _, position = server.node.jobs.submit(store.STORE_TO_MODALITY, parameters, origin)
    server.node.wait_for(position, ("jobs",))  # in /jobs once the SCU hears of success


def _sub_association_kwargs(
    aet: str, instances: list[InstanceToSend], retrieval: Retrieval
) -> dict[str, Any]:
    from adapters.dicom.reply_race import guard_reply_race
    from adapters.dicom.sockets import set_nodelay

    return {
        "ae_title": aet,
        "contexts": sub_operation_contexts(instances) or [build_context(Verification)],
        "evt_handlers": [
            (evt.EVT_CONN_OPEN, set_nodelay),
            (evt.EVT_ESTABLISHED, lambda event: guard_reply_race(event.assoc)),
            (evt.EVT_DIMSE_RECV, retrieval.responses.on_receive),
        ],
    }


def on_get(server: DicomServer, event: evt.Event) -> Iterator[Any]:
    access = server.access_of(event.assoc)
    if not access.allows("get"):
        raise RetrieveRefused(f"C-GET not allowed for AET {access.calling_aet!r}")
    instances = _instances(server, event.identifier)
    retrieval = Retrieval(
        server,
        access,
        instances,
        access.modality_name or access.calling_aet,
        access.calling_aet,
        "C-GET",
    )
    yield len(instances)
    event.assoc.bind(evt.EVT_DIMSE_RECV, retrieval.responses.on_receive)
    try:
        yield from retrieval.datasets(lambda: event.is_cancelled)
    finally:
        event.assoc.unbind(evt.EVT_DIMSE_RECV, retrieval.responses.on_receive)
