"""Sending stored instances away: /modalities/{id}/store and /peers/{id}/store (as jobs,
synchronous or not), and the store-straight variants for a file in the request body."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, post
from litestar.handlers import HTTPRouteHandler

from adapters.delivery import Destination, Senders
from adapters.jobs.engine import JobEngine
from adapters.jobs.kinds import JobFailed
from adapters.node import ReadModelWaiter
from adapters.node_directory import NodeDirectory
from api.context import read_connection, rest_origin, settings_of
from api.errors import OrthancCode, OrthancError
from api.request_bodies import is_synchronous, job_priority
from api.routes.modalities import registry
from api.routes.upload import invalid_file_error
from domain.dicom_files import InvalidDicomFile, identifiers, read_dicom
from domain.dicom_modification import ModificationRefused
from domain.exports import RequestedExport
from domain.levels import LEVEL_NAMES
from domain.transcoding import requested_syntax
from projections.configuration.queries import get_node
from projections.hierarchy import queries as hierarchy

STORE_OPTIONS = (
    "CalledAet",
    "Host",
    "Port",
    "LocalAet",
    "MoveOriginatorAet",
    "MoveOriginatorID",
    "Timeout",
    "Permissive",
)
KIND_PATHS = {"modality": "modalities", "peer": "peers"}
# Chained with storage commitment after the C-STOREs (modalities only, as in Orthanc).
STORAGE_COMMITMENT = "StorageCommitment"


def destination_of(request: Request, kind: str, name: str) -> Destination:
    with read_connection(request) as conn:
        configuration = get_node(conn, kind, name)
    if configuration is None:
        raise OrthancError(OrthancCode.INEXISTENT_ITEM, f"No {kind} with symbolic name: {name}")
    return Destination(kind=kind, name=name, configuration=configuration)


def parse_store_request(body: bytes) -> tuple[list[str], dict[str, Any]]:
    """Orthanc accepts one ID as text, a JSON string, a JSON list, or {"Resources": [...], …}."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload: Any = json.loads(text)
    except json.JSONDecodeError:
        payload = text
    if isinstance(payload, str):
        return ([payload] if payload else []), {}
    if isinstance(payload, list) and all(isinstance(item, str) for item in payload):
        return payload, {}
    if isinstance(payload, dict) and isinstance(payload.get("Resources"), list):
        return [str(item) for item in payload["Resources"]], payload
    raise OrthancError(OrthancCode.BAD_REQUEST, "Expected a resource ID, a list, or Resources")


def requested_exports(
    request: Request, destination: Destination, resources: list[str]
) -> list[RequestedExport]:
    """What /exports logs for a store call: each resource it names, as Orthanc logs it."""
    if not resources:
        raise OrthancError(OrthancCode.BAD_REQUEST, "No resource to send")
    with read_connection(request) as conn:
        lineages = hierarchy.lineage_identifiers(conn, resources)
    for resource_id in resources:
        if resource_id not in lineages:
            raise OrthancError(OrthancCode.UNKNOWN_RESOURCE, f"Unknown resource {resource_id}")
    return [
        RequestedExport(
            resource_id=resource_id,
            level=LEVEL_NAMES[lineages[resource_id]["level"]],
            identifiers=lineages[resource_id]["identifiers"],
            destination_kind=destination.kind,
            destination=destination.name,
        )
        for resource_id in resources
    ]


