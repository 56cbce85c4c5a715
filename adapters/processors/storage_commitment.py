"""The storage commitment SCP's answers: for each request a modality made (N-ACTION, recorded
by the DICOM server of any process), look the instances up and send the N-EVENT-REPORT on a
new association to that modality, then record what was answered. Orthanc does the same in a
StorageCommitmentScp job.

An instance is committed when exactly one stored instance has its SOP Instance UID and its
file reads back with the same SOP Instance UID and the SOP Class UID asked for (0x0119 when the
class differs, 0x0112 otherwise), as Orthanc checks it. At least once: an answer sent just
before a crash may be sent again, which a modality takes as the same report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from io import BytesIO
from typing import Any
from uuid import UUID

from pydicom import dcmread

from adapters.database import Database
from adapters.dicom.storage_commitment import StorageCommitmentScu
from adapters.node_directory import NodeDirectory
from adapters.safe_logging import error_kind
from adapters.storage import StorageArea
from domain.levels import INSTANCE
from domain.origin import Channel, Origin
from domain.remote_nodes import MODALITY
from domain.storage_commitment import (
    CLASS_INSTANCE_CONFLICT,
    NO_SUCH_OBJECT_INSTANCE,
    Entry,
    StorageCommitmentRequest,
    StorageCommitments,
)
from projections.hierarchy import queries as hierarchy
from projections.read_model import Positioned

log = logging.getLogger(__name__)

ANSWERER = Origin(Channel.SYSTEM, user="storage-commitment")


class StorageCommitmentAnswerer:
    name = "storage-commitment"
    topics = (StorageCommitmentRequest.Received,)
    follows = ("hierarchy",)  # the instances stored before the request are there

    def __init__(
        self,
        commitments: StorageCommitments,
        db: Database,
        storage: StorageArea,
        nodes: NodeDirectory,
        scu: StorageCommitmentScu,
    ) -> None:
        self.commitments = commitments
        self.db = db
        self.storage = storage
        self.nodes = nodes
        self.scu = scu

    def handle(self, batch: Sequence[Positioned]) -> None:
        for _, event in batch:
            self._answer(event.originator_id)

    def tick(self) -> float | None:
        return None

    def _answer(self, request_id: UUID) -> None:
        request = self.commitments.request_of(request_id)
        if request is None or request.answered:
            return
        succeeded, failed = self._looked_up(request.instances)
        try:
            self.scu.report_storage_commitment(
                self._modality(request), request.transaction_uid, succeeded, failed
            )
        except Exception as error:  # unreachable, refused, removed: the request says why
            reason = str(error) or type(error).__name__
            log.warning(
                "storage commitment report to AET %r not sent: %s", request.remote_aet, reason
            )
            self.commitments.answer_failed(request, reason, ANSWERER)
            return
        self.commitments.answered(request, succeeded, failed, ANSWERER)

    def _modality(self, request: StorageCommitmentRequest) -> dict[str, Any]:
        """The modality as configured now; the answer comes from the AET it called, unless
        its LocalAet says otherwise (as in Orthanc)."""
        configuration = self.nodes.for_sending(MODALITY, request.modality)
        if configuration is None:
            raise LookupError(f"no modality named {request.modality!r} any more")
        return {**configuration, "LocalAet": configuration.get("LocalAet") or request.called_aet}

    def _looked_up(self, instances: Sequence[Entry]) -> tuple[list[Entry], list[Entry]]:
        uids = [sop_instance for _, sop_instance in instances]
        with self.db.connection() as conn:
            rows = hierarchy.instances_by_dicom_keys(conn, INSTANCE, "SOPInstanceUID", uids)
        stored: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            stored.setdefault(row["identifiers"]["SOPInstanceUID"], []).append(row)
        succeeded: list[Entry] = []
        failed: list[Entry] = []
        for sop_class, sop_instance in instances:
            reason = self._reason(sop_class, sop_instance, stored.get(sop_instance, []))
            if reason is None:
                succeeded.append([sop_class, sop_instance])
            else:
                failed.append([sop_class, sop_instance, reason])
        return succeeded, failed

    def _reason(self, sop_class: str, sop_instance: str, rows: list[dict[str, Any]]) -> int | None:
        """None when committed, else the Failure Reason."""
        if len(rows) != 1:
            return NO_SUCH_OBJECT_INSTANCE
        found = self._file_uids(rows[0])
        if found is None or found[1] != sop_instance:
            return NO_SUCH_OBJECT_INSTANCE
        return None if found[0] == sop_class else CLASS_INSTANCE_CONFLICT

    def _file_uids(self, row: dict[str, Any]) -> tuple[str, str] | None:
        """The SOP Class and Instance UIDs its file says, None if it cannot be read."""
        try:
            data = self.storage.read(row["file_uuid"], row.get("file_compression"))
            dataset = dcmread(
                BytesIO(data),
                stop_before_pixels=True,
                specific_tags=["SOPClassUID", "SOPInstanceUID"],
            )
            return str(dataset.SOPClassUID), str(dataset.SOPInstanceUID)
        except Exception as error:
            log.warning("instance %s cannot be read back: %s", row["id"], error_kind(error))
            return None
