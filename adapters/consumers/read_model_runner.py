"""Feeds one read model: its batch and its position commit in one transaction (exactly once)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from adapters.consumers.runner import ConsumerRunner
from adapters.consumers.status import PROJECTION
from adapters.event_store import Appended
from projections import schema
from projections.read_model import Positioned, ReadModel

# How far behind an append a read model may be and still catch up inside the append's
# transaction (which holds the log's lock); further behind, its runner's batches do it.
INLINE_GAP = 1000


class ReadModelRunner(ConsumerRunner):
    kind = PROJECTION

    def __init__(self, model: ReadModel, *args: Any, **kwargs: Any) -> None:
        super().__init__(model.name, model.topics, *args, **kwargs)
        self.model = model

    def prepare(self, conn: psycopg.Connection) -> int:
        schema.migrate(conn, self.name, self.name)
        with conn.transaction():
            schema.set_search_path(conn, self.name)
            return schema.tracked_position(conn)

    def tracked(self, conn: psycopg.Connection) -> int:
        return schema.tracked_position(conn, self.name)

    def consume(self, conn: psycopg.Connection, batch: Sequence[Positioned], up_to: int) -> int:
        if not self.should_save(batch):
            return self.position
        with conn.transaction():
            # Under the read model's lock: a rebuild may have swapped in a schema that is ahead.
            tracked = schema.enter(conn, self.name, self.name)
            unseen = [item for item in batch if item[0] > tracked]
            if unseen:
                self.model.apply(conn, unseen)
            if up_to > tracked:
                schema.record_position(conn, up_to)
                tracked = up_to
        return tracked

    def apply_within(self, conn: psycopg.Connection, appended: Appended) -> bool:
        """Projects an append in its own transaction: the events between the tracked position
        and the append (read from the log: appends of other paths or processes, or after a
        failure) and the append's own events (decoded, not read back)."""
        first, last = appended[0][0], appended[-1][0]
        tracked = schema.enter_appending(conn, self.name, self.name)
        if tracked >= last:
            return True
        if first - 1 - tracked > INLINE_GAP:
            return False
        batch = []
        if tracked < first - 1:
            batch = self.reader.read(conn, tracked, INLINE_GAP, first - 1, self.topics)
        batch += [item for item in self.reader.decode(appended) if self._reads(item[1])]
        if batch:
            self.model.apply(conn, batch)
        schema.record_position(conn, last)
        return True

    def committed(self, position: int) -> None:
        self._advance(position)

    def _reads(self, event: Any) -> bool:
        return self.event_types is None or isinstance(event, self.event_types)
