"""Store jobs: send resources' instances to a DICOM modality (DicomModalityStore) or an Orthanc
peer (OrthancPeerStore), in chunks of one association each, auditing every instance."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from adapters.delivery import Delivered, DeliveryAudit, Destination, deliver
from adapters.jobs import storage_commitment
from adapters.jobs.kinds import NETWORK_PROTOCOL_ERROR, JobServices, RunningJob, destination_of
from domain.transcoding import UNTRANSCODABLE, transcoded_bytes
from projections.hierarchy import queries as hierarchy

log = logging.getLogger(__name__)

STORE_TO_MODALITY = "DicomModalityStore"
STORE_TO_PEER = "OrthancPeerStore"
CHUNK = 100  # instances per association
AUDIT_GROUP = 10  # a crash leaves at most this many sends unaudited


def job_type_for(destination: Destination) -> str:
    return STORE_TO_MODALITY if destination.kind == "modality" else STORE_TO_PEER


REST_API = "REST API"
C_MOVE = "C-MOVE"  # a C-MOVE the DICOM server runs as a job (SynchronousCMove false)


def parameters(
    destination: Destination,
    resources: Sequence[str],
    options: dict[str, Any],
    description: str = REST_API,
) -> dict[str, Any]:
    """`description`: who asked, as Orthanc's job content says it; a REST call names its
    resources (the job's ParentResources), a C-MOVE the instances it matched."""
    return {
        "Destination": destination.reference(),
        "Resources": list(resources),
        "Options": options,
        "Description": description,
    }


class StoreJob:
    job_types = (STORE_TO_MODALITY, STORE_TO_PEER)

    def execute(self, job: RunningJob, services: JobServices) -> dict[str, Any]:
        destination = destination_of(job, services)
        options = job.parameters.get("Options", {})
        resources = job.parameters["Resources"]
        instances = _instances(services, resources)
        remaining = [i for i in instances if i.instance_id not in job.done]
        sender = services.senders.get(destination.kind)
        if sender is None:
            raise job.fail(NETWORK_PROTOCOL_ERROR, f"cannot send to a {destination.kind}")
        configuration = {**destination.configuration, **_overrides(options)}
        extra = _move_originator(options) if destination.kind == "modality" else {}
        audit = DeliveryAudit(
            services.archive, destination, job.origin, job.job_id, group=AUDIT_GROUP
        )
        failed: list[str] = []
        sent_before = len(instances) - len(remaining)
        read = _reader(services, options.get("Transcode"))
        for start in range(0, len(remaining), CHUNK):
            chunk = remaining[start : start + CHUNK]
            chunk_failed = deliver(sender, configuration, chunk, read, audit, **extra)
            failed += chunk_failed
            delivered = [i.instance_id for i in chunk if i.instance_id not in chunk_failed]
            progress = round(100 * (sent_before + start + len(chunk)) / max(len(instances), 1))
            if not _progressed(services, job, min(progress, 99), delivered):
                break  # paused or cancelled while this chunk was being sent
        content = _content(services, destination, job.parameters, len(instances), len(failed))
        if failed and not options.get("Permissive", False):
            details = f"{len(failed)} of {len(instances)} instances failed"
            raise job.fail(NETWORK_PROTOCOL_ERROR, details)
        if options.get("StorageCommitment") and destination.kind == "modality":
            content["StorageCommitmentTransactionUID"] = storage_commitment.after_store(
                services, job, destination, configuration, instances, failed
            )
        return content


def _instances(services: JobServices, resources: Sequence[str]) -> list[Delivered]:
    """The instances under the resources, each with its DICOM identifiers for the audit."""
    with services.db.connection() as conn:
        rows = hierarchy.instances_with_identifiers(conn, list(resources))
    return [Delivered.from_row(row) for row in rows]


def _progressed(
    services: JobServices, job: RunningJob, progress: int, delivered: list[str]
) -> bool:
    from domain.jobs import JobStateError

    try:
        services.archive.progress_job(job.job_id, progress, delivered)
    except JobStateError:
        return False
    return True


def _content(
    services: JobServices,
    destination: Destination,
    job_parameters: dict[str, Any],
    count: int,
    failed: int,
) -> dict[str, Any]:
    """Orthanc's content of a store job, field for field."""
    description = job_parameters.get("Description", REST_API)
    content: dict[str, Any] = {
        "Description": description,
        "FailedInstancesCount": failed,
        "InstancesCount": count,
    }
    if description == REST_API:
        content["ParentResources"] = list(job_parameters["Resources"])
    if destination.kind == "modality":
        content["LocalAet"] = services.local_aet
        content["RemoteAet"] = destination.remote_aet
        options = job_parameters.get("Options", {})
        if options.get("MoveOriginatorAet"):
            content["MoveOriginatorAET"] = str(options["MoveOriginatorAet"])
            content["MoveOriginatorID"] = int(options.get("MoveOriginatorID") or 0)
    else:
        content["Peer"] = [destination.configuration.get("Url", "")]
    return content


def _reader(services: JobServices, target: str | None) -> Callable[[str, Any], bytes]:
    """How the job reads its files: as stored, or in the `Transcode` syntax (a file that
    cannot be is sent as stored, and logged)."""
    if not target:
        return services.storage.read

    def read(file_uuid: str, compression: Any = None) -> bytes:
        data = services.storage.read(file_uuid, compression)
        try:
            return transcoded_bytes(data, target)
        except UNTRANSCODABLE as error:
            log.warning("file %s sent as stored, not in %s: %s", file_uuid, target, error)
            return data

    return read


def _overrides(options: dict[str, Any]) -> dict[str, Any]:
    """Per-job overrides of the destination (Orthanc's CalledAet/Host/Port/LocalAet/Timeout)."""
    names = {
        "CalledAet": "AET",
        "Host": "Host",
        "Port": "Port",
        "LocalAet": "LocalAet",
        "Timeout": "Timeout",
    }
    return {target: options[source] for source, target in names.items() if source in options}


def _move_originator(options: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if options.get("MoveOriginatorAet"):
        extra["move_originator_aet"] = str(options["MoveOriginatorAet"])
    if options.get("MoveOriginatorID"):
        extra["move_originator_id"] = int(options["MoveOriginatorID"])
    return extra
