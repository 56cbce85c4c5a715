"""Reads of the jobs read model."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]


def visible_jobs(conn: psycopg.Connection, history_size: int) -> list[Row]:
    """Unfinished jobs, and the last `history_size` finished ones (Orthanc's registry)."""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT * FROM jobs.jobs WHERE completed_at IS NULL OR id IN (SELECT id FROM "
            "jobs.jobs WHERE completed_at IS NOT NULL ORDER BY completed_at DESC LIMIT %s) "
            "ORDER BY submitted_position",
            (history_size,),
        )
        return cursor.fetchall()


def get_job(conn: psycopg.Connection, job_id: str) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute("SELECT * FROM jobs.jobs WHERE id = %s", (job_id,))
        return cursor.fetchone()


def next_pending(conn: psycopg.Connection) -> str | None:
    """The pending job to run next (Orthanc: the lower the priority value, the sooner)."""
    row = conn.execute(
        "SELECT id FROM jobs.jobs WHERE state = 'Pending' "
        "ORDER BY priority, submitted_position LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def running(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT id FROM jobs.jobs WHERE state = 'Running'")]


def job_counts(conn: psycopg.Connection) -> dict[str, int]:
    """How many jobs are in each state (Pending, Running, Success, Failure…)."""
    rows = conn.execute("SELECT state, count(*) FROM jobs.jobs GROUP BY state").fetchall()
    return {state: int(count) for state, count in rows}
