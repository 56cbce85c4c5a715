"""The exports log: every instance sent to a modality or peer. Seq is the event's log position.

DELETE /exports hides earlier entries from GET /exports; the rows stay for auditors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.aggregates import ExportRecord, ExportsLog
from projections.read_model import Positioned


class ExportsProjection:
    name = "exports"
    topics = (ExportRecord.Recorded, ExportsLog.Cleared)

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        rows = []
        hidden_below = None
        for position, event in batch:
            if isinstance(event, ExportRecord.Recorded):
                rows.append(_row(position, event))
            elif isinstance(event, ExportsLog.Cleared):
                hidden_below = position
        if rows:
            # One statement for the batch (no per-row round trips, no pipeline mode).
            conn.execute(
                "INSERT INTO exports SELECT * FROM jsonb_populate_recordset(NULL::exports, %s)",
                (Jsonb(rows),),
            )
        if hidden_below is not None:
            conn.execute("UPDATE visibility SET hidden_below = %s", (hidden_below,))


def _row(position: int, event: Any) -> dict[str, Any]:
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
