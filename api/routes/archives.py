"""ZIP archives and DICOMDIR media of patients, studies, series and instances: GET and POST
/{patients,studies,series}/{id}/archive and /media, POST /tools/create-archive,
/tools/create-media and /tools/create-media-extended, laid out and streamed by
adapters.zip_archives as Orthanc lays them out.

Synchronous (the default): the archive is the answer, sent as it is made. `Asynchronous`: an
"Archive" or "Media" job (adapters.jobs.archive) writes it, and GET /jobs/{id}/archive serves
it. `Transcode` (`transcode` for GET) writes the files in another transfer syntax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from adapters.jobs import archive as archive_job
from adapters.jobs.engine import JobEngine
from adapters.zip_archives import (
    UnknownResources,
    as_media,
    in_syntax,
    plan_archive,
    zip_chunks,
)
from api.context import read_connection, rest_origin
from api.dicom_files import read_bytes
from api.errors import OrthancCode, OrthancError, unknown_resource
from api.request_bodies import is_synchronous, job_priority, json_body
from domain.dicom_modification import ModificationRefused
from domain.dicomdir import DicomDir
from domain.levels import LEVEL_PATHS
from domain.transcoding import requested_syntax
from projections.hierarchy import queries as hierarchy

_LEVELS = LEVEL_PATHS[:3]  # an archive of one instance only comes from /tools/create-archive


class ReadModelWaiter(Protocol):
    """adapters.node.ReadModelWaiter, by what it does (that module is not type-checked)."""

    def __call__(self, position: int | None, names: Sequence[str] = ...) -> None: ...


Jobs = tuple[JobEngine, ReadModelWaiter]
Flavour = tuple[bool, bool]  # (a media, an extended DICOMDIR)
ARCHIVE: Flavour = (False, False)


def _archive_response(
    request: Request,
    resource_ids: list[str],
    filename: str,
    flavour: Flavour = ARCHIVE,
    target: str | None = None,
) -> Stream:
    """The archive as the answer; an unknown ID is a 404 before any byte, as in Orthanc."""
    try:
        with read_connection(request) as conn:
            plan = plan_archive(conn, resource_ids)
    except UnknownResources:
        raise unknown_resource() from None
    media, extended = flavour
    dicomdir = DicomDir(extended) if media else None
    if media:
        plan = as_media(plan)
    return Stream(
        zip_chunks(plan, in_syntax(lambda row: read_bytes(request, row), target), dicomdir),
        media_type="application/zip",
        headers={"Content-Disposition": f'filename="{filename}"'},
    )


def _submitted(
    request: Request,
    resource_ids: list[str],
    options: Any,
    jobs: Jobs,
    flavour: Flavour,
    target: str | None,
) -> Response[Any]:
    """An archive job for the resources; Orthanc's answer: the job's ID and path."""
    engine, wait_for = jobs
    with read_connection(request) as conn:
        known = hierarchy.get_resources(conn, resource_ids)
    if any(resource_id not in known for resource_id in resource_ids):
        raise unknown_resource()
    priority = job_priority(options) if isinstance(options, dict) else 0
    media, extended = flavour
    job_type = archive_job.MEDIA if media else archive_job.ARCHIVE
    parameters = archive_job.parameters(resource_ids, media, extended, target)
    job_id, position = engine.submit(job_type, parameters, rest_origin(request), priority)
    wait_for(position, ("jobs",))
    return Response({"ID": job_id, "Path": f"/jobs/{job_id}"})


def _archive(
    request: Request,
    resource_ids: list[str],
    options: Any,
    filename: str,
    jobs: Jobs,
    media: Flavour = ARCHIVE,
) -> Response[Any]:
    """`media`: (a media, extended by default)."""
    is_media, extended = media
    if isinstance(options, dict):
        if is_media and "Extended" in options:
            extended = options["Extended"]
            if not isinstance(extended, bool):
                raise OrthancError(
                    OrthancCode.BAD_FILE_FORMAT, "Boolean value expected in field: Extended"
                )
        target = _target(options.get("Transcode"))
        if not is_synchronous(options):
            flavour = (is_media, extended)
            return _submitted(request, resource_ids, options, jobs, flavour, target)
        return _archive_response(request, resource_ids, filename, (is_media, extended), target)
    return _archive_response(request, resource_ids, filename, (is_media, extended))


def _target(value: Any) -> str | None:
    """The transfer syntax the archive's files are written in (None: as stored)."""
    if value is None:
        return None
    try:
        return str(requested_syntax(value))
    except ModificationRefused as refused:
        raise OrthancError(OrthancCode[refused.code], refused.details) from None


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


def _archive_handlers(collection: str, kind: str) -> list[HTTPRouteHandler]:
    """GET and POST /{collection}/{id}/{kind}, `kind` "archive" or "media"."""
    path = f"/{collection}/{{resource_id:str}}/{kind}"
    is_media = kind == "media"

    @get(path, name=f"{collection}-{kind}", sync_to_thread=True)
    def archive(
        request: Request,
        resource_id: str,
        filename: str | None = None,
        transcode: str | None = None,
        extended: str | None = None,
    ) -> Stream:
        """The resource's archive or media (Orthanc does not check its level either)."""
        flavour = (is_media, is_media and extended is not None)
        name = filename or f"{resource_id}.zip"
        return _archive_response(request, [resource_id], name, flavour, _target(transcode))

    @post(path, name=f"{collection}-{kind}-post", sync_to_thread=True, status_code=200)
    def archive_post(
        request: Request,
        resource_id: str,
        body: bytes,
        jobs: JobEngine,
        wait_for: Any,  # a ReadModelWaiter: Litestar cannot validate a Protocol
    ) -> Response[Any]:
        options = _options(body)
        filename = f"{resource_id}.zip"
        jobs_and_wait = (jobs, wait_for)
        return _archive(request, [resource_id], options, filename, jobs_and_wait, (is_media, False))

    return [archive, archive_post]


def _create_handler(path: str, media: Flavour) -> HTTPRouteHandler:
    """POST /tools/create-archive, create-media, create-media-extended."""

    @post(path, name=path.rsplit("/", 1)[-1], sync_to_thread=True, status_code=200)
    def create(request: Request, body: bytes, jobs: JobEngine, wait_for: Any) -> Response[Any]:
        options = _options(body)
        resources = _resources_of(options)
        return _archive(request, resources, options, "Archive.zip", (jobs, wait_for), media)

    return create


def archive_handlers() -> list[HTTPRouteHandler]:
    per_resource = [
        handler
        for collection in _LEVELS
        for kind in ("archive", "media")
        for handler in _archive_handlers(collection, kind)
    ]
    return [
        *per_resource,
        _create_handler("/tools/create-archive", ARCHIVE),
        _create_handler("/tools/create-media", (True, False)),
        _create_handler("/tools/create-media-extended", (True, True)),
    ]
