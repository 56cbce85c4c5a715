"""What each consumer of the log is doing: its position, lag, rate and last error.

Runners report to the runtime.consumers table (on every change of state, and while progressing
at most every REPORT_INTERVAL seconds), so that `chronicle status`, `GET /tools/projections`
and any process of a scale-out see the same thing. Positions are read from where each consumer
tracks them, which is authoritative.
"""

from __future__ import annotations

import os
import time
from collections import deque
from datetime import datetime
from typing import Any

import attrs
import psycopg
from psycopg.rows import dict_row

REPORT_INTERVAL = 2.0
RATE_WINDOW = 10.0
PROJECTION, PROCESSOR = "projection", "processor"
RUNNING, FAILING, STOPPED = "running", "failing", "stopped"


@attrs.frozen
class ConsumerStatus:
    name: str
    kind: str
    state: str  # running, failing, stopped, or "never run"
    position: int
    head: int
    events_per_second: float
    failing_position: int | None
    last_error: str | None
    failing_since: datetime | None
    updated_at: datetime | None

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Kind": self.kind,
            "State": self.state,
            "Position": self.position,
            "Head": self.head,
            "Lag": self.lag,
            "EventsPerSecond": round(self.events_per_second, 1),
            "FailingPosition": self.failing_position,
            "LastError": self.last_error,
            "FailingSince": self.failing_since.isoformat() if self.failing_since else None,
            "UpdatedAt": self.updated_at.isoformat() if self.updated_at else None,
        }


class Rate:
    """Events per second over the last RATE_WINDOW seconds."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, count: int) -> None:
        now = time.monotonic()
        self._samples.append((now, count))
        while self._samples and self._samples[0][0] < now - RATE_WINDOW:
            self._samples.popleft()

    def per_second(self) -> float:
        if not self._samples:
            return 0.0
        span = max(time.monotonic() - self._samples[0][0], 1.0)
        return sum(count for _, count in self._samples) / span


def report(
    conn: psycopg.Connection,
    name: str,
    kind: str,
    state: str,
    position: int,
    rate: float,
    failure: tuple[int, str, datetime] | None,
) -> None:
    failing_position, error, since = failure if failure else (None, None, None)
    conn.execute(
        "INSERT INTO runtime.consumers (name, kind, state, position, events_per_second, "
        "failing_position, last_error, failing_since, updated_at, process_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now(), %s) ON CONFLICT (name) DO UPDATE SET "
        "kind = excluded.kind, state = excluded.state, position = excluded.position, "
        "events_per_second = excluded.events_per_second, "
        "failing_position = excluded.failing_position, last_error = excluded.last_error, "
        "failing_since = excluded.failing_since, updated_at = now(), "
        "process_id = excluded.process_id",
        (name, kind, state, position, rate, failing_position, error, since, os.getpid()),
    )


def statuses(
    conn: psycopg.Connection,
    consumers: list[tuple[str, str]],
    positions: dict[str, int],
    head: int,
) -> list[ConsumerStatus]:
    """`consumers`: (name, kind) in the order to list; `positions`: their tracked positions."""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute("SELECT * FROM runtime.consumers")
        reported = {row["name"]: row for row in cursor.fetchall()}
    found = []
    for name, kind in consumers:
        row = reported.get(name, {})
        found.append(
            ConsumerStatus(
                name=name,
                kind=kind,
                state=row.get("state", "never run"),
                position=positions.get(name, int(row.get("position") or 0)),
                head=head,
                events_per_second=row.get("events_per_second", 0.0),
                failing_position=row.get("failing_position"),
                last_error=row.get("last_error"),
                failing_since=row.get("failing_since"),
                updated_at=row.get("updated_at"),
            )
        )
    return found
