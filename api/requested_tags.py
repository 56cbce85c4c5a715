"""Orthanc 1.11's `requestedTags`: extra tags reported in a resource's `RequestedTags` field.

Main DICOM tags of the resource and its ancestors come from the hierarchy; the computed tags
(ModalitiesInStudy, NumberOfStudyRelatedInstances, ...) are counted in the hierarchy; any other
tag is read from one instance file of the resource, as Orthanc does.
"""

from __future__ import annotations

from typing import Any

import psycopg
from litestar import Request
from pydicom.datadict import keyword_dict

from api.context import live_settings_of, settings_of
from api.dicom_dictionary import private_dictionary
from api.dicom_files import read_header
from api.dicom_json import TagsFormat, full_tags, shorten, simplify
from api.errors import OrthancCode, OrthancError
from domain.dicom_text import UnknownDicomTag, format_tag, parse_tag, tag_name
from domain.levels import INSTANCE, PATIENT, SERIES, STUDY
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

MODALITIES_IN_STUDY = 0x00080061
SOP_CLASSES_IN_STUDY = 0x00080062
NUMBER_OF_PATIENT_RELATED_STUDIES = 0x00201200
NUMBER_OF_PATIENT_RELATED_SERIES = 0x00201202
NUMBER_OF_PATIENT_RELATED_INSTANCES = 0x00201204
NUMBER_OF_STUDY_RELATED_SERIES = 0x00201206
NUMBER_OF_STUDY_RELATED_INSTANCES = 0x00201208
NUMBER_OF_SERIES_RELATED_INSTANCES = 0x00201209

# The tags Orthanc computes from the database instead of reading them, per level.
COMPUTED_TAGS = {
    PATIENT: {
        NUMBER_OF_PATIENT_RELATED_STUDIES: "studies",
        NUMBER_OF_PATIENT_RELATED_SERIES: "series",
        NUMBER_OF_PATIENT_RELATED_INSTANCES: "instances",
    },
    STUDY: {
        MODALITIES_IN_STUDY: "modalities",
        SOP_CLASSES_IN_STUDY: "sop_classes",
        NUMBER_OF_STUDY_RELATED_SERIES: "series",
        NUMBER_OF_STUDY_RELATED_INSTANCES: "instances",
    },
    SERIES: {NUMBER_OF_SERIES_RELATED_INSTANCES: "instances"},
    INSTANCE: {},
}

Node = dict[str, Any]


def parse_requested_tags(text: str | None) -> list[int] | None:
    """`requestedTags=PatientName;0008,0020`: names or numbers separated by semicolons."""
    if not text:
        return None
    tags: list[int] = []
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        try:
            tag = parse_tag(item)
        except UnknownDicomTag:
            raise OrthancError(OrthancCode.UNKNOWN_DICOM_TAG) from None
        if tag not in tags:
            tags.append(tag)
    return tags


def add_requested_tags(
    request: Request,
    conn: psycopg.Connection,
    rows: list[Row],
    bodies: list[dict[str, Any]],
    requested: list[int],
    tag_format: TagsFormat,
) -> None:
    ancestors = hierarchy.get_resources(
        conn,
        [row[column] for row in rows for column in ("patient_id", "study_id") if row[column]],
    )
    computed = _computed(conn, rows, requested)
    for row, body in zip(rows, bodies, strict=True):
        nodes: dict[int, Node] = {}
        for tag, value in computed.get(row["id"], {}).items():
            nodes[tag] = _string_node(tag, value)
        for tag, value in _main_tags(row, ancestors).items():
            if tag in requested and tag not in nodes:
                nodes[tag] = _string_node(tag, value)
        missing = [tag for tag in requested if tag not in nodes]
        if missing:
            nodes.update(_from_file(request, conn, row, missing))
        body["RequestedTags"] = _formatted(nodes, tag_format)


def _main_tags(row: Row, ancestors: dict[str, Row]) -> dict[int, str]:
    values: dict[str, str] = {}
    for column in ("patient_id", "study_id"):
        ancestor = ancestors.get(row[column] or "")
        if ancestor is not None and ancestor["id"] != row["id"]:
            values.update(ancestor["main_tags"] or {})
    values.update(row["main_tags"] or {})
    return {keyword_dict[k]: v for k, v in values.items() if k in keyword_dict}


def _computed(
    conn: psycopg.Connection, rows: list[Row], requested: list[int]
) -> dict[str, dict[int, str]]:
    result: dict[str, dict[int, str]] = {}
    for level in (PATIENT, STUDY, SERIES):
        wanted = {tag: key for tag, key in COMPUTED_TAGS[level].items() if tag in requested}
        ids = [row["id"] for row in rows if row["level"] == level]
        if not wanted or not ids:
            continue
        for resource_id, facts in hierarchy.computed_counts(conn, level, ids).items():
            result[resource_id] = {tag: _computed_text(facts[key]) for tag, key in wanted.items()}
    return result


def _computed_text(value: Any) -> str:
    if isinstance(value, list):
        return "\\".join(sorted(v for v in value if v))
    return str(value)


def _from_file(
    request: Request, conn: psycopg.Connection, row: Row, missing: list[int]
) -> dict[int, Node]:
    instance = row if row["level"] == INSTANCE else hierarchy.first_instance(conn, row)
    if instance is None:
        return {}
    tags = full_tags(
        read_header(request, instance),
        default_encoding=live_settings_of(request).default_encoding,
        private_dictionary=private_dictionary(settings_of(request).dictionary),
    )
    return {tag: tags[format_tag(tag)] for tag in missing if format_tag(tag) in tags}


def _string_node(tag: int, value: str) -> Node:
    return {"Name": tag_name(tag), "Type": "String", "Value": value}


def _formatted(nodes: dict[int, Node], tag_format: TagsFormat) -> dict[str, Any]:
    full = {format_tag(tag): node for tag, node in sorted(nodes.items())}
    if tag_format is TagsFormat.FULL:
        return full
    if tag_format is TagsFormat.SHORT:
        return shorten(full)
    return dict(sorted(simplify(full).items()))
