"""Feeds one read model: its batch and its position commit in one transaction (exactly once)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from adapters.consumers.runner import ConsumerRunner
from adapters.consumers.status import PROJECTION
from projections import schema
from projections.read_model import Positioned, ReadModel


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
