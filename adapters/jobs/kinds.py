"""What a kind of job is to the engine, and what a running job may use.

A kind is one module: the job types it runs, how its parameters are built at submission, and
`execute`, which does the work and returns the job's content (Orthanc's "Content"). Modify,
anonymize and routing jobs are new modules registered in JobEngine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from adapters.database import Database
from adapters.delivery import Destination, Senders
from adapters.ingest import Ingestor
from adapters.job_outputs import JobOutputs
from adapters.node_directory import NodeDirectory
from adapters.storage import StorageArea
from domain.archive import Archive
from domain.origin import Origin
from domain.orthanc_errors import OrthancCode

NETWORK_PROTOCOL_ERROR = (9, "Error in the network protocol")
INTERRUPTED = (-1, "Internal error")


class JobFailed(RuntimeError):
    def __init__(self, job_id: str, code: int, description: str, details: str) -> None:
        super().__init__(details or description)
        self.job_id = job_id
        self.code = code
        self.description = description
        self.details = details
        self.position = 0


@attrs.frozen
class JobServices:
    """What jobs may use, handed to every kind by the engine."""

    archive: Archive
    db: Database
    nodes: NodeDirectory
    storage: StorageArea
    senders: Senders
    local_aet: str
    outputs: JobOutputs  # the files jobs produce (archives)
    ingestor: Ingestor | None = None  # how modify and anonymize jobs store what they make


@attrs.frozen
class RunningJob:
    job_id: str
    parameters: dict[str, Any]
    origin: Origin
    done: frozenset[str]  # instances already delivered (a resumed job does not send twice)
    attempt: int = 1  # 2 and more: the job ran before (resumed, resubmitted)

    def fail(self, error: tuple[int, str] | OrthancCode, details: str) -> JobFailed:
        if isinstance(error, OrthancCode):
            error = (error.number, error.message)
        return JobFailed(self.job_id, error[0], error[1], details)


class JobKind(Protocol):
    @property
    def job_types(self) -> Sequence[str]:
        """The job types (Orthanc's "Type") this kind runs."""

    def execute(self, job: RunningJob, services: JobServices) -> dict[str, Any]:
        """Does the work; raises JobFailed (see RunningJob.fail) to fail the job."""


def destination_of(job: RunningJob, services: JobServices) -> Destination:
    """The job's destination as configured now (a removed node fails the job)."""
    reference = job.parameters["Destination"]
    configuration = services.nodes.for_sending(reference["kind"], reference["name"])
    if configuration is None:
        details = f"no {reference['kind']} named {reference['name']!r} any more"
        raise job.fail(NETWORK_PROTOCOL_ERROR, details)
    return Destination(reference["kind"], reference["name"], configuration)
