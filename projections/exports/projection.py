"""The exports log: the resources store calls named (Orthanc's /exports, `requested`) and every
instance sent to a modality or peer (the audit trail, `exports`). Seq is the event's position.

DELETE /exports hides earlier entries from GET /exports; the rows stay for auditors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.aggregates import ExportRecord, ExportRequest, ExportsLog
from projections.read_model import Positioned


class ExportsProjection:
    name = "exports"
    topics = (ExportRecord.Recorded, ExportRequest.Requested, ExportsLog.Cleared)

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        sent: list[dict[str, Any]] = []
        requested: list[dict[str, Any]] = []
        hidden_below = None
        for position, event in batch:
            if isinstance(event, ExportRecord.Recorded):
                sent.append(_sent_row(position, event))
                if event.listed:
                    requested.append(_requested_row(position, event, event.instance_id, "Instance"))
            elif isinstance(event, ExportRequest.Requested):
                requested.append(_requested_row(position, event))
            elif isinstance(event, ExportsLog.Cleared):
                hidden_below = position
        _insert(conn, "exports", sent)
        _insert(conn, "requested", requested)
        if hidden_below is not None:
            conn.execute("UPDATE visibility SET hidden_below = %s", (hidden_below,))


def _insert(conn: psycopg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:  # one statement for the batch (no per-row round trips, no pipeline mode)
        conn.execute(
            f"INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, %s)",
            (Jsonb(rows),),
        )


def _requested_row(
    position: int, event: Any, resource_id: str | None = None, level: str | None = None
) -> dict[str, Any]:
    """An /exports entry: a requested resource, or (v1 records) the instance sent."""
    return {
        "seq": position,
        "resource_id": resource_id or event.resource_id,
        "level": level or event.level,
        "identifiers": event.identifiers,
        "destination_kind": event.destination_kind,
        "destination": event.destination,
        "job_id": event.job_id,
        "origin": event.origin,
        "requested_at": event.timestamp.isoformat(),
    }


def _sent_row(position: int, event: Any) -> dict[str, Any]:
    return {
        "seq": position,
        "instance_id": event.instance_id,
        "series_id": event.series_id,
        "study_id": event.study_id,
        "patient_id": event.patient_id,
        "identifiers": event.identifiers,
        "destination_kind": event.destination_kind,
        "destination": event.destination,
        "remote_aet": event.remote_aet,
        "job_id": event.job_id,
        "succeeded": event.succeeded,
        "error": event.error,
        "origin": event.origin,
        "exported_at": event.timestamp.isoformat(),
    }
