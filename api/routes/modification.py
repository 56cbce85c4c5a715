"""Modify and anonymize: POST /{level}/{id}/modify and /anonymize, /tools/bulk-modify and
/tools/bulk-anonymize, as Orthanc answers them.

An instance's modify or anonymize answers the modified file and stores nothing. The other
levels and the bulk routes run a "ResourceModification" job (adapters.jobs.modification):
synchronously by default, answering its content, or `Asynchronous`, answering its address.
`Transcode` writes the new files in another transfer syntax (domain.transcoding).
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from adapters.jobs import modification as modification_job
from adapters.jobs.engine import JobEngine
from adapters.jobs.kinds import JobFailed
from api.context import read_connection, rest_origin, settings_of
from api.dicom_files import read_bytes
from api.errors import OrthancCode, OrthancError, unknown_resource
from api.request_bodies import is_synchronous, job_priority
from api.routes.system import chronicle_version
from domain.deidentification import PATIENT_NAME
from domain.dicom_files import InvalidDicomFile
from domain.dicom_modification import (
    Modification,
    ModificationRefused,
    anonymization_from_request,
    modification_from_request,
    modify_level,
    with_method,
)
from domain.dicom_paths import DicomPath
from domain.levels import INSTANCE, LEVEL_PATHS, PATIENT, level_number
from domain.transcoding import UNTRANSCODABLE, requested_syntax
from projections.hierarchy import queries as hierarchy

DICOM = "application/dicom"


def load_resource(request: Request, level: int, resource_id: str) -> dict[str, Any]:
    with read_connection(request) as conn:
        row = hierarchy.get_resource(conn, level, resource_id)
    if row is None:
        raise unknown_resource()
    return row


def software() -> str:
    """What DeidentificationMethod names before the profile."""
    return f"Chronicle {chronicle_version()}"


def json_body(body: bytes) -> Any:
    """The JSON body; Orthanc refuses an empty or unparsable one and says no more."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT) from None


def refusal(refused: ModificationRefused) -> OrthancError:
    return OrthancError(OrthancCode[refused.code], refused.details)


def _next_anonymized_name(request: Request) -> str:
    with read_connection(request) as conn:
        row = conn.execute("SELECT nextval('runtime.anonymization_names')").fetchone()
    assert row is not None
    return f"Anonymized{row[0]}"


def _parsed(request: Request, options: Any, anonymize: bool) -> tuple[Modification, str | None]:
    """The modification the body asks for, and the PatientName generated for it (None when
    the body says what PatientName becomes, or for a modify)."""
    private_creator = settings_of(request).default_private_creator
    try:
        if not anonymize:
            return modification_from_request(options, private_creator), None
        modification, name_given = anonymization_from_request(options, private_creator)
    except ModificationRefused as refused:
        raise refusal(refused) from None
    name = None if name_given else _next_anonymized_name(request)
    if name is not None:
        modification.replace(DicomPath((), PATIENT_NAME), name, safe_for_anonymization=True)
    with_method(modification, software())
    return modification, name


def _check_transcode(options: dict[str, Any]) -> str | None:
    """The transfer syntax the new files are written in, None to keep theirs."""
    if "Transcode" not in options:
        return None
    try:
        return str(requested_syntax(options["Transcode"]))
    except ModificationRefused as refused:
        raise refusal(refused) from None


def _modified_instance(request: Request, instance_id: str, body: bytes, anonymize: bool) -> Any:
    row = load_resource(request, INSTANCE, instance_id)
    options = json_body(body)
    modification, _ = _parsed(request, options, anonymize)
    if not anonymize:
        modification.level = modify_level(modification)
    target = _check_transcode(options)
    try:
        modified = modification_job.modified_bytes(modification, read_bytes(request, row), target)
    except ModificationRefused as refused:
        raise refusal(refused) from None
    except InvalidDicomFile as invalid:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, str(invalid)) from None
    except UNTRANSCODABLE as error:
        raise OrthancError(OrthancCode.NOT_IMPLEMENTED, f"Cannot transcode: {error}") from None
    return Response(modified, media_type=DICOM)


