"""Storage commitment reports: pending from the request, then the modality's report (or the
reason the request failed). A report's status is final once all its entries are listed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.storage_commitment import (
    FAILURE,
    PENDING,
    REQUESTED,
    SUCCESS,
    StorageCommitmentReport,
)
from projections.read_model import Positioned

Report = StorageCommitmentReport


class StorageCommitmentProjection:
    name = "storage_commitment"
    topics = (Report.Requested, Report.EntriesListed, Report.RequestFailed, Report.ReportReceived)

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        for position, event in batch:
            if isinstance(event, Report.Requested):
                _requested(conn, event)
            elif isinstance(event, Report.EntriesListed):
                _listed(conn, position, event)
            elif isinstance(event, Report.RequestFailed):
                _request_failed(conn, event)
            elif isinstance(event, Report.ReportReceived):
                _report_received(conn, event)


def _requested(conn: psycopg.Connection, event: Any) -> None:
    conn.execute(
        "INSERT INTO reports (id, transaction_uid, modality, remote_aet, job_id, status, "
        "requested_at, origin) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            str(event.originator_id),
            event.transaction_uid,
            event.modality,
            event.remote_aet,
            event.job_id,
            PENDING,
            event.timestamp,
            Jsonb(event.origin),
        ),
    )


def _listed(conn: psycopg.Connection, position: int, event: Any) -> None:
    report_id = str(event.originator_id)
    conn.execute(
        "INSERT INTO entries (report_id, kind, position, ordinal, sop_class_uid, "
        "sop_instance_uid, failure_reason) SELECT %s, %s, %s, ordinality, entry->>0, "
        "entry->>1, (entry->>2)::integer FROM jsonb_array_elements(%s) WITH ORDINALITY "
        "AS listed(entry, ordinality)",
        (report_id, event.kind, position, Jsonb(event.entries)),
    )
    if event.kind != REQUESTED:
        conn.execute(
            "UPDATE reports SET expected = expected - %s WHERE id = %s",
            (len(event.entries), report_id),
        )
        _settle(conn, report_id, event.timestamp)


def _request_failed(conn: psycopg.Connection, event: Any) -> None:
    conn.execute(
        "UPDATE reports SET status = %s, details = %s, completed_at = %s WHERE id = %s",
        (FAILURE, event.reason, event.timestamp, str(event.originator_id)),
    )


def _report_received(conn: psycopg.Connection, event: Any) -> None:
    report_id = str(event.originator_id)
    conn.execute("DELETE FROM entries WHERE report_id = %s AND kind <> %s", (report_id, REQUESTED))
    conn.execute(
        "UPDATE reports SET remote_aet = %s, status = %s, details = NULL, "
        "reports = reports + 1, expected = %s, failed = %s, completed_at = NULL WHERE id = %s",
        (
            event.remote_aet,
            PENDING,
            event.succeeded + event.failed,
            event.failed,
            report_id,
        ),
    )
    _settle(conn, report_id, event.timestamp)


def _settle(conn: psycopg.Connection, report_id: str, timestamp: Any) -> None:
    """The report is complete once every entry it announced is listed."""
    conn.execute(
        "UPDATE reports SET status = CASE WHEN failed > 0 THEN %s ELSE %s END, "
        "completed_at = %s WHERE id = %s AND reports > 0 AND expected = 0",
        (FAILURE, SUCCESS, timestamp, report_id),
    )
