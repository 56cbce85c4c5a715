"""C-MOVE SCU jobs (DicomMoveScu): ask a modality to send what matches queries to an AET."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydicom import Dataset

from adapters.delivery import Destination
from adapters.jobs.kinds import NETWORK_PROTOCOL_ERROR, JobServices, RunningJob, destination_of

MOVE_FROM_MODALITY = "DicomMoveScu"
QUERY_LEVELS = {"patient": "PATIENT", "study": "STUDY", "series": "SERIES", "instance": "IMAGE"}


def parameters(
    destination: Destination, level: str, queries: Sequence[dict[str, str]], target_aet: str
) -> dict[str, Any]:
    return {
        "Destination": destination.reference(),
        "Level": level,
        "Queries": list(queries),
        "TargetAet": target_aet,
    }


class MoveJob:
    job_types = (MOVE_FROM_MODALITY,)

    def execute(self, job: RunningJob, services: JobServices) -> dict[str, Any]:
        destination = destination_of(job, services)
        mover: Any = services.senders.get("modality")
        level = QUERY_LEVELS[job.parameters["Level"].lower()]
        failed = 0
        for query in job.parameters["Queries"]:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = level
            for keyword, value in query.items():
                setattr(identifier, keyword, value)
            model = "patient" if level == "PATIENT" else "study"
            try:
                counts = mover.move(
                    destination.configuration, identifier, job.parameters["TargetAet"], model
                )
            except Exception as error:
                raise job.fail(NETWORK_PROTOCOL_ERROR, str(error)) from error
            failed += counts.get("Failed", 0)
        if failed:
            raise job.fail(NETWORK_PROTOCOL_ERROR, f"{failed} sub-operation(s) failed")
        return {
            "Description": "REST API",
            "LocalAet": services.local_aet,
            "Query": job.parameters["Queries"],
            "RemoteAet": destination.remote_aet,
            "TargetAet": job.parameters["TargetAet"],
        }