def _submit(
    request: Request,
    options: Any,
    resources: list[str],
    jobs: tuple[JobEngine, Any],
    levels: tuple[int | None, int | None],
    anonymize: bool,
) -> dict[str, Any]:
    """The job for the resources; `levels`: the level it works at (None: the body's `Level`,
    else what the modification replaces) and the level of its one output (None: a bulk
    job's several)."""
    level, output_level = levels
    modification, name = _parsed(request, options, anonymize)
    if level is None:
        level = PATIENT if anonymize else _bulk_level(options, modification)
    modification.level = level
    try:
        modification.check()
    except ModificationRefused as refused:
        raise refusal(refused) from None
    _check_transcode(options)
    keep_source = options.get("KeepSource", True)
    if not isinstance(keep_source, bool):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "KeepSource must be a Boolean value")
    parameters = modification_job.parameters(
        options,
        resources,
        anonymization=anonymize,
        level=level,
        output_level=output_level,
        patient_name=name,
        software=software(),
    )
    return run_job(request, jobs, modification_job.RESOURCE_MODIFICATION, parameters, options)


def _bulk_level(options: dict[str, Any], modification: Modification) -> int:
    if "Level" not in options:
        return modify_level(modification)
    try:
        return level_number(str(options["Level"]))
    except ValueError:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, "Unknown resource level") from None


def run_job(
    request: Request,
    jobs: tuple[JobEngine, Any],
    job_type: str,
    parameters: dict[str, Any],
    options: Any,
) -> dict[str, Any]:
    """Submits the job; `Synchronous` (the default) runs it here and answers its content (or
    its failure as Orthanc's error), `Asynchronous` answers its ID and path."""
    engine, wait_for = jobs
    synchronous = is_synchronous(options)
    job_id, position = engine.submit(
        job_type,
        parameters,
        rest_origin(request),
        job_priority(options),
        run_here=synchronous,
    )
    if not synchronous:
        wait_for(position, ("jobs",))
        return {"ID": job_id, "Path": f"/jobs/{job_id}"}
    try:
        content, position = engine.run(job_id, started=True)
    except JobFailed as failure:
        wait_for(failure.position, ("jobs",))
        known = (c for c in OrthancCode if c.number == failure.code)
        code = next(known, OrthancCode.INTERNAL_ERROR)
        raise OrthancError(code, failure.details) from None
    wait_for(position, ("hierarchy", "changes", "jobs"))  # the job is finished in /jobs too
    return content


def _resource_handlers(level: int, verb: str) -> HTTPRouteHandler:
    collection = LEVEL_PATHS[level]
    anonymize = verb == "anonymize"

    @post(
        f"/{collection}/{{resource_id:str}}/{verb}",
        name=f"{collection}-{verb}",
        status_code=200,
        sync_to_thread=True,
    )
    def modify(
        request: Request, resource_id: str, body: bytes, jobs: JobEngine, wait_for: Any
    ) -> Any:
        if level == INSTANCE:
            return _modified_instance(request, resource_id, body, anonymize)
        load_resource(request, level, resource_id)
        options = json_body(body)
        if not isinstance(options, dict):
            raise OrthancError(OrthancCode.BAD_FILE_FORMAT)
        levels = (PATIENT if anonymize else level, level)
        return _submit(request, options, [resource_id], (jobs, wait_for), levels, anonymize)

    return modify


def _bulk_handler(verb: str) -> HTTPRouteHandler:
    anonymize = verb == "anonymize"

    @post(f"/tools/bulk-{verb}", name=f"bulk-{verb}", status_code=200, sync_to_thread=True)
    def bulk(request: Request, body: bytes, jobs: JobEngine, wait_for: Any) -> Any:
        options = json_body(body)
        if not isinstance(options, dict):
            raise OrthancError(OrthancCode.BAD_FILE_FORMAT)
        resources = options.get("Resources")
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "Resources must be a list of IDs")
        with read_connection(request) as conn:
            known = hierarchy.get_resources(conn, resources)
        if any(resource_id not in known for resource_id in resources):
            raise unknown_resource()
        levels = (None, None)
        return _submit(request, options, resources, (jobs, wait_for), levels, anonymize)

    return bulk


def modification_handlers() -> list[HTTPRouteHandler]:
    handlers = [
        _resource_handlers(level, verb)
        for level in range(INSTANCE + 1)
        for verb in ("modify", "anonymize")
    ]
    return [*handlers, _bulk_handler("modify"), _bulk_handler("anonymize")]
