"""DICOM modalities: /modalities, /tools/dicom-echo, and query/retrieve results in /queries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
from litestar import Request, Response, delete, get, post, route
from litestar.concurrency import sync_to_thread
from litestar.handlers import HTTPRouteHandler
from pydicom import Dataset
from pydicom.datadict import dictionary_VR

from adapters.dicom.scu import DicomClient, DicomNetworkError
from adapters.node import ReadModelWaiter
from adapters.query_results import QueryResult, QueryResults
from adapters.remote_config import REST
from api.context import read_connection, rest_origin
from api.dicom_json import TagsFormat, full_tags, to_format
from api.errors import OrthancCode, OrthancError, not_found_without_body
from api.params import present, tags_format
from api.request_bodies import json_body, json_object
from domain.archive import Archive
from domain.binary_numbers import BINARY_NUMBER_VRS, parse_numbers
from domain.dicom_text import UnknownDicomTag, format_tag, parse_tag, tag_name
from domain.levels import level_number
from domain.modality_config import (
    ConfigProblem,
    RemoteNodeConfigError,
    ae_title,
    checked_timeout,
    normalise_modality,
)
from domain.query_modules import query_tags
from domain.remote_nodes import MODALITY
from projections.configuration.queries import get_node, list_nodes

MODALITY_ROUTES = [
    "configuration",
    "echo",
    "find",
    "find-instance",
    "find-patient",
    "find-series",
    "find-study",
    "find-worklist",
    "move",
    "query",
    "storage-commitment",
    "store",
    "store-straight",
]
LEVELS = {"patient": "Patient", "study": "Study", "series": "Series", "instance": "Instance"}
# The keys Orthanc's SCU asks at each level (and those of the levels above).
LEVEL_IDENTIFIERS = {
    "Patient": ("PatientID",),
    "Study": ("StudyInstanceUID", "AccessionNumber", "PatientID"),
    "Series": ("SeriesInstanceUID", "StudyInstanceUID", "AccessionNumber", "PatientID"),
    "Instance": (
        "SOPInstanceUID",
        "SeriesInstanceUID",
        "StudyInstanceUID",
        "AccessionNumber",
        "PatientID",
    ),
}
log = logging.getLogger(__name__)


def network_error(exc: Exception) -> OrthancError:
    """A remote that answered a query with a failure status is a 422, as in Orthanc."""
    if isinstance(exc, DicomNetworkError) and exc.dimse_status is not None:
        return OrthancError(OrthancCode.NETWORK_PROTOCOL, str(exc), 422)
    return OrthancError(OrthancCode.NETWORK_PROTOCOL, str(exc))


def config_error(exc: RemoteNodeConfigError) -> OrthancError:
    code = (
        OrthancCode.PARAMETER_OUT_OF_RANGE
        if exc.problem is ConfigProblem.OUT_OF_RANGE
        else OrthancCode.BAD_FILE_FORMAT
    )
    return OrthancError(code, str(exc))


def empty() -> Response[bytes]:
    return Response(b"", media_type="text/plain")


def modality_of(request: Request, name: str) -> dict[str, Any]:
    with read_connection(request) as conn:
        configuration = get_node(conn, MODALITY, name)
    if configuration is None:
        raise OrthancError(
            OrthancCode.INEXISTENT_ITEM, f"No modality with symbolic name: {name}", 404
        )
    return configuration


def with_timeout(modality: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    timeout = options.get("Timeout")
    if timeout is None:
        return modality
    checked = checked_timeout(
        timeout,
        lambda message: OrthancError(OrthancCode.BAD_FILE_FORMAT, message),
        lambda message: OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, message),
    )
    return {**modality, "Timeout": checked}


# ---------------------------------------------------------------------------------------------
# Definitions


@get("/modalities", sync_to_thread=True)
def list_modalities(request: Request, expand: str | None = None) -> Any:
    with read_connection(request) as conn:
        rows = list_nodes(conn, MODALITY)
    if present(expand):
        return {row["name"]: dict(sorted(row["configuration"].items())) for row in rows}
    return [row["name"] for row in rows]


def modality_routes(request: Request, name: str) -> list[str]:
    with read_connection(request) as conn:
        if get_node(conn, MODALITY, name) is None:
            raise not_found_without_body(f"no modality {name}")
    return MODALITY_ROUTES


@get("/modalities/{name:str}/configuration", sync_to_thread=True)
def modality_configuration(request: Request, name: str) -> dict[str, Any]:
    """Orthanc's fields in its (sorted) order; the read model's jsonb keeps another."""
    return dict(sorted(modality_of(request, name).items()))


@attrs.frozen
class NodeWrites:
    """What PUT and DELETE of a modality or a peer use."""

    archive: Archive
    wait_for: ReadModelWaiter


def define_from_rest(
    request: Request,
    writes: NodeWrites,
    kind: str,
    name: str,
    body: bytes,
    normalise: Callable[[Any], dict[str, Any]],
) -> Response[bytes]:
    """PUT /modalities/{id} and /peers/{id}: bad input is a 400 and appends nothing."""
    try:
        configuration = normalise(json_body(body))
    except RemoteNodeConfigError as exc:
        raise config_error(exc) from None
    origin = rest_origin(request)
    position = writes.archive.define_remote_node(kind, name, configuration, REST, origin)
    writes.wait_for(position, ("configuration",))
    return empty()


def remove_from_rest(
    request: Request, writes: NodeWrites, kind: str, name: str, unknown: str
) -> Response[bytes]:
    """DELETE /modalities/{id} and /peers/{id}; `unknown` is Orthanc's message for a 404."""
    position = writes.archive.remove_remote_node(kind, name, rest_origin(request))
    if position is None:
        raise OrthancError(OrthancCode.INEXISTENT_ITEM, unknown, 404)
    writes.wait_for(position, ("configuration",))
    return empty()


