"""Rebuild read models by replaying the log into a fresh schema, then swapping it in.

The live archive keeps serving from the old tables meanwhile; the swap happens in one
transaction holding the projection's advisory lock, after a final catch-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import psycopg

from domain.archive import Archive
from projections import schema
from projections.runner import Projection, apply_batch, read_batch

REBUILD_BATCH = 2000
Progress = Callable[[str, int, int], None]  # (projection, position, head)


def rebuild(
    archive: Archive,
    conn: psycopg.Connection,
    projections: Sequence[Projection],
    progress: Progress | None = None,
) -> dict[str, int]:
    """Returns, per projection, the number of events replayed."""
    return {p.name: _rebuild_one(archive, conn, p, progress) for p in projections}


def _rebuild_one(
    archive: Archive, conn: psycopg.Connection, projection: Projection, progress: Progress | None
) -> int:
    fresh = f"{projection.name}_rebuild"
    schema.drop_schema(conn, fresh)
    schema.migrate(conn, projection.name, fresh)
    replayed, position = _replay(archive, conn, projection, fresh, 0, progress)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (schema.advisory_key(projection.name),))
        more, position = _replay(archive, conn, projection, fresh, position, None)
        replayed += more
        schema.drop_schema(conn, f"{projection.name}_old")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {projection.name}")
        schema.rename_schema(conn, projection.name, f"{projection.name}_old")
        schema.rename_schema(conn, fresh, projection.name)
        schema.drop_schema(conn, f"{projection.name}_old")
    return replayed


def _replay(
    archive: Archive,
    conn: psycopg.Connection,
    projection: Projection,
    target: str,
    position: int,
    progress: Progress | None,
) -> tuple[int, int]:
    replayed = 0
    head = archive.recorder.max_notification_id() or 0
    while True:
        batch = read_batch(archive, position, REBUILD_BATCH)
        if not batch:
            return replayed, position
        apply_batch(conn, projection, target, batch, lock_name=target)
        replayed += len(batch)
        position = batch[-1][0]
        if progress is not None:
            progress(projection.name, position, max(head, position))
