"""Split and merge jobs (Orthanc's "SplitStudy" and "MergeStudy"): each instance named at
submission is stored again as a new instance (domain.study_restructuring) through the ingest,
its stored event naming its source and the job; unless `KeepSource`, the sources then go in
one delete.

Which instances move, the new series UIDs and (for a merge) the target's patient and study
tags are fixed at submission, as Orthanc fixes them, so a resumed job does the same work.
Each new instance is stored with its event before the next is made: a job that fails halfway
leaves the instances it completed, each with its event, and its sources.
"""

from __future__ import annotations

from typing import Any

from pydicom.uid import generate_uid

from adapters.jobs.kinds import JobServices, RunningJob
from domain.archive import StoreStatus
from domain.dicom_files import InvalidDicomFile, parse_dataset
from domain.dicom_writing import dataset_bytes
from domain.orthanc_errors import OrthancCode
from domain.study_restructuring import Restructuring
from projections.hierarchy import queries as hierarchy

SPLIT_STUDY = "SplitStudy"
MERGE_STUDY = "MergeStudy"
REST_API = "REST API"
PROGRESS_EVERY = 20  # instances between two progress events


def parameters(
    study: str,
    instances: list[dict[str, Any]],
    restructuring: Restructuring,
    keep_source: bool,
) -> dict[str, Any]:
    """`instances`: the rows of the instances to move, in order; each source series gets a
    new SeriesInstanceUID."""
    series_uids: dict[str, str] = {}
    for row in instances:
        series_uids.setdefault(row["series_id"], generate_uid(prefix=None))
    return {
        "Study": study,
        "Instances": [row["id"] for row in instances],
        "SeriesUIDs": series_uids,
        "StudyUID": restructuring.study_uid,
        "Replacements": {f"{tag:08x}": value for tag, value in restructuring.replacements.items()},
        "Removals": [f"{tag:08x}" for tag in sorted(restructuring.removals)],
        "KeepSource": keep_source,
        "Description": REST_API,
    }


def restructuring_of(job_parameters: dict[str, Any]) -> Restructuring:
    replacements = {int(tag, 16): value for tag, value in job_parameters["Replacements"].items()}
    removals = frozenset(int(tag, 16) for tag in job_parameters["Removals"])
    return Restructuring(replacements, removals, job_parameters["StudyUID"])


class StudyRestructuringJob:
    job_types = (SPLIT_STUDY, MERGE_STUDY)

    def execute(self, job: RunningJob, services: JobServices) -> dict[str, Any]:
        restructuring = restructuring_of(job.parameters)
        ids = list(job.parameters["Instances"])
        with services.db.connection() as conn:
            rows = hierarchy.get_resources(conn, ids)
        target = job.parameters["Study"] if restructuring.study_uid is None else None
        for count, instance_id in enumerate(ids, start=1):
            row = rows.get(instance_id)
            if row is None:
                details = f"An instance was removed after the job was issued: {instance_id}"
                raise job.fail(OrthancCode.UNKNOWN_RESOURCE, details)
            stored_study = self._move_one(job, services, restructuring, row)
            target = target or stored_study
            if count % PROGRESS_EVERY == 0:
                services.archive.progress_job(job.job_id, round(99 * count / len(ids)), [])
        if not job.parameters["KeepSource"] and ids:
            with services.db.connection() as conn:
                vanishing = hierarchy.vanishing_with(conn, list(rows.values()))
            services.archive.delete_instances(ids, job.origin, vanishing)
        content: dict[str, Any] = {
            "Description": job.parameters.get("Description", REST_API),
            "FailedInstancesCount": 0,
            "InstancesCount": len(ids),
        }
        if target is not None:
            content["TargetStudy"] = target
        if restructuring.study_uid is not None:
            content["TargetStudyUID"] = restructuring.study_uid
        return content

    @staticmethod
    def _move_one(
        job: RunningJob, services: JobServices, restructuring: Restructuring, row: dict[str, Any]
    ) -> str:
        """Stores the moved copy of one instance; answers its study's ID."""
        data = services.storage.read(row["file_uuid"], row.get("file_compression"))
        try:
            ds = parse_dataset(data)
        except InvalidDicomFile as invalid:
            raise job.fail(OrthancCode.BAD_FILE_FORMAT, f"{row['id']}: {invalid}") from None
        restructuring.apply(ds, job.parameters["SeriesUIDs"][row["series_id"]])
        derived = {"metadata": None, "sources": {"Instance": row["id"]}, "job": job.job_id}
        assert services.ingestor is not None
        result = services.ingestor.ingest(dataset_bytes(ds), job.origin, derived=derived)
        if result.status is not StoreStatus.SUCCESS:
            details = f"Error while storing a modified instance {row['id']}"
            raise job.fail(OrthancCode.CANNOT_STORE_INSTANCE, details)
        return result.study_id
