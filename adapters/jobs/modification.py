"""Modify and anonymize jobs (Orthanc's "ResourceModification"): every instance under the
resources is modified (domain.dicom_modification) and stored through the ingest like any
instance, its stored event naming its source and the job; with `KeepSource` false, the sources
are then deleted in one delete. New UIDs are mapped once for the whole job, so the new study,
series and instances hang together.

Each modified instance is stored with its event before the next is made: a job that fails or
is interrupted halfway leaves the instances it completed, each with its event (its failure
says how many), never a file without one.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from adapters.jobs.kinds import JobServices, RunningJob
from domain.archive import StoreStatus
from domain.deidentification import PATIENT_NAME
from domain.dicom_files import InvalidDicomFile, identifiers, parse_dataset
from domain.dicom_modification import (
    Modification,
    ModificationRefused,
    anonymization_from_request,
    modification_from_request,
    with_method,
)
from domain.dicom_paths import DicomPath
from domain.dicom_writing import dataset_bytes
from domain.levels import LEVEL_NAMES, LEVEL_PATHS
from domain.main_tags import orthanc_ids
from domain.orthanc_errors import OrthancCode
from domain.transcoding import UNTRANSCODABLE, transcoded
from projections.hierarchy import queries as hierarchy

RESOURCE_MODIFICATION = "ResourceModification"
REST_API = "REST API"
PROGRESS_EVERY = 20  # instances between two progress events


def parameters(
    request: dict[str, Any],
    resources: list[str],
    *,
    anonymization: bool,
    level: int,
    output_level: int | None,
    patient_name: str | None,
    software: str,
) -> dict[str, Any]:
    """What the job needs to run in any process: the request as given (parsed again there),
    the level it works at, the level of its single output (None: several resources), and the
    generated PatientName an anonymization uses."""
    return {
        "Request": request,
        "Resources": resources,
        "IsAnonymization": anonymization,
        "Level": LEVEL_NAMES[level],
        "OutputLevel": None if output_level is None else LEVEL_NAMES[output_level],
        "PatientName": patient_name,
        "Software": software,
        "KeepSource": request.get("KeepSource", True),
        "Description": REST_API,
    }


def modification_of(job_parameters: dict[str, Any], private_creator: str = "") -> Modification:
    """The modification the parameters describe, with a UID map of its own."""
    request = job_parameters["Request"]
    if job_parameters["IsAnonymization"]:
        modification, _ = anonymization_from_request(request, private_creator)
        name = job_parameters.get("PatientName")
        if name is not None:
            modification.replace(DicomPath((), PATIENT_NAME), name, safe_for_anonymization=True)
        with_method(modification, job_parameters["Software"])
    else:
        modification = modification_from_request(request, private_creator)
    modification.level = LEVEL_NAMES.index(job_parameters["Level"])
    return modification


def modified_bytes(modification: Modification, data: bytes, target: str | None = None) -> bytes:
    return modified_file(modification, data, target)[0]


def modified_file(
    modification: Modification, data: bytes, target: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The modified file (in the `target` transfer syntax, if any), and its Orthanc IDs by
    level name."""
    ds: Dataset = parse_dataset(data)
    modification.apply(ds)
    if target is not None:
        transcoded(ds, target)
    ids = orthanc_ids(identifiers(ds))
    return dataset_bytes(ds), dict(zip(LEVEL_NAMES, ids, strict=True))