def _store_handler(kind: str) -> HTTPRouteHandler:
    @post(
        f"/{KIND_PATHS[kind]}/{{name:str}}/store",
        status_code=200,
        sync_to_thread=True,
        name=f"{kind}-store",
    )
    def store(
        request: Request, name: str, body: bytes, jobs: JobEngine, wait_for: ReadModelWaiter
    ) -> dict[str, Any]:
        """Send resources (any level) as a job: synchronously unless `Asynchronous` is true."""
        destination = destination_of(request, kind, name)
        resources, payload = parse_store_request(body)
        requested = requested_exports(request, destination, resources)
        options = {key: payload[key] for key in STORE_OPTIONS if key in payload}
        if kind == "modality" and _storage_commitment(payload):
            options[STORAGE_COMMITMENT] = True
        if kind == "modality" and "Transcode" in payload:
            options["Transcode"] = _transcode(payload["Transcode"])
        priority = job_priority(payload)
        asynchronous = not is_synchronous(payload)
        job_id, position = jobs.submit_store(
            destination, requested, options, rest_origin(request), priority, not asynchronous
        )
        # the report the content names is read next
        also = ("storage_commitment",) if STORAGE_COMMITMENT in options else ()
        return _finish(jobs, wait_for, job_id, position, asynchronous, also)

    return store


def _transcode(value: Any) -> str:
    """The transfer syntax the files are sent in (Orthanc's `Transcode` of a store)."""
    try:
        return str(requested_syntax(value))
    except ModificationRefused as refused:
        raise OrthancError(OrthancCode[refused.code], refused.details) from None


def _storage_commitment(payload: dict[str, Any]) -> bool:
    value = payload.get(STORAGE_COMMITMENT, False)
    if not isinstance(value, bool):  # Orthanc says no more than the code
        raise OrthancError(OrthancCode.BAD_PARAMETER_TYPE)
    return value


def _store_straight_handler(kind: str) -> HTTPRouteHandler:
    @post(
        f"/{KIND_PATHS[kind]}/{{name:str}}/store-straight",
        status_code=200,
        sync_to_thread=True,
        name=f"{kind}-store-straight",
    )
    def store_straight(
        request: Request, name: str, body: bytes, nodes: NodeDirectory, senders: Senders
    ) -> dict[str, Any]:
        """Send the DICOM file in the body without storing it here."""
        destination = destination_of(request, kind, name)
        try:
            dataset = read_dicom(body, bounds=settings_of(request).input_bounds).dataset
        except InvalidDicomFile as error:
            raise invalid_file_error(error) from None
        outcome: dict[str, Any] = {}

        def on_result(_: str, succeeded: bool, error: str) -> None:
            outcome.update(succeeded=succeeded, error=error)

        sop_uid = identifiers(dataset).sop_uid
        configuration = nodes.for_sending(kind, name) or destination.configuration
        try:
            senders[kind].store(configuration, [(sop_uid, body)], on_result)
        except Exception as error:
            raise OrthancError(OrthancCode.NETWORK_PROTOCOL, str(error)) from None
        if not outcome.get("succeeded"):
            raise OrthancError(OrthancCode.NETWORK_PROTOCOL, outcome.get("error") or "not sent")
        return {"SOPClassUID": str(dataset.get("SOPClassUID", "")), "SOPInstanceUID": sop_uid}

    return store_straight


@post("/modalities/{name:str}/move", status_code=200, sync_to_thread=True)
def move_from_modality(
    request: Request, name: str, data: dict[str, Any], jobs: JobEngine, wait_for: ReadModelWaiter
) -> dict[str, Any]:
    """C-MOVE SCU: ask the modality to send the resources to `TargetAet` (default: here)."""
    destination = destination_of(request, "modality", name)
    level = str(data.get("Level", ""))
    queries = data.get("Resources")
    if level.lower() not in ("patient", "study", "series", "instance"):
        raise OrthancError(
            OrthancCode.BAD_REQUEST, "Level must be Patient, Study, Series or Instance"
        )
    if not isinstance(queries, list) or not all(isinstance(q, dict) for q in queries):
        raise OrthancError(OrthancCode.BAD_REQUEST, "Resources must be a list of queries")
    target = str(data.get("TargetAet") or settings_of(request).dicom_aet)
    asynchronous = not is_synchronous(data)
    job_id, position = jobs.submit_move(
        destination,
        level,
        [{str(k): str(v) for k, v in q.items()} for q in queries],
        target,
        rest_origin(request),
        job_priority(data),
        run_here=not asynchronous,
    )
    return _finish(jobs, wait_for, job_id, position, asynchronous)


