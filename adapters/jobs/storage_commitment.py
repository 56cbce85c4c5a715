"""C-STORE chained with storage commitment: the `StorageCommitment` option of a store job to a
modality (Orthanc 1.6+). Once every instance is sent, one N-ACTION names them all; the report
the modality sends back is at /storage-commitment/{StorageCommitmentTransactionUID}."""

from __future__ import annotations

from typing import Any

from adapters.delivery import Delivered, Destination
from adapters.dicom.storage_commitment import (
    CommitmentRequestFailed,
    CommitmentTarget,
    StorageCommitmentScu,
    request_commitment,
)
from adapters.jobs.kinds import NETWORK_PROTOCOL_ERROR, JobServices, RunningJob
from domain.jobs import RUNNING
from domain.storage_commitment import Entry, StorageCommitments, new_transaction_uid
from projections.hierarchy import queries as hierarchy


def after_store(
    services: JobServices,
    job: RunningJob,
    destination: Destination,
    configuration: dict[str, Any],
    instances: list[Delivered],
    failed: list[str],
) -> str:
    """The transaction UID the job's content names. As in Orthanc, the request goes only once
    every instance is sent (a permissive job with failures asks nothing, nor one paused or
    cancelled halfway; its UID then names no report); a refused request fails the job unless
    it is permissive."""
    if failed or not instances or services.archive.job(job.job_id).state != RUNNING:
        return new_transaction_uid()
    scu = services.senders.get(destination.kind)
    if not isinstance(scu, StorageCommitmentScu):
        raise job.fail(NETWORK_PROTOCOL_ERROR, "no DICOM client for storage commitment")
    try:
        uid, _position = request_commitment(
            StorageCommitments(services.archive),
            scu,
            CommitmentTarget(destination.name, configuration),
            _entries(services, instances),
            job.origin,
            job_id=job.job_id,
        )
    except CommitmentRequestFailed as refused:
        if not job.parameters.get("Options", {}).get("Permissive", False):
            raise job.fail(NETWORK_PROTOCOL_ERROR, refused.reason) from None
        return refused.transaction_uid
    return uid


def _entries(services: JobServices, instances: list[Delivered]) -> list[Entry]:
    """[SOP class UID, SOP instance UID] of each instance sent, in sending order."""
    with services.db.connection() as conn:
        rows = hierarchy.get_resources(conn, [i.instance_id for i in instances])
    return [
        [
            (rows.get(i.instance_id) or {}).get("sop_class_uid") or "",
            i.identifiers.get("SOPInstanceUID", ""),
        ]
        for i in instances
    ]