def put_modality(request: Request, writes: NodeWrites, name: str, body: bytes) -> Response[bytes]:
    return define_from_rest(request, writes, MODALITY, name, body, normalise_modality)


def delete_modality(request: Request, writes: NodeWrites, name: str) -> Response[bytes]:
    unknown = f"Unknown DICOM modality with symbolic name: {name}"
    return remove_from_rest(request, writes, MODALITY, name, unknown)


# Litestar 2.25 mixes up three sync_to_thread handlers (GET, PUT, DELETE) on one path: some of
# them then answer 500 ("coroutine 'sync_to_thread' was never awaited"). One handler per path.
@route(
    "/modalities/{name:str}",
    http_method=["GET", "PUT", "DELETE"],
    sync_to_thread=True,
    status_code=200,
)
def modality_resource(
    request: Request, name: str, body: bytes, archive: Archive, wait_for: ReadModelWaiter
) -> Any:
    writes = NodeWrites(archive, wait_for)
    if request.method == "PUT":
        return put_modality(request, writes, name, body)
    if request.method == "DELETE":
        return delete_modality(request, writes, name)
    return modality_routes(request, name)


# ---------------------------------------------------------------------------------------------
# C-ECHO


def _echo(dicom_client: DicomClient, modality: dict[str, Any]) -> dict[str, Any]:
    try:
        dicom_client.echo(modality)
    except DicomNetworkError as exc:
        raise network_error(exc) from None
    return {}


@post("/modalities/{name:str}/echo", sync_to_thread=True, status_code=200)
def echo_modality(
    request: Request, dicom_client: DicomClient, name: str, body: bytes
) -> dict[str, Any]:
    modality = with_timeout(modality_of(request, name), json_object(body))
    return _echo(dicom_client, modality)


@post("/tools/dicom-echo", sync_to_thread=True, status_code=200)
def echo_tool(request: Request, dicom_client: DicomClient, body: bytes) -> dict[str, Any]:
    options = json_body(body)
    try:
        modality = normalise_modality(options)
    except RemoteNodeConfigError as exc:
        raise config_error(exc) from None
    return _echo(dicom_client, with_timeout(modality, options if isinstance(options, dict) else {}))


# ---------------------------------------------------------------------------------------------
# C-FIND: building identifiers, formatting answers


def identifier(query: Any, level: str | None, normalize: bool = True) -> Dataset:
    """A C-FIND identifier from Orthanc's {"tag or name": "value"} filter (just the filter
    without `level`). Normalised as Orthanc does: tags outside the level's modules are left
    out (with a warning), the identifiers of the level and above asked for."""
    if not isinstance(query, dict):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "Query must be a JSON object")
    ds = Dataset()
    for key, value in query.items():
        _set_query_value(ds, key, value)
    if level is None:
        return ds
    if normalize:
        allowed = query_tags(level_number(level))
        for tag in [tag for tag in ds.keys() if tag not in allowed]:  # noqa: SIM118
            log.warning("Tag not allowed for this C-Find level, will be ignored: (%s)",
                        format_tag(tag))  # fmt: skip
            del ds[tag]
    ds.QueryRetrieveLevel = "IMAGE" if level == "Instance" else level.upper()
    for keyword in LEVEL_IDENTIFIERS[level]:
        if keyword not in ds:
            setattr(ds, keyword, "")
    return ds