RETRIEVE_KEYS = {
    "Patient": ("PatientID",),
    "Study": ("StudyInstanceUID",),
    "Series": ("StudyInstanceUID", "SeriesInstanceUID"),
    "Instance": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}


def _retrieve(
    request: Request,
    parts: tuple[JobEngine, ReadModelWaiter],
    query_id: str,
    indices: list[int] | None,
    body: bytes,
) -> dict[str, Any]:
    """C-MOVE of query answers to a target AET (the body: an AET, or a JSON object)."""
    jobs, wait_for = parts
    result = registry(request).get(query_id)
    answers = result.answers if indices is None else [result.answers[i] for i in indices]
    options = _retrieve_options(body)
    target = str(options.get("TargetAet") or settings_of(request).dicom_aet)
    keys = RETRIEVE_KEYS[result.level]
    queries = [{key: str(answer.get(key, "") or "") for key in keys} for answer in answers]
    asynchronous = not is_synchronous(options)
    job_id, position = jobs.submit_move(
        destination_of(request, "modality", result.modality),
        result.level,
        queries,
        target,
        rest_origin(request),
        job_priority(options),
        run_here=not asynchronous,
    )
    return _finish(jobs, wait_for, job_id, position, asynchronous)


def _retrieve_options(body: bytes) -> dict[str, Any]:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return {"TargetAet": text}
    if isinstance(payload, str):
        return {"TargetAet": payload}
    if isinstance(payload, dict):
        return payload
    raise OrthancError(OrthancCode.BAD_REQUEST, "Expected a target AET or a JSON object")


@post("/queries/{query_id:str}/retrieve", status_code=200, sync_to_thread=True)
def retrieve_query(
    request: Request, query_id: str, body: bytes, jobs: JobEngine, wait_for: ReadModelWaiter
) -> dict[str, Any]:
    """Retrieve every answer of the query (C-MOVE), to `TargetAet` or here."""
    return _retrieve(request, (jobs, wait_for), query_id, None, body)


@post("/queries/{query_id:str}/answers/{index:int}/retrieve", status_code=200, sync_to_thread=True)
def retrieve_answer(
    request: Request,
    query_id: str,
    index: int,
    body: bytes,
    jobs: JobEngine,
    wait_for: ReadModelWaiter,
) -> dict[str, Any]:
    """Retrieve one answer of the query (C-MOVE), to `TargetAet` or here."""
    if index < 0 or index >= len(registry(request).get(query_id).answers):
        raise OrthancError(OrthancCode.UNKNOWN_RESOURCE, f"No answer {index}")
    return _retrieve(request, (jobs, wait_for), query_id, [index], body)


def _finish(
    jobs: JobEngine,
    wait_for: ReadModelWaiter,
    job_id: str,
    position: int,
    asynchronous: bool,
    also: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Asynchronous: the job's address; synchronous: run it here and answer its content.
    `also`: more read models the next read of a finished job's outcome depends on."""
    if asynchronous:
        wait_for(position, ("jobs",))
        return {"ID": job_id, "Path": f"/jobs/{job_id}"}
    try:
        content, position = jobs.run(job_id, started=True)
    except JobFailed as failure:
        wait_for(failure.position, ("jobs", "exports", *also))
        raise OrthancError(OrthancCode.NETWORK_PROTOCOL, failure.details) from None
    wait_for(position, ("jobs", "exports", *also))
    return content


transfers_handlers = [
    move_from_modality,
    retrieve_query,
    retrieve_answer,
    _store_handler("modality"),
    _store_handler("peer"),
    _store_straight_handler("modality"),
    _store_straight_handler("peer"),
]