class ModificationJob:
    job_types = (RESOURCE_MODIFICATION,)

    def execute(self, job: RunningJob, services: JobServices) -> dict[str, Any]:
        modification = modification_of(job.parameters)
        modification.uid_seed = job.job_id  # run again, the job makes the same instances
        with services.db.connection() as conn:
            rows = hierarchy.instances_with_identifiers(conn, list(job.parameters["Resources"]))
        if not rows:
            raise job.fail(OrthancCode.UNKNOWN_RESOURCE, "No instance to modify")
        output = _Output(job.parameters.get("OutputLevel"))
        metadata = "AnonymizedFrom" if job.parameters["IsAnonymization"] else "ModifiedFrom"
        for count, row in enumerate(rows, start=1):
            try:
                stored = self._modify_one(job, services, modification, row, metadata)
            except (ModificationRefused, InvalidDicomFile, *UNTRANSCODABLE) as refused:
                details = f"{refused} ({count - 1} of {len(rows)} instances were stored)"
                code = OrthancCode.BAD_FILE_FORMAT
                if isinstance(refused, ModificationRefused):
                    code = OrthancCode[refused.code]
                raise job.fail(code, details) from None
            output.add(stored)
            if count % PROGRESS_EVERY == 0:
                services.archive.progress_job(job.job_id, round(99 * count / len(rows)), [])
        if not job.parameters.get("KeepSource", True):
            _delete_sources(services, job, rows)
        return {
            "Description": job.parameters.get("Description", REST_API),
            "FailedInstancesCount": 0,
            "InstancesCount": len(rows),
            "IsAnonymization": job.parameters["IsAnonymization"],
            **output.content(),
        }

    @staticmethod
    def _modify_one(
        job: RunningJob,
        services: JobServices,
        modification: Modification,
        row: dict[str, Any],
        metadata: str,
    ) -> dict[str, str]:
        data = services.storage.read(row["file_uuid"], row.get("file_compression"))
        target = job.parameters["Request"].get("Transcode")
        modified, new_ids = modified_file(modification, data, target)
        assert services.ingestor is not None
        sources = {"Instance": row["id"], "Series": row["series_id"]}
        sources.update(Study=row["study_id"], Patient=row["patient_id"])
        changed = {  # as Orthanc: the instance always, the others when their ID changed
            name: source
            for name, source in sources.items()
            if name == "Instance" or new_ids[name] != source
        }
        derived = {"metadata": metadata, "sources": changed, "job": job.job_id}
        result = services.ingestor.ingest(modified, job.origin, derived=derived)
        if not _stored(result.status, result.instance_id, row["id"], job.attempt):
            details = f"Error while storing a modified instance {row['id']}"
            raise job.fail(OrthancCode.CANNOT_STORE_INSTANCE, details)
        return {
            "Instance": result.instance_id,
            "Series": result.series_id,
            "Study": result.study_id,
            "Patient": result.patient_id,
        }


def _stored(status: StoreStatus, new_id: str, source_id: str, attempt: int) -> bool:
    """Whether the modified instance is stored now: refused, or the source itself made again,
    it is not (Orthanc's CannotStoreInstance); already there, it is when an earlier run of
    the job stored it (its UIDs derive from the job)."""
    if status is StoreStatus.SUCCESS:
        return True
    return status is StoreStatus.ALREADY_STORED and attempt > 1 and new_id != source_id


class _Output:
    """Orthanc's answer: the new resource of the output level, or every new resource."""

    def __init__(self, level: str | None) -> None:
        self.level = level
        self.first: dict[str, str] | None = None
        self.all: dict[str, set[str]] = {name: set() for name in LEVEL_NAMES}

    def add(self, stored: dict[str, str]) -> None:
        if self.first is None:
            self.first = stored
        for name, resource_id in stored.items():
            self.all[name].add(resource_id)

    def content(self) -> dict[str, Any]:
        if self.level is not None:
            if self.first is None:
                return {}
            resource_id = self.first[self.level]
            return {**_resource(self.level, resource_id), "PatientID": self.first["Patient"]}
        order = reversed(LEVEL_NAMES)  # instances first, as Orthanc lists them
        return {
            "Resources": [
                _resource(name, resource_id)
                for name in order
                for resource_id in sorted(self.all[name])
            ]
        }


def _resource(level_name: str, resource_id: str) -> dict[str, str]:
    path = LEVEL_PATHS[LEVEL_NAMES.index(level_name)]
    return {"ID": resource_id, "Path": f"/{path}/{resource_id}", "Type": level_name}


def _delete_sources(services: JobServices, job: RunningJob, rows: list[dict[str, Any]]) -> None:
    """The sources go in one delete, once every modified instance is stored."""
    with services.db.connection() as conn:
        vanishing = hierarchy.vanishing_with(conn, rows)
    services.archive.delete_instances([row["id"] for row in rows], job.origin, vanishing)