def filter_tags(query: dict[str, Any]) -> dict[str, Any]:
    """The filter of a query (already checked by identifier()) in Orthanc's full tags: every
    value a string, as Orthanc keeps it."""
    full = {}
    for key, value in query.items():
        tag = parse_tag(key)
        full[format_tag(tag)] = {"Name": tag_name(tag), "Type": "String", "Value": value}
    return dict(sorted(full.items()))


def _set_query_value(ds: Dataset, key: str, value: Any) -> None:
    try:
        tag = parse_tag(key)
    except UnknownDicomTag:
        raise OrthancError(OrthancCode.UNKNOWN_DICOM_TAG, f"Unknown DICOM tag: {key}") from None
    if not isinstance(value, str):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, f"Value of {key} must be a string")
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        vr = "LO"
    if vr == "SQ" and value:
        raise OrthancError(
            OrthancCode.BAD_REQUEST, f'{key} is a sequence: it can only be asked for ("")'
        )
    try:
        if vr in BINARY_NUMBER_VRS:
            ds.add_new(tag, vr, parse_numbers(vr, value))
        else:
            ds.add_new(tag, vr, value if value or vr != "SQ" else [])
    except (ValueError, TypeError, OverflowError):
        raise OrthancError(
            OrthancCode.BAD_FILE_FORMAT, f"Value of {key} is not a valid {vr}: {value!r}"
        ) from None


def answer_json(ds: Dataset, tags_format: TagsFormat) -> Any:
    return to_format(full_tags(ds), tags_format)


def _find(
    dicom_client: DicomClient, modality: dict[str, Any], ds: Dataset, model: str = "study"
) -> list[Dataset]:
    if model != "worklist":
        model = "patient" if ds.get("QueryRetrieveLevel") == "PATIENT" else "study"
    try:
        answers = dicom_client.find(modality, ds, model)
    except DicomNetworkError as exc:
        raise network_error(exc) from None
    if ds.get("QueryRetrieveLevel") == "IMAGE":
        for answer in answers:  # Orthanc keeps each instance answer as a file: with its meta
            if "SOPInstanceUID" in answer and "MediaStorageSOPInstanceUID" not in answer:
                answer.MediaStorageSOPInstanceUID = answer.SOPInstanceUID
    return answers


# ---------------------------------------------------------------------------------------------
# /queries: the results, in the database (adapters/query_results.py)


def registry(request: Request) -> QueryRegistry:
    return QueryRegistry(QueryResults(request.app.state.db))


class QueryRegistry:
    """The query results, with Orthanc's answer for an unknown ID."""

    def __init__(self, results: QueryResults) -> None:
        self.results = results

    def add(self, result: QueryResult) -> str:
        return self.results.add(result)

    def get(self, query_id: str) -> QueryResult:
        result = self.results.get(query_id)
        if result is None:
            raise OrthancError(OrthancCode.UNKNOWN_RESOURCE)
        return result

    def ids(self) -> list[str]:
        return self.results.ids()

    def remove(self, query_id: str) -> None:
        if not self.results.remove(query_id):
            raise OrthancError(OrthancCode.UNKNOWN_RESOURCE)


def _level(value: Any) -> str:
    level = LEVELS.get(str(value).lower()) if isinstance(value, str) else None
    if level is None:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, f"Unknown query level: {value!r}")
    return level


@post("/modalities/{name:str}/query", sync_to_thread=True, status_code=200)
def query_modality(
    request: Request, dicom_client: DicomClient, name: str, body: bytes
) -> dict[str, Any]:
    options = json_object(body)
    level = _level(options.get("Level"))
    fields = options.get("Query", {})
    ds = identifier(fields, level, options.get("Normalize", True) is not False)
    modality = with_timeout(modality_of(request, name), options)
    if options.get("LocalAet") and not modality.get("LocalAet"):
        try:
            modality = {**modality, "LocalAet": ae_title(options["LocalAet"], "LocalAet")}
        except RemoteNodeConfigError as exc:
            raise config_error(exc) from None
    answers = _find(dicom_client, modality, ds)
    query_id = registry(request).add(QueryResult(name, level, filter_tags(fields), answers))
    return {"ID": query_id, "Path": f"/queries/{query_id}"}


