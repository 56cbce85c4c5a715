"""ZIP archives of patients, studies, series and instances: GET and POST
/{patients,studies,series}/{id}/archive and POST /tools/create-archive, laid out and streamed
by adapters.zip_archives as Orthanc lays them out.

Synchronous (the default): the archive is the answer, sent as it is made. `Asynchronous`: an
"Archive" job (adapters.jobs.archive) writes it, and GET /jobs/{id}/archive serves it.
`Transcode` is refused with a clear error until transcoding exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from adapters.jobs import archive as archive_job
from adapters.jobs.engine import JobEngine
from adapters.zip_archives import UnknownResources, plan_archive, zip_chunks
from api.context import read_connection, rest_origin
from api.dicom_files import read_bytes
from api.errors import OrthancCode, OrthancError, unknown_resource
from api.request_bodies import is_synchronous, job_priority, json_body
from domain.levels import LEVEL_PATHS
from projections.hierarchy import queries as hierarchy

_LEVELS = LEVEL_PATHS[:3]  # an archive of one instance only comes from /tools/create-archive


class ReadModelWaiter(Protocol):
    """adapters.node.ReadModelWaiter, by what it does (that module is not type-checked)."""

    def __call__(self, position: int | None, names: Sequence[str] = ...) -> None: ...


Jobs = tuple[JobEngine, ReadModelWaiter]


def _archive_response(request: Request, resource_ids: list[str], filename: str) -> Stream:
    """The archive as the answer; an unknown ID is a 404 before any byte, as in Orthanc."""
    try:
        with read_connection(request) as conn:
            plan = plan_archive(conn, resource_ids)
    except UnknownResources:
        raise unknown_resource() from None
    return Stream(
        zip_chunks(plan, lambda row: read_bytes(request, row)),
        media_type="application/zip",
        headers={"Content-Disposition": f'filename="{filename}"'},
    )


def _submitted(
    request: Request, resource_ids: list[str], options: Any, jobs: Jobs
) -> Response[Any]:
    """An archive job for the resources; Orthanc's answer: the job's ID and path."""
    engine, wait_for = jobs
    with read_connection(request) as conn:
        known = hierarchy.get_resources(conn, resource_ids)
    if any(resource_id not in known for resource_id in resource_ids):
        raise unknown_resource()
    priority = job_priority(options) if isinstance(options, dict) else 0
    job_id, position = engine.submit(
        archive_job.ARCHIVE, archive_job.parameters(resource_ids), rest_origin(request), priority
    )
    wait_for(position, ("jobs",))
    return Response({"ID": job_id, "Path": f"/jobs/{job_id}"})


def _archive(
    request: Request, resource_ids: list[str], options: Any, filename: str, jobs: Jobs
) -> Response[Any]:
    if isinstance(options, dict):
        if "Transcode" in options:
            raise OrthancError(OrthancCode.NOT_IMPLEMENTED, "Transcoding is not implemented yet")
        if not is_synchronous(options):
            return _submitted(request, resource_ids, options, jobs)
    return _archive_response(request, resource_ids, filename)


def _options(body: bytes) -> Any:
    """The JSON body; Orthanc refuses an empty one or anything but JSON, and says no more."""
    if not body.strip():
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT)
    try:
        return json_body(body)
    except OrthancError:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT) from None


def _resources_of(options: Any) -> list[str]:
    """Orthanc's body: a list of IDs, or an object whose `Resources` is one."""
    if isinstance(options, dict):
        if "Resources" not in options:
            raise OrthancError(
                OrthancCode.BAD_FILE_FORMAT, "Missing field Resources in the JSON body"
            )
        options = options["Resources"]
    if not isinstance(options, list) or not all(isinstance(item, str) for item in options):
        raise OrthancError(
            OrthancCode.BAD_FILE_FORMAT, "Expected a list of strings (Orthanc identifiers)"
        )
    return options


def _archive_handlers(collection: str) -> list[HTTPRouteHandler]:
    path = f"/{collection}/{{resource_id:str}}/archive"

    @get(path, name=f"{collection}-archive", sync_to_thread=True)
    def archive(
        request: Request,
        resource_id: str,
        filename: str | None = None,
        transcode: str | None = None,
    ) -> Stream:
        """A ZIP archive of the resource (Orthanc does not check its level either)."""
        if transcode is not None:
            raise OrthancError(OrthancCode.NOT_IMPLEMENTED, "Transcoding is not implemented yet")
        return _archive_response(request, [resource_id], filename or f"{resource_id}.zip")

    @post(path, name=f"{collection}-archive-post", sync_to_thread=True, status_code=200)
    def archive_post(
        request: Request,
        resource_id: str,
        body: bytes,
        jobs: JobEngine,
        wait_for: Any,  # a ReadModelWaiter: Litestar cannot validate a Protocol
    ) -> Response[Any]:
        options = _options(body)
        filename = f"{resource_id}.zip"
        return _archive(request, [resource_id], options, filename, (jobs, wait_for))

    return [archive, archive_post]


@post("/tools/create-archive", sync_to_thread=True, status_code=200)
def create_archive(request: Request, body: bytes, jobs: JobEngine, wait_for: Any) -> Response[Any]:
    options = _options(body)
    resources = _resources_of(options)
    return _archive(request, resources, options, "Archive.zip", (jobs, wait_for))


def archive_handlers() -> list[HTTPRouteHandler]:
    return [*(h for collection in _LEVELS for h in _archive_handlers(collection)), create_archive]
