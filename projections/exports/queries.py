"""Reads of the exports read model: Orthanc's /exports, and the audit trail behind it (every
instance sent)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import psycopg
from psycopg.rows import dict_row

from projections.log_paging import LogPage, page_log

Row = dict[str, Any]


def page_exports(
    conn: psycopg.Connection, since: int, limit: int, newest_only: bool = False
) -> LogPage:
    """Orthanc's /exports: the resources store calls named."""
    return page_log(
        conn,
        "exports.requested",
        "exports.visibility",
        since,
        limit,
        newest_only,
        empty_last_is_since=True,
    )


@attrs.frozen
class AuditFilter:
    """Every field optional; patient and study match the Orthanc ID or the DICOM identifier."""

    patient: str | None = None
    study: str | None = None
    destination: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


def audit(conn: psycopg.Connection, where: AuditFilter) -> list[Row]:
    """Every export ever recorded that matches, cleared from /exports or not, in order."""
    clauses: list[str] = []
    params: list[Any] = []
    if where.patient:
        clauses.append("(patient_id = %s OR identifiers->>'PatientID' = %s)")
        params += [where.patient, where.patient]
    if where.study:
        clauses.append("(study_id = %s OR identifiers->>'StudyInstanceUID' = %s)")
        params += [where.study, where.study]
    if where.destination:
        clauses.append("destination = %s")
        params.append(where.destination)
    if where.start:
        clauses.append("exported_at >= %s")
        params.append(where.start)
    if where.end:
        clauses.append("exported_at < %s")
        params.append(where.end)
    condition = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f"SELECT * FROM exports.exports {condition} ORDER BY seq", params)
        return cursor.fetchall()
