"""Chronicle's DICOM server (pynetdicom): C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET.

Security, decided once per association (EVT_REQUESTED), as Orthanc does:
- the called AE title must be ours when dicom_check_called_aet is set;
- the calling AE title must be a known modality (and come from its host when
  dicom_check_modality_host is set), unless a DicomAlwaysAllow* option opens that service;
- a known modality gets the services its Allow* flags grant; the presentation contexts of the
  other services are rejected, and an association asking for nothing allowed is rejected
  ("calling AE title not recognised").
No patient data is logged: pynetdicom's identifier logging is turned off.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt, register_uid
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.service_class import ServiceClass, StorageServiceClass
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
    uid_to_service_class,
)

from adapters import stage_timing
from adapters.dicom import find, reactor, scp_retrieve
from adapters.dicom.listener import GatedAssociationServer, PendingConnections, PendingLimits
from adapters.dicom.sockets import set_nodelay
from adapters.dicom.storage_commitment import Peer, StorageCommitmentScp, scp_context
from adapters.dicom.tls import DicomTls
from adapters.lua.dicom_callbacks import (
    FindFilterFailed,
    decides_negotiation,
    filter_find_query,
    negotiated_syntaxes,
)
from adapters.recycling import StorageFull
from domain.archive import StoreStatus
from domain.dicom_files import InvalidDicomFile
from domain.dicom_text import parse_encoding
from domain.origin import Channel, Origin
from domain.remote_nodes import MODALITY
from domain.runtime_settings import matching_transfer_syntaxes
from domain.storage_commitment import StorageCommitments
from projections.configuration.queries import list_nodes

if TYPE_CHECKING:
    from adapters.node import ChronicleNode

log = logging.getLogger(__name__)

SERVICES = ("echo", "store", "find", "move", "get")
# Storage commitment: a modality's N-ACTION (asking) and N-EVENT-REPORT (reporting), allowed
# by its AllowNAction and AllowEventReport (AllowStorageCommitment sets both), as in Orthanc.
N_ACTION, EVENT_REPORT = "n-action", "event-report"
COMMITMENT_FLAGS = {N_ACTION: "AllowNAction", EVENT_REPORT: "AllowEventReport"}
QR_CONTEXTS = {
    "find": (
        PatientRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelFind,
    ),
    "move": (
        PatientRootQueryRetrieveInformationModelMove,
        StudyRootQueryRetrieveInformationModelMove,
    ),
    "get": (PatientRootQueryRetrieveInformationModelGet, StudyRootQueryRetrieveInformationModelGet),
}
SUCCESS, PENDING = 0x0000, 0xFF00
REFUSED = 0x0124  # Refused: not authorised
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0xC001
FIND_UNABLE_TO_PROCESS = 0xC000
# Retired storage SOP classes DCMTK (hence Orthanc) accepts and pynetdicom does not know.
RETIRED_STORAGE = (
    "1.2.840.10008.5.1.1.30",  # Hardcopy Grayscale Image
    "1.2.840.10008.5.1.1.31",  # Hardcopy Color Image
    "1.2.840.10008.5.1.4.1.1.3",  # Ultrasound Multi-frame Image (Retired)
    "1.2.840.10008.5.1.4.1.1.5",  # Nuclear Medicine Image (Retired)
    "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound Image (Retired)
    "1.2.840.10008.5.1.4.1.1.8",  # Standalone Overlay
    "1.2.840.10008.5.1.4.1.1.9",  # Standalone Curve
    "1.2.840.10008.5.1.4.1.1.10",  # Standalone Modality LUT
    "1.2.840.10008.5.1.4.1.1.11",  # Standalone VOI LUT
    "1.2.840.10008.5.1.4.1.1.12.3",  # X-Ray Angiographic Bi-Plane Image
    "1.2.840.10008.5.1.4.1.1.77.1",  # VL Image (Retired)
    "1.2.840.10008.5.1.4.1.1.77.2",  # VL Multi-frame Image (Retired)
    "1.2.840.10008.5.1.4.1.1.129",  # Standalone PET Curve
)
COMMITMENT_CONTEXT = scp_context()
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_MAX_REGISTERED_UIDS = 1000
_registered: set[str] = set()
_register_lock = threading.Lock()


# --- modalities --------------------------------------------------------------------------------


@attrs.frozen
class Modality:
    name: str
    aet: str
    host: str
    port: int
    allowed: frozenset[str]
    manufacturer: str = "Generic"


def modality_from_configuration(name: str, config: Any) -> Modality | None:
    """Orthanc's DicomModalities entry: [AET, host, port(, manufacturer)] or an object."""
    if isinstance(config, list | tuple) and len(config) >= 3:
        manufacturer = str(config[3]) if len(config) > 3 else "Generic"
        every = frozenset((*SERVICES, *COMMITMENT_FLAGS))
        return Modality(name, str(config[0]), str(config[1]), int(config[2]), every, manufacturer)
    if not isinstance(config, dict) or "AET" not in config:
        return None
    allowed = frozenset(
        [s for s in SERVICES if _flag(config.get(f"Allow{s.capitalize()}", True))]
        + [s for s, key in COMMITMENT_FLAGS.items() if _commitment_flag(config, key)]
    )
    return Modality(
        name,
        str(config["AET"]),
        str(config.get("Host", "")),
        int(config.get("Port", 104)),
        allowed,
        str(config.get("Manufacturer", "Generic")),
    )


