"""Orthanc's job routes: /jobs, /jobs/{id}, /jobs/{id}/{key}, and the state commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from adapters.job_outputs import JobOutputs
from adapters.jobs.engine import JobEngine
from adapters.node import ReadModelWaiter
from api.context import read_connection, rest_origin, settings_of
from api.errors import OrthancCode, OrthancError
from api.params import flag
from domain.archive import Archive
from domain.jobs import JobStateError, UnknownJob
from domain.origin import Origin
from projections.jobs import queries


def orthanc_precise_time(moment: datetime | None) -> str | None:
    """Job timestamps: YYYYMMDDTHHMMSS.ffffff in UTC."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f") if moment else None


def job_body(row: dict[str, Any]) -> dict[str, Any]:
    started, completed = row["started_at"], row["completed_at"]
    runtime = (completed or datetime.now(UTC)) - started if started else None
    body = {
        "CompletionTime": orthanc_precise_time(completed),
        "Content": row["content"],
        "CreationTime": orthanc_precise_time(row["created_at"]),
        "EffectiveRuntime": round(runtime.total_seconds(), 3) if runtime else 0.0,
        "ErrorCode": row["error_code"],
        "ErrorDescription": row["error_description"],
        "ErrorDetails": row["error_details"],
        "ID": row["id"],
        "Priority": row["priority"],
        "Progress": row["progress"],
        "State": row["state"],
        "Timestamp": orthanc_precise_time(row["last_change_at"]),
        "Type": row["job_type"],
    }
    if completed is None:
        del body["CompletionTime"]
    return body


def _visible_jobs(request: Request) -> list[dict[str, Any]]:
    """Unfinished jobs, and the last JobsHistorySize finished ones (Orthanc's registry)."""
    history = settings_of(request).jobs_history_size
    with read_connection(request) as conn:
        return queries.visible_jobs(conn, history)


def load_job(request: Request, job_id: str) -> dict[str, Any]:
    with read_connection(request) as conn:
        row = queries.get_job(conn, job_id)
    if row is None:
        raise OrthancError(OrthancCode.UNKNOWN_RESOURCE, f"Unknown job: {job_id}")
    return row


@get("/jobs", sync_to_thread=True)
def list_jobs(request: Request, expand: str | None = None) -> list[Any]:
    """The jobs, as identifiers or (with `expand`) in full."""
    rows = _visible_jobs(request)
    return [job_body(row) for row in rows] if flag(expand) else [row["id"] for row in rows]


@get("/jobs/{job_id:str}", sync_to_thread=True)
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    return job_body(load_job(request, job_id))


@get("/jobs/{job_id:str}/{key:str}", sync_to_thread=True)
def get_job_output(request: Request, job_id: str, key: str, job_outputs: JobOutputs) -> Stream:
    """A job's output: an archive job's ZIP (`archive`) while it is among the newest
    MediaArchiveSize kept; anything else is Orthanc's 404, unknown jobs included."""
    with read_connection(request) as conn:
        row = queries.get_job(conn, job_id)
    path = job_outputs.path(job_id) if key == "archive" and row is not None else None
    try:
        file = path.open("rb") if path is not None and row["state"] == "Success" else None
    except FileNotFoundError:  # removed by a newer archive meanwhile
        file = None
    if file is None:
        raise OrthancError(OrthancCode.INEXISTENT_ITEM, f"Job has no such output: {key}")
    return Stream(
        _chunks_of(file),
        media_type="application/zip",
        headers={"Content-Disposition": 'filename="archive.zip"'},
    )


def _chunks_of(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(1 << 20):
            yield chunk


def _command_handler(action: str, command: Callable[[Any, str, Origin], int]) -> HTTPRouteHandler:
    @post(f"/jobs/{{job_id:str}}/{action}", status_code=200, sync_to_thread=True, name=action)
    def job_command(
        request: Request,
        job_id: str,
        archive: Archive,
        jobs: JobEngine,
        wait_for: ReadModelWaiter,
    ) -> dict[str, Any]:
        load_job(request, job_id)
        try:
            position = command(archive, job_id, rest_origin(request))
        except UnknownJob:
            raise OrthancError(OrthancCode.UNKNOWN_RESOURCE, f"Unknown job: {job_id}") from None
        except JobStateError as error:
            raise OrthancError(OrthancCode.BAD_SEQUENCE_OF_CALLS, str(error)) from None
        wait_for(position, ("jobs",))
        jobs.notify()
        return {}

    job_command.__doc__ = f"{action.capitalize()} the job."
    return job_command


jobs_handlers = [
    list_jobs,
    get_job,
    get_job_output,
    _command_handler("cancel", lambda archive, job, origin: archive.cancel_job(job, origin)),
    _command_handler("pause", lambda archive, job, origin: archive.pause_job(job, origin)),
    _command_handler("resume", lambda archive, job, origin: archive.resume_job(job, origin)),
    _command_handler("resubmit", lambda archive, job, origin: archive.resubmit_job(job, origin)),
]
