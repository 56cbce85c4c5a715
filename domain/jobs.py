"""Commands on jobs: Orthanc's job engine, with every transition an event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.aggregates import Job
from domain.commands import CommandContext
from domain.conflicts import retry_on_conflict
from domain.exports import RequestedExport, export_requests
from domain.origin import Channel, Origin

PENDING, RUNNING, SUCCESS, FAILURE, PAUSED = "Pending", "Running", "Success", "Failure", "Paused"
JOB_ENGINE = Origin(Channel.SYSTEM, user="job-engine")


class UnknownJob(LookupError):
    pass


class JobStateError(ValueError):
    """The transition is not allowed from the job's current state (Orthanc: bad sequence)."""


class JobCommands(CommandContext):
    """Mixed into the Archive application."""

    def submit_job(
        self,
        job_type: str,
        priority: int,
        parameters: dict[str, Any],
        origin: Origin,
        started: bool = False,
        requested: Sequence[RequestedExport] = (),
    ) -> tuple[str, int]:
        """`started`: submitted and started in one append, for a job the caller runs itself.
        `requested`: the resources a store job exports, logged with its submission."""
        job = Job(
            job_type=job_type, priority=priority, parameters=parameters, origin=origin.to_dict()
        )
        if started:
            job.start(attempt=1, origin=origin.to_dict())
        return str(job.id), self._append(job, *export_requests(requested, str(job.id), origin))

    def job(self, job_id: str) -> Job:
        try:
            job: Job = self.repository.get(UUID(job_id))
        except (AggregateNotFoundError, ValueError):
            raise UnknownJob(job_id) from None
        return job

    @retry_on_conflict
    def start_job(self, job_id: str, origin: Origin = JOB_ENGINE) -> int:
        job = self._in_state(job_id, {PENDING})
        job.start(attempt=job.attempt + 1, origin=origin.to_dict())
        return self._append(job)

    @retry_on_conflict
    def progress_job(
        self, job_id: str, progress: int, done: list[str], origin: Origin = JOB_ENGINE
    ) -> int:
        job = self._in_state(job_id, {RUNNING})
        job.progress_to(progress=progress, done=done, origin=origin.to_dict())
        return self._append(job)

    @retry_on_conflict
    def finish_job(self, job_id: str, content: dict[str, Any], origin: Origin = JOB_ENGINE) -> int:
        job = self._in_state(job_id, {RUNNING})
        job.succeed(content=content, origin=origin.to_dict())
        return self._append(job)

    @retry_on_conflict
    def fail_job(
        self,
        job_id: str,
        error_code: int,
        description: str,
        details: str,
        origin: Origin = JOB_ENGINE,
    ) -> int:
        job = self._in_state(job_id, {PENDING, RUNNING})
        job.fail(
            error_code=error_code,
            error_description=description,
            details=details,
            origin=origin.to_dict(),
        )
        return self._append(job)

    @retry_on_conflict
    def pause_job(self, job_id: str, origin: Origin) -> int:
        job = self._in_state(job_id, {PENDING, RUNNING})
        job.pause(origin=origin.to_dict())
        return self._append(job)

    @retry_on_conflict
    def resume_job(self, job_id: str, origin: Origin) -> int:
        job = self._in_state(job_id, {PAUSED})
        job.resume(origin=origin.to_dict())
        return self._append(job)

    @retry_on_conflict
    def cancel_job(self, job_id: str, origin: Origin) -> int:
        job = self._in_state(job_id, {PENDING, RUNNING, PAUSED})
        job.cancel(origin=origin.to_dict())
        return self._append(job)

    @retry_on_conflict
    def resubmit_job(self, job_id: str, origin: Origin) -> int:
        job = self._in_state(job_id, {FAILURE})
        job.resubmit(origin=origin.to_dict())
        return self._append(job)

    def _in_state(self, job_id: str, allowed: set[str]) -> Job:
        job = self.job(job_id)
        if job.state not in allowed:
            raise JobStateError(f"job {job_id} is {job.state}")
        return job