def _commitment_flag(config: dict[str, Any], key: str) -> bool:
    return _flag(config.get(key, config.get("AllowStorageCommitment", True)))


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _same_aet(a: str, b: str) -> bool:
    return a.strip().upper() == b.strip().upper()  # Orthanc's StrictAetComparison is false


def _same_host(configured: str, address: str) -> bool:
    if configured == address:
        return True
    try:
        return socket.gethostbyname(configured) == address
    except OSError:
        return False


class ModalityPolicy:
    """Who may do what; the modalities come from the configuration read model."""

    def __init__(self, node: ChronicleNode) -> None:
        self.node = node

    def modalities(self) -> list[Modality]:
        try:
            with self.node.db.connection() as conn:
                rows = list_nodes(conn, MODALITY)
        except Exception:
            log.exception("cannot read the modalities from the configuration read model")
            return []
        found = [_safe_modality(row["name"], row["configuration"]) for row in rows]
        return [modality for modality in found if modality is not None]

    def calling(self, aet: str, address: str) -> list[Modality]:
        check_host = self.node.settings.dicom_check_modality_host
        return [
            m
            for m in self.modalities()
            if _same_aet(m.aet, aet) and (not check_host or _same_host(m.host, address))
        ]

    def destination(self, aet: str) -> Modality | None:
        return next((m for m in self.modalities() if _same_aet(m.aet, aet)), None)

    def access(self, calling_aet: str, called_aet: str, address: str) -> AssociationAccess:
        settings = self.node.settings
        known = self.calling(calling_aet, address)
        services = {s for s in SERVICES if getattr(settings, f"dicom_always_allow_{s}")}
        for modality in known:
            services |= modality.allowed
        return AssociationAccess(
            calling_aet=calling_aet,
            called_aet=called_aet,
            remote_ip=address,
            modality_name=known[0].name if known else "",
            services=frozenset(services),
            manufacturer=known[0].manufacturer if known else "Generic",
        )


def _safe_modality(name: str, config: Any) -> Modality | None:
    try:
        return modality_from_configuration(name, config)
    except (TypeError, ValueError):
        log.warning("modality %r has an invalid configuration: ignored", name)
        return None


@attrs.frozen
class AssociationAccess:
    calling_aet: str
    called_aet: str
    remote_ip: str
    modality_name: str
    services: frozenset[str]
    manufacturer: str = "Generic"

    def allows(self, service: str) -> bool:
        return service in self.services


# --- presentation contexts --------------------------------------------------------------------


# The order Orthanc accepts a storage context's syntaxes in, whatever the proposer's order;
# the other (compressed) syntaxes follow.
PREFERRED_SYNTAXES = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)


