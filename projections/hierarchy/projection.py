"""The Patient/Study/Series/Instance hierarchy with Orthanc's main DICOM tags.

A batch is folded in memory over the rows it touches, then written with one DELETE and one
INSERT, so a rebuild costs a few statements per few hundred events. The annotations of
resources (projections.hierarchy.annotations) are written in order between those folds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.aggregates import Instance
from domain.levels import INSTANCE, LEVEL_NAMES, PATIENT, SERIES, STUDY
from projections.hierarchy.annotations import (
    ANNOTATION_EVENTS,
    apply_annotation,
    drop_annotations,
)
from projections.lifecycle import (
    LIFECYCLE_EVENTS,
    Kind,
    Lifecycle,
    Node,
    Transition,
    referenced_ids,
)
from projections.read_model import Positioned

Row = dict[str, Any]

COLUMNS = (
    "id",
    "level",
    "parent_id",
    "patient_id",
    "study_id",
    "series_id",
    "created_position",
    "main_tags",
    "patient_main_tags",
    "last_update",
    "last_stored_position",
    "is_stable",
    "instances_count",
    "file_uuid",
    "file_size",
    "file_md5",
    "transfer_syntax",
    "sop_class_uid",
    "index_in_series",
    "index_in_series_text",
    "pixel_data_offset",
    "received_at",
    "origin",
    "expected_instances",
    "other_tags",
    "file_compression",
    "file_compressed_size",
    "file_compressed_md5",
    "derived_from",
)
# Written in order between the folds, as annotations: an instance's file rewritten, or read
# again.
FILE_EVENTS = (Instance.FileCompressionChanged, Instance.Reconstructed)


class HierarchyProjection:
    name = "hierarchy"
    topics = LIFECYCLE_EVENTS + ANNOTATION_EVENTS + FILE_EVENTS

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        segment: list[Positioned] = []
        for positioned in batch:
            if isinstance(positioned[1], ANNOTATION_EVENTS + FILE_EVENTS):
                self._apply_lifecycle(conn, segment)
                segment = []
                if isinstance(positioned[1], Instance.Reconstructed):
                    _apply_reconstructed(conn, positioned[1])
                elif isinstance(positioned[1], FILE_EVENTS):
                    _apply_file(conn, positioned[1])
                else:
                    apply_annotation(conn, positioned[1])
            else:
                segment.append(positioned)
        self._apply_lifecycle(conn, segment)

    def _apply_lifecycle(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        if not batch:
            return
        rows = self._load_rows(conn, referenced_ids(event for _, event in batch))
        nodes = {
            resource_id: Node(row["level"], row["instances_count"], row["last_stored_position"])
            for resource_id, row in rows.items()
            if row is not None
        }
        lifecycle = Lifecycle(nodes)
        removed: list[str] = []
        for position, event in batch:
            for transition in lifecycle.apply(position, event):
                _fold(rows, nodes, transition)
                if transition.kind is Kind.REMOVED:
                    removed.append(transition.resource_id)
        _write(conn, rows)
        drop_annotations(conn, removed)

    @staticmethod
    def _load_rows(conn: psycopg.Connection, ids: set[str]) -> dict[str, Row | None]:
        if not ids:
            return {}
        with conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            cursor.execute("SELECT * FROM resources WHERE id = ANY(%s) AND level < 3", (list(ids),))
            return {row["id"]: row for row in cursor.fetchall()}


def _fold(rows: dict[str, Row | None], nodes: dict[str, Node], transition: Transition) -> None:
    resource_id = transition.resource_id
    if transition.kind is Kind.REMOVED:
        rows[resource_id] = None
        return
    if transition.kind is Kind.SHRUNK:
        row = rows[resource_id]
        assert row is not None
        row["instances_count"] = nodes[resource_id].instances
        return
    if transition.kind is Kind.STABILIZED:
        row = rows[resource_id]
        assert row is not None
        row["is_stable"] = True
        row["last_update"] = transition.timestamp
        return
    if transition.kind is Kind.CREATED or transition.level == INSTANCE:
        rows[resource_id] = _new_row(transition)
    row = rows[resource_id]
    assert row is not None
    derived = derived_from(transition.event, transition.level)
    if derived is not None:  # as Orthanc, each derived instance stored sets it again
        row["derived_from"] = derived
    row["last_update"] = transition.timestamp
    row["is_stable"] = False
    row["last_stored_position"] = transition.position
    if transition.level != INSTANCE:
        row["instances_count"] = nodes[resource_id].instances


def derived_from(event: Any, level: int) -> dict[str, str] | None:
    """{"ModifiedFrom" or "AnonymizedFrom": the source's ID} if a modification made this
    level's resource anew from another one, else None (a split or merge names its sources
    with no metadata, as Orthanc records none)."""
    derived = getattr(event, "derived", None)
    if not derived or not derived["metadata"]:
        return None
    source = derived["sources"].get(LEVEL_NAMES[level])
    return None if source is None else {derived["metadata"]: source}


def _new_row(transition: Transition) -> Row:
    event = transition.event
    level = transition.level
    lineage = (event.patient_id, event.study_id, event.series_id, event.instance_id)
    row: Row = dict.fromkeys(COLUMNS)
    row.update(
        id=transition.resource_id,
        level=level,
        parent_id=lineage[level - 1] if level > PATIENT else None,
        patient_id=event.patient_id,
        study_id=event.study_id if level >= STUDY else None,
        series_id=event.series_id if level >= SERIES else None,
        created_position=transition.position,
        main_tags=event.tags.get(LEVEL_NAMES[level], {}),
        patient_main_tags=event.tags.get("Patient", {}) if level == STUDY else None,
        is_stable=False,
        instances_count=1 if level == INSTANCE else 0,
        expected_instances=event.dicom.get("expected_instances") if level == SERIES else None,
    )
    if level == INSTANCE:
        row.update(
            **_file_columns(event.attachment),
            transfer_syntax=event.dicom.get("transfer_syntax"),
            sop_class_uid=event.dicom.get("sop_class_uid"),
            index_in_series=event.dicom.get("index_in_series"),
            index_in_series_text=event.dicom.get("index_in_series_text"),
            pixel_data_offset=event.dicom.get("pixel_data_offset"),
            received_at=transition.timestamp,
            origin=event.origin,
            other_tags=event.indexed,
        )
    return row


def _file_columns(attachment: dict[str, Any]) -> Row:
    compression = attachment.get("compression") or {}
    return {
        "file_uuid": attachment["uuid"],
        "file_size": attachment["size"],
        "file_md5": attachment["md5"],
        "file_compression": compression.get("type"),
        "file_compressed_size": compression.get("size"),
        "file_compressed_md5": compression.get("md5"),
    }


def _apply_file(conn: psycopg.Connection, event: Instance.FileCompressionChanged) -> None:
    columns = _file_columns(event.attachment)
    assignments = ", ".join(f"{column} = %({column})s" for column in columns)
    conn.execute(
        f"UPDATE resources SET {assignments} WHERE id = %(id)s AND level = 3",
        {**columns, "id": event.instance_id},
    )


def _apply_reconstructed(conn: psycopg.Connection, event: Instance.Reconstructed) -> None:
    """As Orthanc: the main tags of every level are the instance's as read again."""
    dicom, tags = event.dicom, event.tags
    conn.execute(
        "UPDATE resources SET main_tags = %s, other_tags = %s, transfer_syntax = %s, "
        "sop_class_uid = %s, index_in_series = %s, index_in_series_text = %s, "
        "pixel_data_offset = %s WHERE id = %s AND level = 3",
        (
            Jsonb(tags.get("Instance", {})),
            Jsonb(event.indexed),
            dicom.get("transfer_syntax"),
            dicom.get("sop_class_uid"),
            dicom.get("index_in_series"),
            dicom.get("index_in_series_text"),
            dicom.get("pixel_data_offset"),
            event.instance_id,
        ),
    )
    conn.execute(
        "UPDATE resources SET main_tags = %s, expected_instances = %s WHERE id = %s",
        (Jsonb(tags.get("Series", {})), dicom.get("expected_instances"), event.series_id),
    )
    conn.execute(
        "UPDATE resources SET main_tags = %s, patient_main_tags = %s WHERE id = %s",
        (Jsonb(tags.get("Study", {})), Jsonb(tags.get("Patient", {})), event.study_id),
    )
    conn.execute(
        "UPDATE resources SET main_tags = %s WHERE id = %s",
        (Jsonb(tags.get("Patient", {})), event.patient_id),
    )


def _write(conn: psycopg.Connection, rows: dict[str, Row | None]) -> None:
    if not rows:
        return
    conn.execute("DELETE FROM resources WHERE id = ANY(%s)", (list(rows),))
    present = [_jsonable(row) for row in rows.values() if row is not None]
    if present:
        conn.execute(
            "INSERT INTO resources SELECT * FROM jsonb_populate_recordset(NULL::resources, %s)",
            (Jsonb(present),),
        )


def _jsonable(row: Row) -> Row:
    return {
        key: value.isoformat() if hasattr(value, "isoformat") else value
        for key, value in row.items()
    }
