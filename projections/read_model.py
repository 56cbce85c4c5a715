"""What a read model is to the runtime that feeds it.

A read model is a pure function of the events it reads plus its SQL writes: it lives in its own
PostgreSQL schema (created by migrations/<name>/), can be rebuilt from the log at any time, and
never performs a side effect (that is a processor's job, see adapters/processors).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg

Positioned = tuple[int, Any]  # (log position, domain event)


class ReadModel(Protocol):
    name: str  # its schema, migrations folder and tracking
    # The event classes it reads (the others are skipped unread); None for every event.
    topics: tuple[type, ...] | None

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        """Applies the batch's events with the search_path set to the read model's schema."""