def accepted_transfer_syntaxes(patterns: Sequence[str]) -> list[str]:
    """The transfer syntaxes pydicom knows that match the configured UIDs or '*' patterns,
    in the order of preference Orthanc accepts them in."""
    matching = matching_transfer_syntaxes(patterns)
    preferred = [str(uid) for uid in PREFERRED_SYNTAXES]
    return sorted(
        matching, key=lambda uid: preferred.index(uid) if uid in preferred else len(preferred)
    )


def _storage_context(sop_class: str, syntaxes: list[str]) -> PresentationContext:
    context = build_context(sop_class, syntaxes)
    context.scu_role = True  # C-GET: the peer may take the SCP role for storage
    context.scp_role = True
    return context


def service_contexts(syntaxes: list[str]) -> dict[str, list[PresentationContext]]:
    retired = [uid for uid in RETIRED_STORAGE if _register_storage_class(uid)]
    return {
        "echo": [build_context(Verification)],
        "store": [
            _storage_context(uid, syntaxes)
            for uid in [*(cx.abstract_syntax for cx in AllStoragePresentationContexts), *retired]
        ],
        **{s: [build_context(uid) for uid in uids] for s, uids in QR_CONTEXTS.items()},
    }


def _unknown_storage_class(uid: str) -> bool:
    return bool(_UID.match(uid)) and uid_to_service_class(uid) is ServiceClass


def _register_storage_class(uid: str) -> bool:
    """Lets pynetdicom dispatch C-STORE for an unknown SOP class (UnknownSopClassAccepted)."""
    with _register_lock:
        if uid in _registered or not _unknown_storage_class(uid):
            return uid in _registered or uid_to_service_class(uid) is StorageServiceClass
        if len(_registered) >= _MAX_REGISTERED_UIDS:
            return False
        register_uid(uid, "ChronicleUnknown_" + uid.replace(".", "_"), StorageServiceClass)
        _registered.add(uid)
        return True


# --- the server --------------------------------------------------------------------------------


