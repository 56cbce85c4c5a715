"""Queries on the read models (hierarchy, changes), shared by the API and the adapters:
a handful of statements per call."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import attrs
import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]

PATIENT, STUDY, SERIES, INSTANCE = 0, 1, 2, 3
ANCESTOR_COLUMN = {PATIENT: "patient_id", STUDY: "study_id", SERIES: "series_id"}


def _rows(conn: psycopg.Connection, query: str, params: Any = None) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def get_resource(conn: psycopg.Connection, level: int, resource_id: str) -> Row | None:
    rows = _rows(
        conn,
        "SELECT * FROM hierarchy.resources WHERE id = %s AND level = %s",
        (resource_id, level),
    )
    return rows[0] if rows else None


def get_resources(conn: psycopg.Connection, ids: list[str]) -> dict[str, Row]:
    if not ids:
        return {}
    rows = _rows(conn, "SELECT * FROM hierarchy.resources WHERE id = ANY(%s)", (ids,))
    return {row["id"]: row for row in rows}


def list_resources(
    conn: psycopg.Connection, level: int, since: int, limit: int | None
) -> list[Row]:
    return _rows(
        conn,
        "SELECT * FROM hierarchy.resources WHERE level = %s ORDER BY created_position "
        "OFFSET %s LIMIT %s",
        (level, since, limit),
    )


def descendants(
    conn: psycopg.Connection, level: int, resource_id: str, child_level: int
) -> list[Row]:
    """The resources of `child_level` under a resource, in the order Orthanc lists them.

    Orthanc walks down one level at a time and prepends each parent's children (creation
    order) to the list of the next level, so the children of the last parent come first:
    a patient's series are those of its newest study first.
    """
    if child_level == level + 1:
        return _rows(
            conn,
            "SELECT * FROM hierarchy.resources WHERE parent_id = %s ORDER BY created_position",
            (resource_id,),
        )
    column = ANCESTOR_COLUMN[level]
    rows = _rows(
        conn,
        f"SELECT * FROM hierarchy.resources WHERE {column} = %s AND level > %s AND level <= %s "
        "ORDER BY created_position",
        (resource_id, level, child_level),
    )
    children: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        children[row["parent_id"]].append(row)
    current = [resource_id]
    found: list[Row] = []
    for _ in range(level, child_level):
        found = []
        for parent_id in current:
            found = children.get(parent_id, []) + found
        current = [row["id"] for row in found]
    return found


def instance_rows(conn: psycopg.Connection, level: int, resource_id: str) -> list[Row]:
    if level == INSTANCE:
        row = get_resource(conn, INSTANCE, resource_id)
        return [row] if row else []
    return descendants(conn, level, resource_id, INSTANCE)


def first_instance(conn: psycopg.Connection, row: Row) -> Row | None:
    """The first instance stored of a patient, study or series."""
    rows = _rows(
        conn,
        f"SELECT * FROM hierarchy.resources WHERE {ANCESTOR_COLUMN[row['level']]} = %s "
        "AND level = 3 ORDER BY created_position LIMIT 1",
        (row["id"],),
    )
    return rows[0] if rows else None


def computed_counts(conn: psycopg.Connection, level: int, ids: list[str]) -> dict[str, Row]:
    """What Orthanc's computed tags need: counts of descendants, modalities and SOP classes."""
    column = ANCESTOR_COLUMN[level]
    rows = _rows(
        conn,
        f"SELECT {column} AS id, "
        "count(*) FILTER (WHERE level = 1) AS studies, "
        "count(*) FILTER (WHERE level = 2) AS series, "
        "count(*) FILTER (WHERE level = 3) AS instances, "
        "array_agg(DISTINCT main_tags->>'Modality') FILTER (WHERE level = 2) AS modalities, "
        "array_agg(DISTINCT sop_class_uid) FILTER (WHERE level = 3) AS sop_classes "
        f"FROM hierarchy.resources WHERE {column} = ANY(%s) AND level > %s GROUP BY {column}",
        (ids, level),
    )
    return {row["id"]: row for row in rows}


def instances_under(conn: psycopg.Connection, resource_id: str) -> list[Row]:
    """The instances of a resource of any level (empty if there is no such resource)."""
    return _rows(
        conn,
        "SELECT i.* FROM hierarchy.resources r JOIN hierarchy.resources i ON i.level = 3 AND "
        "(i.id = r.id OR i.series_id = r.id OR i.study_id = r.id OR i.patient_id = r.id) "
        "WHERE r.id = %s ORDER BY i.created_position",
        (resource_id,),
    )


def child_ids(conn: psycopg.Connection, parent_ids: list[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = defaultdict(list)
    if parent_ids:
        cursor = conn.execute(
            "SELECT parent_id, id FROM hierarchy.resources WHERE parent_id = ANY(%s) "
            "ORDER BY created_position",
            (parent_ids,),
        )
        for parent_id, child_id in cursor.fetchall():
            result[parent_id].append(child_id)
    return result


def resource_statistics(conn: psycopg.Connection, level: int, resource_id: str) -> Row:
    if level == INSTANCE:
        query = (
            "SELECT 0 AS studies, 0 AS series, count(*) AS instances, "
            "coalesce(sum(file_size), 0) AS size FROM hierarchy.resources "
            "WHERE id = %s AND level = 3"
        )
    else:
        query = (
            "SELECT count(DISTINCT study_id) AS studies, count(DISTINCT series_id) AS series, "
            "count(*) AS instances, coalesce(sum(file_size), 0) AS size "
            f"FROM hierarchy.resources WHERE {ANCESTOR_COLUMN[level]} = %s AND level = 3"
        )
    return _rows(conn, query, (resource_id,))[0]


def global_statistics(conn: psycopg.Connection) -> Row:
    return _rows(
        conn,
        "SELECT count(*) FILTER (WHERE level = 0) AS patients, "
        "count(*) FILTER (WHERE level = 1) AS studies, "
        "count(*) FILTER (WHERE level = 2) AS series, "
        "count(*) FILTER (WHERE level = 3) AS instances, "
        "coalesce(sum(file_size), 0) AS size FROM hierarchy.resources",
    )[0]


# The clearable logs: (table, visibility table) of /changes and /exports.
LOGS = {
    "changes": ("changes.changes", "changes.visibility"),
    "exports": ("exports.exports", "exports.visibility"),
}


@attrs.frozen
class LogPage:
    rows: list[Row]
    done: bool
    last: int


def page_log(
    conn: psycopg.Connection, log: str, since: int, limit: int, newest_only: bool = False
) -> LogPage:
    """Orthanc's paging of /changes and /exports: the entries after `since` (a Seq) that are
    not hidden by a clear, at most `limit`; `Last` is the last Seq returned, or the highest
    ever allocated when nothing is (a cleared log keeps its numbering)."""
    table, visibility = LOGS[log]
    visible = f"FROM {table} e, {visibility} v WHERE e.seq >= v.hidden_below"
    if newest_only:
        rows, done = _rows(conn, f"SELECT e.* {visible} ORDER BY e.seq DESC LIMIT 1"), True
    else:
        query = f"SELECT e.* {visible} AND e.seq > %s ORDER BY e.seq LIMIT %s"
        rows = _rows(conn, query, (since, limit + 1))
        done, rows = len(rows) <= limit, rows[:limit]
    if rows:
        return LogPage(rows, done, rows[-1]["seq"])
    newest = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()
    return LogPage(rows, done, int(newest[0]) if newest else 0)
