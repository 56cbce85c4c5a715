"""Reads of the storage commitment read model."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]


def get_report(conn: psycopg.Connection, transaction_uid: str) -> Row | None:
    """The report with its `entries` by kind (requested, succeeded, failed), in order."""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT * FROM storage_commitment.reports WHERE transaction_uid = %s",
            (transaction_uid,),
        )
        report = cursor.fetchone()
        if report is None:
            return None
        cursor.execute(
            "SELECT kind, sop_class_uid, sop_instance_uid, failure_reason "
            "FROM storage_commitment.entries WHERE report_id = %s ORDER BY position, ordinal",
            (report["id"],),
        )
        entries: dict[str, list[Row]] = {}
        for entry in cursor.fetchall():
            entries.setdefault(entry.pop("kind"), []).append(entry)
    report["entries"] = entries
    return report
