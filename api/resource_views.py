"""Orthanc's JSON for patients, studies, series and instances, built from hierarchy rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from pydicom.datadict import keyword_dict

from api.dicom_json import TagsFormat
from domain.levels import INSTANCE, SERIES, STUDY
from domain.main_tags import LEVELS
from domain.series_status import series_status
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

LEVEL_TYPES = LEVELS
CHILD_KEYS = ("Studies", "Series", "Instances")
PARENT_KEYS = (None, "ParentPatient", "ParentStudy", "ParentSeries")


def orthanc_time(moment: datetime) -> str:
    """Orthanc's timestamps: YYYYMMDDTHHMMSS in UTC."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def format_tags(tags: dict[str, str], tag_format: TagsFormat) -> dict[str, Any]:
    if tag_format is TagsFormat.SIMPLIFIED:
        return dict(sorted(tags.items()))
    formatted: dict[str, Any] = {}
    for keyword, value in tags.items():
        number = keyword_dict.get(keyword)
        key = f"{number >> 16:04x},{number & 0xFFFF:04x}" if number is not None else keyword
        if tag_format is TagsFormat.SHORT:
            formatted[key] = value
        else:
            formatted[key] = {"Name": keyword, "Type": "String", "Value": value}
    return dict(sorted(formatted.items()))


def expand_resources(
    conn: psycopg.Connection, rows: list[Row], tag_format: TagsFormat = TagsFormat.SIMPLIFIED
) -> list[dict[str, Any]]:
    """Orthanc's expanded form for each row, with a constant number of queries."""
    parents = [row["id"] for row in rows if row["level"] < INSTANCE]
    children = hierarchy.child_ids(conn, parents)
    counted = [r["id"] for r in rows if r["level"] == SERIES and r["expected_instances"]]
    indexes = hierarchy.series_indexes(conn, counted)
    labels = hierarchy.labels_of(conn, [row["id"] for row in rows])
    return [_expand(row, children, indexes, labels, tag_format) for row in rows]


def _expand(
    row: Row,
    children: dict[str, list[str]],
    indexes: dict[str, list[str | None]],
    labels: dict[str, list[str]],
    tag_format: TagsFormat,
) -> dict[str, Any]:
    level = row["level"]
    body: dict[str, Any] = {"ID": row["id"], "Labels": labels.get(row["id"], [])}  # 1.12
    if level == INSTANCE:
        body["FileSize"] = row["file_size"]
        body["FileUuid"] = row["file_uuid"]
        body["IndexInSeries"] = row["index_in_series"]
    else:
        body[CHILD_KEYS[level]] = children.get(row["id"], [])
        body["IsStable"] = row["is_stable"]
        body["LastUpdate"] = orthanc_time(row["last_update"])
    body["MainDicomTags"] = format_tags(row["main_tags"], tag_format)
    parent_key = PARENT_KEYS[level]
    if parent_key is not None:
        body[parent_key] = row["parent_id"]
    if level == STUDY:
        # As Orthanc: the patient tags of the study's own first instance.
        body["PatientMainDicomTags"] = format_tags(row["patient_main_tags"] or {}, tag_format)
    if level == SERIES:
        expected = row["expected_instances"]
        body["ExpectedNumberOfInstances"] = expected
        body["Status"] = series_status(expected, indexes.get(row["id"], []))
    body["Type"] = LEVEL_TYPES[level]
    body.update(row.get("derived_from") or {})  # Orthanc's ModifiedFrom or AnonymizedFrom
    return dict(sorted(body.items()))
