"""Follows the notification log in order and feeds projections in batches.

Each projection applies a batch and records its new position in the same transaction, under an
advisory lock per projection (one writer at a time, and the lock a rebuild takes to swap).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from eventsourcing.application import Application

from adapters.database import Database
from adapters.safe_logging import error_report
from projections import schema

log = logging.getLogger(__name__)

BATCH_SIZE = 500

Positioned = tuple[int, Any]  # (log position, domain event)


class Projection(Protocol):
    name: str

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        """Applies the batch's events with the search_path set to the projection's schema."""


def read_batch(app: Application, after: int, limit: int = BATCH_SIZE) -> list[Positioned]:
    notifications = app.recorder.select_notifications(
        start=after, limit=limit, inclusive_of_start=False
    )
    return [(n.id, app.mapper.to_domain_event(n)) for n in notifications]


def apply_batch(
    conn: psycopg.Connection,
    projection: Projection,
    target: str,
    batch: Sequence[Positioned],
    lock_name: str | None = None,
) -> int:
    """Applies the part of the batch the projection has not seen; returns its new position.

    `target` is the schema written to: the projection's own, or a fresh one being rebuilt.
    """
    with conn.transaction():
        return _apply_in_transaction(conn, projection, target, batch, lock_name)


def _apply_in_transaction(
    conn: psycopg.Connection,
    projection: Projection,
    target: str,
    batch: Sequence[Positioned],
    lock_name: str | None = None,
) -> int:
    position = schema.enter(conn, lock_name or projection.name, target)
    unseen = [item for item in batch if item[0] > position]
    if unseen:
        projection.apply(conn, unseen)
        position = unseen[-1][0]
        schema.record_position(conn, position)
    return position


class ProjectionRunner:
    def __init__(
        self,
        app: Application,
        db: Database,
        projections: Sequence[Projection],
        poll_interval: float = 0.5,
        first: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.db = db
        self.projections = list(projections)
        self.first = set(first)
        self.poll_interval = poll_interval
        self.positions: dict[str, int] = {}
        self._progress = threading.Condition()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def prepare(self) -> None:
        with self.db.connection() as conn:
            for projection in self.projections:
                schema.migrate(conn, projection.name, projection.name)
                with conn.transaction():
                    schema.set_search_path(conn, projection.name)
                    self.positions[projection.name] = schema.tracked_position(conn)

    def catch_up(self) -> bool:
        """Processes one batch; returns True if there may be more."""
        start = min(self.positions.values(), default=0)
        batch = read_batch(self.app, start)
        if not batch:
            return False
        with self.db.connection() as conn:
            for group in self._groups():
                self._apply_group(conn, group, batch)
        return len(batch) == BATCH_SIZE

    def _groups(self) -> list[list[Projection]]:
        """The projections read-your-writes waits for commit first, in their own transaction."""
        first = [p for p in self.projections if p.name in self.first]
        rest = [p for p in self.projections if p.name not in self.first]
        return [group for group in (first, rest) if group]

    def _apply_group(
        self, conn: psycopg.Connection, group: list[Projection], batch: Sequence[Positioned]
    ) -> None:
        with conn.transaction():
            positions = {p.name: _apply_in_transaction(conn, p, p.name, batch) for p in group}
        for name, position in positions.items():
            self._advance(name, max(position, batch[-1][0]))

    def catch_up_fully(self) -> None:
        while self.catch_up():
            pass

    def notify(self) -> None:
        self._wakeup.set()

    def wait_for(self, position: int, names: Sequence[str] | None = None, timeout=30.0) -> bool:
        """Blocks until the named projections (default: all) have applied `position`."""
        wanted = names or [p.name for p in self.projections]
        deadline = time.monotonic() + timeout
        with self._progress:
            while min(self.positions.get(n, 0) for n in wanted) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wakeup.set()
                self._progress.wait(remaining)
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="projection-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _advance(self, name: str, position: int) -> None:
        with self._progress:
            self.positions[name] = max(self.positions.get(name, 0), position)
            self._progress.notify_all()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                more = self.catch_up()
            except Exception as error:
                log.error("projection batch failed; retrying: %s", error_report(error))
                more = False
                self._stopping.wait(1.0)
            if not more:
                self._wakeup.wait(self.poll_interval)
                self._wakeup.clear()