class DicomServer:
    def __init__(self, node: ChronicleNode, shared_port: bool = False) -> None:
        self.node = node
        self.shared_port = shared_port
        self.settings = node.settings
        self.policy = ModalityPolicy(node)
        self.live = node.live
        self._contexts_of: dict[tuple[str, ...], dict[str, list[PresentationContext]]] = {}
        self._server: Any = None
        self.commitment = StorageCommitmentScp(
            StorageCommitments(node.archive), self._wait_for_reports
        )

    @property
    def address(self) -> tuple[str, int]:
        host = getattr(self.settings, "dicom_host", None) or self.settings.http_host
        return host, self.settings.dicom_port

    def _ae(self) -> AE:
        ae = AE(ae_title=self.settings.dicom_aet)
        syntaxes = self.live.accepted_transfer_syntaxes
        contexts = [cx for cxs in self._contexts(syntaxes).values() for cx in cxs]
        ae.supported_contexts = [*contexts, COMMITMENT_CONTEXT]
        ae.maximum_pdu_size = self.settings.dicom_maximum_pdu_length
        ae.maximum_associations = self.settings.dicom_maximum_associations
        ae.acse_timeout = ae.dimse_timeout = self.settings.dicom_scp_timeout
        ae.network_timeout = self.settings.dicom_scp_timeout
        ae.require_called_aet = self.settings.dicom_check_called_aet
        return ae

    def start(self) -> None:
        _quiet_pynetdicom()
        reactor.install()
        try:
            self._server = self._listen()
        except OSError as exc:
            log.error("DICOM server not started on %s:%d: %s", *self.address, exc.strerror)
            return
        tls = " (TLS)" if self.settings.dicom_tls_enabled else ""
        log.info(
            "DICOM server %s listening on %s:%d%s", self.settings.dicom_aet, *self.address, tls
        )

    def _listen(self) -> Any:
        ae = self._ae()
        limits = PendingLimits(
            timeout=self.settings.dicom_pre_association_timeout,
            total=self.settings.dicom_maximum_pending_connections,
            per_host=self.settings.dicom_maximum_pending_per_host,
        )
        # What start_server(block=False) does, with a server class of our own.
        server = ae.make_server(
            self.address,
            evt_handlers=self._handlers(),
            server_class=GatedAssociationServer,
            pending=PendingConnections(limits),
            reuse_port=self.shared_port,
            tls=self._tls_context(),
        )
        threading.Thread(target=server.serve_forever, name="dicom-acceptor", daemon=True).start()
        ae._servers.append(server)  # where shutdown() takes it from
        return server

    def _tls_context(self) -> ssl.SSLContext | None:
        tls = DicomTls.from_settings(self.settings) if self.settings.dicom_tls_enabled else None
        return tls.server_context() if tls is not None else None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _handlers(self) -> list[tuple[Any, Any]]:
        return [
            (evt.EVT_CONN_OPEN, set_nodelay),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_MOVE, lambda event: scp_retrieve.on_move(self, event)),
            (evt.EVT_C_GET, lambda event: scp_retrieve.on_get(self, event)),
            (evt.EVT_N_ACTION, self._on_n_action),
            (evt.EVT_N_EVENT_REPORT, self._on_n_event_report),
        ]

    # -- association ------------------------------------------------------------------------

    def access_of(self, assoc: Any) -> AssociationAccess:
        access = getattr(assoc, "chronicle_access", None)
        if access is None:  # not negotiated by us: nothing allowed
            return AssociationAccess("", "", "", "", frozenset())
        return access

    def _on_requested(self, event: evt.Event) -> None:
        assoc = event.assoc
        request = assoc.requestor.primitive
        access = self.policy.access(
            str(request.calling_ae_title).strip(),
            str(request.called_ae_title).strip(),
            str(assoc.requestor.address),
        )
        assoc.chronicle_access = access
        contexts = self._allowed_contexts(access, request.presentation_context_definition_list)
        requested = {str(cx.abstract_syntax) for cx in request.presentation_context_definition_list}
        if not requested & {str(cx.abstract_syntax) for cx in contexts}:
            log.warning(
                "association from AET %r (%s) rejected: no requested service allowed",
                access.calling_aet,
                access.remote_ip,
            )
            assoc.acse.send_reject(0x01, 0x01, 0x03)  # calling AE title not recognised
            assoc.kill()
            return
        assoc.acceptor.supported_contexts = contexts

    def _allowed_contexts(
        self, access: AssociationAccess, requested: list[PresentationContext]
    ) -> list[PresentationContext]:
        syntaxes = self.live.accepted_transfer_syntaxes  # as REST last set them
        unknown_accepted = self.live.unknown_sop_class_accepted
        lua = self.node.lua
        if lua is not None and decides_negotiation(lua):  # the Is...Accepted callbacks decide
            peer = (access.calling_aet, access.remote_ip, access.called_aet)
            syntaxes, unknown_accepted = negotiated_syntaxes(
                lua, accepted_transfer_syntaxes(syntaxes), unknown_accepted, peer
            )
        by_service = self._contexts(syntaxes)
        contexts = [cx for s in SERVICES if access.allows(s) for cx in by_service[s]]
        if access.allows(N_ACTION) or access.allows(EVENT_REPORT):
            contexts.append(COMMITMENT_CONTEXT)
        if access.allows("store") and unknown_accepted:
            ordered = accepted_transfer_syntaxes(syntaxes)
            for cx in requested:
                uid = str(cx.abstract_syntax)
                if _unknown_storage_class(uid) and _register_storage_class(uid):
                    contexts.append(_storage_context(uid, ordered))
        return contexts

    def _contexts(self, syntaxes: list[str]) -> dict[str, list[PresentationContext]]:
        """The contexts of each service for these accepted syntaxes (built once per set)."""
        key = tuple(syntaxes)
        contexts = self._contexts_of.get(key)
        if contexts is None:
            if len(self._contexts_of) > 8:  # REST changed them often: keep only the latest
                self._contexts_of.clear()
            contexts = self._contexts_of[key] = service_contexts(accepted_transfer_syntaxes(key))
        return contexts

    # -- services ---------------------------------------------------------------------------

    def _on_echo(self, event: evt.Event) -> int:
        return SUCCESS if self.access_of(event.assoc).allows("echo") else REFUSED

    def _on_store(self, event: evt.Event) -> int:
        with stage_timing.ingest("dicom"):
            return self._store(event)

    def _store(self, event: evt.Event) -> int:
        access = self.access_of(event.assoc)
        if not access.allows("store"):
            return REFUSED
        origin = Origin(
            Channel.DICOM,
            remote_ip=access.remote_ip,
            remote_aet=access.calling_aet,
            called_aet=access.called_aet,
        )
        try:
            with stage_timing.stage("dataset"):
                data = event.encoded_dataset()
            result = self.node.ingestor.ingest(data, origin)
        except InvalidDicomFile:
            log.warning("C-STORE from AET %r: invalid DICOM file refused", access.calling_aet)
            return CANNOT_UNDERSTAND
        except StorageFull as full:  # Orthanc: "Out of resources", whatever the mode
            log.warning("C-STORE from AET %r refused: %s", access.calling_aet, full.details)
            return OUT_OF_RESOURCES
        except OSError as exc:
            log.error("C-STORE from AET %r: storage error: %s", access.calling_aet, exc.strerror)
            return OUT_OF_RESOURCES
        except Exception as exc:
            log.error("C-STORE from AET %r failed: %s", access.calling_aet, type(exc).__name__)
            return PROCESSING_FAILURE
        if result.status is StoreStatus.FILTERED_OUT:
            return result.cstore_status
        self._wait_for_read_models(result.position)
        return SUCCESS

    def _wait_for_read_models(self, position: int | None) -> None:
        """The instance is committed; make it visible to the peer's next C-FIND or REST read."""
        try:
            self.node.wait_for(position)
        except Exception as exc:
            log.warning("C-STORE: read models lag behind the log: %s", exc)

    def _on_n_action(self, event: evt.Event) -> tuple[Any, Any]:
        access = self.access_of(event.assoc)
        if not access.allows(N_ACTION):
            return REFUSED, None
        return self.commitment.on_action(event, _peer(access))

    def _on_n_event_report(self, event: evt.Event) -> tuple[Any, Any]:
        access = self.access_of(event.assoc)
        if not access.allows(EVENT_REPORT):
            return REFUSED, None
        return self.commitment.on_event_report(event, _peer(access))

    def _wait_for_reports(self, position: int) -> None:
        """A report is recorded; make it visible to the next GET /storage-commitment/{id}."""
        try:
            self.node.wait_for(position, ("storage_commitment",))
        except Exception as exc:
            log.warning("storage commitment report: read model lags behind the log: %s", exc)

    def _on_find(self, event: evt.Event) -> Iterator[tuple[int, Any]]:
        access = self.access_of(event.assoc)
        if not access.allows("find"):
            yield REFUSED, None
            return
        encoding = parse_encoding(self.live.default_encoding)
        try:
            identifier = event.identifier
            if self.node.lua is not None:
                identifier = filter_find_query(self.node.lua, identifier, _find_origin(access))
            with self.node.db.connection() as conn:
                query = find.parse_query(identifier)
                matches = find.find_matches(conn, query)
        except (find.InvalidQuery, FindFilterFailed) as exc:  # Orthanc: "unable to process" too
            log.warning("C-FIND from AET %r: %s", access.calling_aet, exc)
            yield FIND_UNABLE_TO_PROCESS, None
            return
        except Exception as exc:
            log.error("C-FIND from AET %r failed: %s", access.calling_aet, type(exc).__name__)
            yield FIND_UNABLE_TO_PROCESS, None
            return
        for match in matches:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield PENDING, find.answer_dataset(query, match, self.settings.dicom_aet, encoding)


def _peer(access: AssociationAccess) -> Peer:
    return Peer(access.calling_aet, access.called_aet, access.remote_ip, access.modality_name)


def _find_origin(access: AssociationAccess) -> dict[str, str]:
    """IncomingFindRequestFilter's `origin`, as Orthanc 1.10.1 gives it."""
    return {
        "CalledAet": access.called_aet,
        "Manufacturer": access.manufacturer,
        "RemoteAet": access.calling_aet,
        "RemoteIp": access.remote_ip,
    }


def _quiet_pynetdicom() -> None:
    """No identifiers (patient data) in the logs."""
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
