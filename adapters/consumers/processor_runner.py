"""Feeds one processor: side effects first, then its position (at least once).

A processor is never rebuilt or replayed: registered on a log with history, it starts from the
head, so adding one never re-sends what happened before it existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg

from adapters.consumers.log_reader import LogReader
from adapters.consumers.runner import ConsumerRunner
from adapters.consumers.status import PROCESSOR
from projections.read_model import Positioned

RUNTIME_SCHEMA = "runtime"


class Processor(Protocol):
    name: str
    # The event classes it handles (the others are skipped unread); None for every event.
    topics: tuple[type, ...] | None
    # Read models it reads: it never goes past their positions.
    follows: tuple[str, ...]

    def handle(self, batch: Sequence[Positioned]) -> None:
        """Performs the side effects of these events (each at least once: make it idempotent)."""

    def tick(self) -> float | None:
        """Work due by time rather than by events; returns the seconds until it is due again
        (None: only when events arrive)."""


class ProcessorRunner(ConsumerRunner):
    kind = PROCESSOR

    def __init__(self, processor: Processor, *args: Any, **kwargs: Any) -> None:
        super().__init__(processor.name, processor.topics, *args, **kwargs)
        self.processor = processor

    def prepare(self, conn: psycopg.Connection) -> int:
        """The runtime schema is migrated once for every consumer (Consumers.prepare)."""
        return register(conn, self.name, self.reader)

    def tracked(self, conn: psycopg.Connection) -> int:
        return tracked_position(conn, self.name)

    def consume(self, conn: psycopg.Connection, batch: Sequence[Positioned], up_to: int) -> int:
        if batch:
            self.processor.handle(batch)
        if self.should_save(batch):
            conn.execute(
                "UPDATE runtime.processor_positions SET position = greatest(position, %s) "
                "WHERE name = %s",
                (up_to, self.name),
            )
        return up_to

    def tick(self) -> float | None:
        return self.processor.tick()


def register(conn: psycopg.Connection, name: str, reader: LogReader) -> int:
    """The processor's position; the log's head if it was never registered before."""
    with conn.transaction():
        # Durable even on the runners' connections: a lost registration would start it later.
        conn.execute("SET LOCAL synchronous_commit = on")
        conn.execute(
            "INSERT INTO runtime.processor_positions (name, position) VALUES (%s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (name, reader.head(conn)),
        )
        return tracked_position(conn, name)


def tracked_position(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(
        "SELECT position FROM runtime.processor_positions WHERE name = %s", (name,)
    ).fetchone()
    return int(row[0]) if row else 0
