"""Orthanc's jobs: state, progress, content and errors, from the job events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.aggregates import Job, event_classes
from projections.read_model import Positioned

CANCELED_JOB = (37, "Job has been canceled")


class JobsProjection:
    name = "jobs"
    topics = tuple(event_classes(Job))

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        for position, event in batch:
            if isinstance(event, Job.Submitted):
                conn.execute(
                    "INSERT INTO jobs (id, job_type, priority, state, progress, parameters, "
                    "submitted_position, created_at, last_change_at, origin) "
                    "VALUES (%s, %s, %s, 'Pending', 0, %s, %s, %s, %s, %s)",
                    (
                        str(event.originator_id),
                        event.job_type,
                        event.priority,
                        Jsonb(event.parameters),
                        position,
                        event.timestamp,
                        event.timestamp,
                        Jsonb(event.origin),
                    ),
                )
            elif isinstance(event, Job.Event):
                self._transition(conn, event)

    @staticmethod
    def _transition(conn: psycopg.Connection, event: Any) -> None:
        changes = _changes_for(event)
        if not changes:
            return
        columns = ", ".join(f"{name} = %s" for name in changes)
        conn.execute(
            f"UPDATE jobs SET {columns}, last_change_at = %s WHERE id = %s",
            (*changes.values(), event.timestamp, str(event.originator_id)),
        )


def _changes_for(event: Any) -> dict[str, Any]:
    if isinstance(event, Job.Started):
        return {"state": "Running", "attempt": event.attempt, "started_at": event.timestamp}
    if isinstance(event, Job.Progressed):
        return {"progress": event.progress, "content": Jsonb({"Done": event.done})}
    if isinstance(event, Job.Succeeded):
        return {
            "state": "Success",
            "progress": 100,
            "content": Jsonb(event.content),
            "completed_at": event.timestamp,
        }
    if isinstance(event, Job.Failed):
        return {
            "state": "Failure",
            "error_code": event.error_code,
            "error_description": event.error_description,
            "error_details": event.details,
            "completed_at": event.timestamp,
        }
    if isinstance(event, Job.Paused):
        return {"state": "Paused"}
    if isinstance(event, Job.Resumed):
        return {"state": "Pending"}
    if isinstance(event, Job.Cancelled):
        code, description = CANCELED_JOB
        return {
            "state": "Failure",
            "error_code": code,
            "error_description": description,
            "completed_at": event.timestamp,
        }
    if isinstance(event, Job.Resubmitted):
        return {
            "state": "Pending",
            "progress": 0,
            "error_code": 0,
            "error_description": "Success",
            "error_details": "",
            "completed_at": None,
        }
    return {}
