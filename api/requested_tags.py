"""Orthanc 1.11's `requestedTags`: extra tags reported in a resource's `RequestedTags` field.

Main DICOM tags of the resource and its ancestors come from the hierarchy; any other tag is read
from one instance file of the resource, as Orthanc does.
"""

from __future__ import annotations

from typing import Any

import psycopg
from litestar import Request
from pydicom.datadict import dictionary_keyword, keyword_dict

from api import read_models
from api.dicom_files import read_dataset
from api.errors import OrthancCode, OrthancError
from api.read_models import INSTANCE, Row
from api.resource_views import TagFormat, format_tags
from domain.dicom_json import simplified_tags


def parse_requested_tags(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [_keyword(item.strip()) for item in text.split(";") if item.strip()]


def _keyword(item: str) -> str:
    if item in keyword_dict:
        return item
    try:
        group, element = item.split(",")
        number = (int(group, 16) << 16) | int(element, 16)
    except ValueError:
        raise OrthancError(OrthancCode.UNKNOWN_DICOM_TAG, f"Unknown DICOM tag: {item}") from None
    try:
        return dictionary_keyword(number) or item.lower()
    except KeyError:
        return item.lower()


def add_requested_tags(
    request: Request,
    conn: psycopg.Connection,
    rows: list[Row],
    bodies: list[dict[str, Any]],
    requested: list[str],
    tag_format: TagFormat,
) -> None:
    ancestors = read_models.get_resources(
        conn,
        [row[column] for row in rows for column in ("patient_id", "study_id") if row[column]],
    )
    for row, body in zip(rows, bodies, strict=True):
        known: dict[str, str] = {}
        for column in ("patient_id", "study_id"):
            ancestor = ancestors.get(row[column] or "")
            if ancestor is not None:
                known.update(ancestor["main_tags"])
        known.update(row["main_tags"])
        values = {tag: known[tag] for tag in requested if tag in known}
        missing = [tag for tag in requested if tag not in known]
        if missing:
            values.update(_from_file(request, conn, row, missing))
        body["RequestedTags"] = format_tags(values, tag_format)


def _from_file(
    request: Request, conn: psycopg.Connection, row: Row, missing: list[str]
) -> dict[str, Any]:
    instances = read_models.instance_rows(conn, row["level"], row["id"])
    if not instances:
        return {}
    instance = instances[0] if row["level"] != INSTANCE else row
    tags = simplified_tags(read_dataset(request, instance))
    return {tag: tags[tag] for tag in missing if tag in tags}
