"""POST /tools/find, /tools/count-resources and /tools/lookup: the archive searched through the
hierarchy read model, with the matching rules the C-FIND SCP uses
(projections.hierarchy.matching)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from litestar import Request, post
from litestar.handlers import HTTPRouteHandler

from api.attachment_views import attachments_of_rows
from api.context import read_connection, settings_of
from api.find_request import EXPANDED, FindRequest, bad_request, out_of_range, parse_find
from api.metadata import annotation_names, expanded_metadata, metadata_of_rows
from api.requested_tags import add_requested_tags
from api.resource_views import CHILD_KEYS, PARENT_KEYS, expand_resources
from domain.levels import INSTANCE, LEVEL_NAMES, LEVEL_PATHS, PATIENT, SERIES, STUDY
from projections.hierarchy import matching
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.matching import Constraint, ResourceQuery
from projections.hierarchy.queries import Row

# Which fields of a resource's expanded form each ResponseContent value brings.
CONTENT_FIELDS = {
    "MainDicomTags": ("MainDicomTags", "PatientMainDicomTags"),
    "Children": CHILD_KEYS,
    "Parent": tuple(key for key in PARENT_KEYS if key),
    "Status": ("Status", "ExpectedNumberOfInstances"),
    "IsStable": ("IsStable",),
    "Labels": ("Labels",),
    "RequestedTags": ("RequestedTags",),
    "Metadata": ("Metadata",),
    "IsProtected": ("IsProtected",),
    "Attachments": ("Attachments",),
}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The body must contain a JSON object") from None


@post("/tools/find", status_code=200, sync_to_thread=True)
def find_resources(request: Request, body: bytes) -> list[Any]:
    """Orthanc's find: the IDs of the resources at `Level` whose tags match `Query`, or their
    expanded form (`Expand`, `ResponseContent`)."""
    find = parse_find(_json(body), annotation_names(settings_of(request)))
    if find.unmatchable:
        return []
    with read_connection(request) as conn:
        matches = matching.find(conn, find.query, find.instance_constraints)
        ids = [match.resource_id for match in matches]
        if not find.content:
            return ids
        found = hierarchy.get_resources(conn, ids)
        rows = [found[resource_id] for resource_id in ids if resource_id in found]
        bodies = expand_resources(conn, rows, find.tag_format)
        if find.requested_tags and "RequestedTags" in find.content:
            requested = list(find.requested_tags)
            add_requested_tags(request, conn, rows, bodies, requested, find.tag_format)
        _add_annotations(request, conn, rows, bodies, find.content)
    return [_answer(body, find) for body in bodies]


def _add_annotations(
    request: Request,
    conn: psycopg.Connection,
    rows: list[Row],
    bodies: list[dict[str, Any]],
    content: frozenset[str],
) -> None:
    """ResponseContent's Metadata (all of each resource's, by name), Attachments (each one's
    sizes and MD5s, the DICOM file's included) and IsProtected (patients)."""
    if "Metadata" in content:
        names = annotation_names(settings_of(request))
        for body, found in zip(bodies, metadata_of_rows(conn, rows), strict=True):
            body["Metadata"] = expanded_metadata(found, names)
    if "Attachments" in content:
        for body, attached in zip(bodies, attachments_of_rows(conn, rows), strict=True):
            body["Attachments"] = [attached[number].info() for number in sorted(attached)]
    if "IsProtected" in content:
        patients = [row["id"] for row in rows if row["level"] == PATIENT]
        protected = hierarchy.protected_among(conn, patients) if patients else set()
        for row, body in zip(rows, bodies, strict=True):
            if row["level"] == PATIENT:
                body["IsProtected"] = row["id"] in protected


def _answer(body: dict[str, Any], find: FindRequest) -> dict[str, Any]:
    if find.content == EXPANDED:
        return body
    kept = {"ID", "Type"}
    for content in find.content:
        kept.update(CONTENT_FIELDS.get(content, ()))
    return {key: value for key, value in body.items() if key in kept}


@post("/tools/count-resources", status_code=200, sync_to_thread=True)
def count_resources(request: Request, body: bytes) -> dict[str, int]:
    """How many resources /tools/find would list for the same body (Since and Limit left
    out)."""
    find = parse_find(_json(body), annotation_names(settings_of(request)))
    if find.unmatchable:
        return {"Count": 0}
    with read_connection(request) as conn:
        return {"Count": matching.count(conn, find.query, find.instance_constraints)}


LOOKUP_KEYS = (
    ("PatientID", PATIENT),
    ("StudyInstanceUID", STUDY),
    ("SeriesInstanceUID", SERIES),
    ("SOPInstanceUID", INSTANCE),
)


@post("/tools/lookup", status_code=200, sync_to_thread=True)
def lookup(request: Request, body: bytes) -> list[dict[str, str]]:
    """The resources whose PatientID, StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID is
    the body: {ID, Path, Type} each, patients first. As Orthanc: the body is trimmed and a
    PatientID matched whatever its case."""
    value = body.decode("utf-8", "replace").strip().rstrip("\0").strip()
    if "*" in value or "?" in value:
        raise out_of_range("Wildcards are not allowed on tag 0010,0020")
    found: list[dict[str, str]] = []
    if not value:
        return found
    with read_connection(request) as conn:
        for keyword, level in LOOKUP_KEYS:
            exact = Constraint(keyword, level, "equal", (value,), level != PATIENT)
            query = ResourceQuery(level, (exact,))
            for match in matching.find(conn, query):
                resource_id = match.resource_id
                found.append(
                    {
                        "ID": resource_id,
                        "Path": f"/{LEVEL_PATHS[level]}/{resource_id}",
                        "Type": LEVEL_NAMES[level],
                    }
                )
    return found


find_handlers: list[HTTPRouteHandler] = [find_resources, count_resources, lookup]
