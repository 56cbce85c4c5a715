"""POST /tools/bulk-content and /tools/bulk-delete: many resources described, or deleted, in one
call, as Orthanc 1.10.1 does (OrthancRestResources.cpp, BulkContent and BulkDelete)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from adapters.node import ReadModelWaiter
from api.context import read_connection, settings_of
from api.dicom_json import TagsFormat
from api.errors import OrthancCode, OrthancError
from api.metadata import annotation_names, expanded_metadata, metadata_of_rows
from api.params import json_boolean, json_tags_format
from api.resource_views import expand_resources
from api.routes.metadata import empty_response
from api.routes.resources import delete_row
from domain.archive import Archive
from domain.levels import ANCESTOR_COLUMN, LEVEL_SPELLINGS
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

RESOURCES = "Resources"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict):
        raise OrthancError(OrthancCode.BAD_REQUEST, "The body must contain a JSON object")
    return parsed


def _strings(body: dict[str, Any], key: str) -> list[str]:
    """Orthanc's SerializationToolbox::ReadListOfStrings."""
    value = body.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, f"List of strings expected in field: {key}")
    return value


def _level(body: dict[str, Any]) -> int:
    """Orthanc's StringToResourceType of the `Level` string, whatever its case."""
    text = body["Level"]
    if not isinstance(text, str):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "String value expected in field: Level")
    level = LEVEL_SPELLINGS.get(text.upper())
    if level is None:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE)
    return level


def _at_level(conn: psycopg.Connection, resource_ids: list[str], level: int) -> list[Row]:
    """As Orthanc: each known resource is replaced by its descendants or its ancestor at
    `level`; the union is answered once each, in the order of the IDs."""
    found = hierarchy.get_resources(conn, sorted(set(resource_ids)))
    interest: set[str] = set()
    for row in found.values():
        if row["level"] == level:
            interest.add(row["id"])
        elif row["level"] < level:
            below = hierarchy.descendants(conn, row["level"], row["id"], level)
            interest.update(child["id"] for child in below)
        elif row[ANCESTOR_COLUMN[level]] is not None:
            interest.add(row[ANCESTOR_COLUMN[level]])
    rows = hierarchy.get_resources(conn, sorted(interest))
    return [rows[resource_id] for resource_id in sorted(interest) if resource_id in rows]


@post("/tools/bulk-content", status_code=200, sync_to_thread=True)
def bulk_content(request: Request, body: bytes) -> list[dict[str, Any]]:
    """The expanded form of each resource in `Resources` (unknown ones left out), with its
    `Metadata` unless that is false; with `Level`, of the resources at that level above or
    below them instead. `Simplify`, `Short`, `Full`: the format of the tags."""
    request_body = _json_object(body)
    tag_format = json_tags_format(request_body, TagsFormat.SIMPLIFIED)
    with_metadata = json_boolean(request_body, "Metadata") if "Metadata" in request_body else True
    with read_connection(request) as conn:
        if "Level" in request_body:
            level = _level(request_body)
            rows = _at_level(conn, _strings(request_body, RESOURCES), level)
        else:  # the resources as they are listed, duplicates included
            resource_ids = _strings(request_body, RESOURCES)
            found = hierarchy.get_resources(conn, list(set(resource_ids)))
            rows = [found[resource_id] for resource_id in resource_ids if resource_id in found]
        answers = expand_resources(conn, rows, tag_format)
        if with_metadata:
            names = annotation_names(settings_of(request))
            found = metadata_of_rows(conn, rows)
            for answer, metadata in zip(answers, found, strict=True):
                answer["Metadata"] = expanded_metadata(metadata, names)
    return [dict(sorted(answer.items())) for answer in answers]


@post("/tools/bulk-delete", status_code=200, sync_to_thread=True)
def bulk_delete(
    request: Request, body: bytes, archive: Archive, wait_for: ReadModelWaiter
) -> Response[bytes]:
    """Deletes each resource of `Resources` (of any level) as DELETE /{level}/{id} does, one
    after the other in the order of their IDs; unknown ones (or ones gone with an earlier one)
    are skipped."""
    resource_ids = sorted(set(_strings(_json_object(body), RESOURCES)))
    for resource_id in resource_ids:
        with read_connection(request) as conn:
            row = hierarchy.get_resources(conn, [resource_id]).get(resource_id)
        if row is not None:
            delete_row(request, row, archive, wait_for)
    return empty_response()


bulk_handlers: list[HTTPRouteHandler] = [bulk_content, bulk_delete]
