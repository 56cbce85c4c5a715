"""The exports log: every instance sent to a modality or peer. Seq is the event's log position.

DELETE /exports hides earlier entries from GET /exports; the rows stay for auditors.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.types.json import Jsonb

from domain.aggregates import ExportRecord, ExportsLog
from projections.runner import Positioned


class ExportsProjection:
    name = "exports"

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        rows = []
        hidden_below = None
        for position, event in batch:
            if isinstance(event, ExportRecord.Recorded):
                rows.append(
                    (
                        position,
                        event.instance_id,
                        event.series_id,
                        event.study_id,
                        event.patient_id,
                        Jsonb(event.identifiers),
                        event.destination_kind,
                        event.destination,
                        event.remote_aet,
                        event.job_id,
                        event.succeeded,
                        event.error,
                        Jsonb(event.origin),
                        event.timestamp,
                    )
                )
            elif isinstance(event, ExportsLog.Cleared):
                hidden_below = position
        if rows:
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO exports VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s)",
                    rows,
                )
        if hidden_below is not None:
            conn.execute("UPDATE visibility SET hidden_below = %s", (hidden_below,))