@get("/queries", sync_to_thread=True)
def list_queries(request: Request) -> list[str]:
    return registry(request).ids()


@get("/queries/{query_id:str}", sync_to_thread=True)
def query_routes(request: Request, query_id: str) -> list[str]:
    registry(request).get(query_id)
    return ["answers", "level", "modality", "query", "retrieve"]


@delete("/queries/{query_id:str}", status_code=200)
async def delete_query(request: Request, query_id: str) -> Response[bytes]:
    # Async handlers that run the work in a thread: Litestar 2.25 wraps a sync_to_thread
    # handler twice when it returns a Response (see api/routes/upload.py).
    await sync_to_thread(registry(request).remove, query_id)
    return empty()


@get("/queries/{query_id:str}/answers", sync_to_thread=True)
def query_answers(
    request: Request,
    query_id: str,
    expand: str | None = None,
    short: str | None = None,
    simplify: str | None = None,
) -> Any:
    result = registry(request).get(query_id)
    if present(expand):
        chosen = tags_format(simplify, short)
        return [answer_json(answer, chosen) for answer in result.answers]
    return [str(index) for index in range(len(result.answers))]


def _answer(request: Request, query_id: str, index: str) -> tuple[QueryResult, Dataset]:
    result = registry(request).get(query_id)
    if not (index.isascii() and index.isdigit()) or int(index) >= len(result.answers):
        raise OrthancError(OrthancCode.UNKNOWN_RESOURCE)
    return result, result.answers[int(index)]


_CHILD_QUERIES = {
    "Patient": ["query-instances", "query-series", "query-studies"],
    "Study": ["query-instances", "query-series"],
    "Series": ["query-instances"],
    "Instance": [],
}


@get("/queries/{query_id:str}/answers/{index:str}", sync_to_thread=True)
def answer_routes(request: Request, query_id: str, index: str) -> list[str]:
    result, _answer_ds = _answer(request, query_id, index)
    return ["content", *_CHILD_QUERIES[result.level], "retrieve"]


@get("/queries/{query_id:str}/answers/{index:str}/content", sync_to_thread=True)
def answer_content(
    request: Request,
    query_id: str,
    index: str,
    short: str | None = None,
    simplify: str | None = None,
) -> Any:
    _result, answer = _answer(request, query_id, index)
    return answer_json(answer, tags_format(simplify, short))


PARENT_IDENTIFIERS = {
    "Patient": ("PatientID",),
    "Study": ("PatientID", "StudyInstanceUID"),
    "Series": ("PatientID", "StudyInstanceUID", "SeriesInstanceUID"),
}


def _child_query_handler(suffix: str, level: str) -> HTTPRouteHandler:
    @post(
        f"/queries/{{query_id:str}}/answers/{{index:str}}/{suffix}",
        sync_to_thread=True,
        status_code=200,
        name=f"answer-{suffix}",
    )
    def child_query(
        request: Request, dicom_client: DicomClient, query_id: str, index: str, body: bytes
    ) -> dict[str, Any]:
        """A new query one level down, restricted to this answer (its identifiers)."""
        parent, answer = _answer(request, query_id, index)
        if suffix not in _CHILD_QUERIES[parent.level]:
            raise OrthancError(OrthancCode.BAD_REQUEST, f"No {suffix} under a {parent.level}")
        options = json_object(body) if body.strip() else {}
        query = options.get("Query", {})
        if not isinstance(query, dict):
            raise OrthancError(OrthancCode.BAD_REQUEST, "Query must be a JSON object")
        query = dict(query)
        for keyword in PARENT_IDENTIFIERS[parent.level]:
            value = answer.get(keyword)
            if value not in (None, ""):
                query.setdefault(keyword, str(value))
        ds = identifier(query, level, options.get("Normalize", True) is not False)
        modality = with_timeout(modality_of(request, parent.modality), options)
        answers = _find(dicom_client, modality, ds)
        child_id = registry(request).add(
            QueryResult(parent.modality, level, filter_tags(query), answers)
        )
        return {"ID": child_id, "Path": f"/queries/{child_id}"}

    return child_query


@get("/queries/{query_id:str}/level")
async def query_level(request: Request, query_id: str) -> Response[bytes]:
    result = await sync_to_thread(registry(request).get, query_id)
    return Response(result.level.encode(), media_type="text/plain")


