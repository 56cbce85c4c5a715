"""Reads the notification log in order, through the caller's connection, decoded into events."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from adapters.event_store import events_table
from domain.aggregates import RENAMED_TOPICS
from projections.read_model import Positioned

RECENT_EVENTS = 4096  # a few batches: what runners a little apart on the log both read


def stored_topics(event_classes: Iterable[type]) -> list[str]:
    """The topics the log holds events of these classes under, old names included."""
    classes = list(event_classes)
    topics = {get_topic(cls) for cls in classes}
    for old, aggregate in RENAMED_TOPICS.items():
        prefix = aggregate.__qualname__ + "."
        for cls in classes:
            if issubclass(cls, Aggregate.Event) and cls.__qualname__.startswith(prefix):
                topics.add(old + cls.__qualname__[len(aggregate.__qualname__) :])
    return sorted(topics)


class LogReader:
    def __init__(self, app: Application) -> None:
        self.table = events_table(app)
        self.mapper = app.mapper
        self._recent: OrderedDict[int, Any] = OrderedDict()  # position -> event (immutable)
        self._lock = threading.Lock()

    def head(self, conn: psycopg.Connection) -> int:
        """The highest position committed (every lower one is committed or a gap: appends
        take the events table's lock, so positions become visible in order)."""
        row = conn.execute(f"SELECT max(notification_id) FROM {self.table}").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def read(
        self,
        conn: psycopg.Connection,
        after: int,
        limit: int,
        up_to: int | None = None,
        topics: Sequence[str] | None = None,
    ) -> list[Positioned]:
        """At most `limit` events after position `after` (and at most `up_to`), of the given
        stored topics only (None: all), in log order."""
        clauses, params = ["notification_id > %s"], [after]
        if up_to is not None:
            clauses.append("notification_id <= %s")
            params.append(up_to)
        if topics is not None:
            clauses.append("topic = ANY(%s)")
            params.append(list(topics))  # type: ignore[arg-type]
        rows = conn.execute(
            f"SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {self.table} WHERE {' AND '.join(clauses)} ORDER BY notification_id LIMIT %s",
            (*params, limit),
        ).fetchall()
        return [(row[0], self._decoded(row)) for row in rows]

    def decode(self, appended: Iterable[tuple[int, StoredEvent]]) -> list[Positioned]:
        """Events just appended, decoded as read would decode them (and remembered for it)."""
        return [(position, self._event(position, stored)) for position, stored in appended]

    def _decoded(self, row: tuple[Any, ...]) -> Any:
        position, oid, version, topic, state = row
        return self._event(position, StoredEvent(oid, version, topic, bytes(state)))

    def _event(self, position: int, stored: StoredEvent) -> Any:
        """Runners following the same stretch of the log share one decoding of each event."""
        with self._lock:
            event = self._recent.get(position)
        if event is None:
            event = self.mapper.to_domain_event(stored)
            with self._lock:
                self._recent[position] = event
                while len(self._recent) > RECENT_EVENTS:
                    self._recent.popitem(last=False)
        return event
