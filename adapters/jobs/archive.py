"""Archive and media jobs (Orthanc's "Archive" and "Media"): the ZIP of resources, or their
DICOMDIR media (adapters.zip_archives), written to the job's output, which GET
/jobs/{id}/archive serves. Submitted by POST .../archive, .../media and /tools/create-archive
or create-media* with `Asynchronous` true; the content is Orthanc's."""

from __future__ import annotations

from typing import Any

from adapters.jobs.kinds import JobServices, RunningJob
from adapters.zip_archives import (
    UnknownResources,
    as_media,
    in_syntax,
    plan_archive,
    zip_chunks,
)
from domain.dicomdir import DicomDir

ARCHIVE = "Archive"
MEDIA = "Media"
REST_API = "REST API"
UNKNOWN_RESOURCE = (17, "Unknown resource")
MEGABYTE = 1024 * 1024


def parameters(
    resources: list[str], media: bool = False, extended: bool = False, target: str | None = None
) -> dict[str, Any]:
    return {
        "Resources": resources,
        "Description": REST_API,
        "Media": media,
        "Extended": extended,
        "Transcode": target,
    }


class ArchiveJob:
    job_types = (ARCHIVE, MEDIA)

    def execute(self, job: RunningJob, services: JobServices) -> dict[str, Any]:
        with services.db.connection() as conn:
            try:
                plan = plan_archive(conn, list(job.parameters["Resources"]))
            except UnknownResources as missing:  # deleted since the job was submitted
                raise job.fail(UNKNOWN_RESOURCE, f"Unknown resource: {missing}") from None

        def read(row: dict[str, Any]) -> bytes:
            return services.storage.read(row["file_uuid"], row.get("file_compression"))

        dicomdir = None
        if job.parameters.get("Media"):
            plan, dicomdir = as_media(plan), DicomDir(bool(job.parameters.get("Extended")))
        reading = in_syntax(read, job.parameters.get("Transcode"))
        size = services.outputs.write(job.job_id, zip_chunks(plan, reading, dicomdir))
        uncompressed = plan.uncompressed_size
        return {
            "ArchiveSize": str(size),
            "ArchiveSizeMB": size // MEGABYTE,
            "Description": job.parameters.get("Description", REST_API),
            "InstancesCount": len(plan.layout),
            "UncompressedSize": str(uncompressed),
            "UncompressedSizeMB": uncompressed // MEGABYTE,
        }