@get("/queries/{query_id:str}/modality")
async def query_modality_name(request: Request, query_id: str) -> Response[bytes]:
    result = await sync_to_thread(registry(request).get, query_id)
    return Response(result.modality.encode(), media_type="text/plain")


@get("/queries/{query_id:str}/query", sync_to_thread=True)
def query_filter(
    request: Request, query_id: str, short: str | None = None, simplify: str | None = None
) -> Any:
    return to_format(registry(request).get(query_id).query, tags_format(simplify, short))


# ---------------------------------------------------------------------------------------------
# Deprecated finds: simplified answers


def _simple_find(
    request: Request, dicom_client: DicomClient, name: str, body: bytes, level: str
) -> list[Any]:
    modality = modality_of(request, name)
    answers = _find(dicom_client, modality, identifier(json_object(body), level))
    return [answer_json(answer, TagsFormat.SIMPLIFIED) for answer in answers]


@post("/modalities/{name:str}/find-patient", sync_to_thread=True, status_code=200)
def find_patient(request: Request, dicom_client: DicomClient, name: str, body: bytes) -> list[Any]:
    return _simple_find(request, dicom_client, name, body, "Patient")


@post("/modalities/{name:str}/find-study", sync_to_thread=True, status_code=200)
def find_study(request: Request, dicom_client: DicomClient, name: str, body: bytes) -> list[Any]:
    return _simple_find(request, dicom_client, name, body, "Study")


@post("/modalities/{name:str}/find-series", sync_to_thread=True, status_code=200)
def find_series(request: Request, dicom_client: DicomClient, name: str, body: bytes) -> list[Any]:
    return _simple_find(request, dicom_client, name, body, "Series")


@post("/modalities/{name:str}/find-instance", sync_to_thread=True, status_code=200)
def find_instance(request: Request, dicom_client: DicomClient, name: str, body: bytes) -> list[Any]:
    return _simple_find(request, dicom_client, name, body, "Instance")


@post("/modalities/{name:str}/find", sync_to_thread=True, status_code=200)
def find_hierarchy(
    request: Request, dicom_client: DicomClient, name: str, body: bytes
) -> list[Any]:
    """Patients matching the filter, each with its "Studies", each with its "Series"."""
    modality = modality_of(request, name)
    query = json_object(body)
    patients = []
    for patient in _find(dicom_client, modality, identifier(query, "Patient")):
        ids = {"PatientID": str(patient.get("PatientID", ""))}
        studies = []
        for study in _find(dicom_client, modality, identifier({**query, **ids}, "Study")):
            uids = {**ids, "StudyInstanceUID": str(study.get("StudyInstanceUID", ""))}
            series = _find(dicom_client, modality, identifier({**query, **uids}, "Series"))
            item = answer_json(study, TagsFormat.SIMPLIFIED)
            item["Series"] = [answer_json(s, TagsFormat.SIMPLIFIED) for s in series]
            studies.append(item)
        item = answer_json(patient, TagsFormat.SIMPLIFIED)
        item["Studies"] = studies
        patients.append(item)
    return patients


@post("/modalities/{name:str}/find-worklist", sync_to_thread=True, status_code=200)
def find_worklist(request: Request, dicom_client: DicomClient, name: str, body: bytes) -> list[Any]:
    """Orthanc 1.11: {"Query": {...}, "Short", "Full"}; older clients send the filter alone."""
    options = json_object(body)
    query = options.get("Query", options)
    tags_format = TagsFormat.SIMPLIFIED
    if options.get("Full") is True:
        tags_format = TagsFormat.FULL
    elif options.get("Short") is True:
        tags_format = TagsFormat.SHORT
    modality = modality_of(request, name)
    answers = _find(dicom_client, modality, identifier(query, None), model="worklist")
    return [answer_json(answer, tags_format) for answer in answers]


modalities_handlers = [
    list_modalities,
    modality_resource,
    modality_configuration,
    echo_modality,
    echo_tool,
    query_modality,
    list_queries,
    query_routes,
    delete_query,
    query_answers,
    answer_routes,
    answer_content,
    _child_query_handler("query-studies", "Study"),
    _child_query_handler("query-series", "Series"),
    _child_query_handler("query-instances", "Instance"),
    query_level,
    query_modality_name,
    query_filter,
    find_patient,
    find_study,
    find_series,
    find_instance,
    find_hierarchy,
    find_worklist,
]
