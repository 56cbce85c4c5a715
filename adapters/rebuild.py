"""Rebuild read models by replaying the log into fresh schemas, then swapping them in.

The log is read once for all the projections being rebuilt. The live archive keeps serving
from the old tables meanwhile; the swap happens in one transaction holding the projections'
advisory locks, after a final catch-up, so the live runner continues from the rebuilt
position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import psycopg

from domain.archive import Archive
from projections import schema
from projections.runner import Projection, apply_batch, read_batch

REBUILD_BATCH = 2000
Progress = Callable[[int, int], None]  # (position, head)


def rebuild(
    archive: Archive,
    conn: psycopg.Connection,
    projections: Sequence[Projection],
    progress: Progress | None = None,
) -> int:
    """Returns the number of events replayed."""
    for projection in projections:
        fresh = _fresh(projection)
        schema.drop_schema(conn, fresh)
        schema.migrate(conn, projection.name, fresh)
    replayed, position = _replay(archive, conn, projections, 0, progress)
    while True:  # catch up without the locks until the rest is small
        more, position = _replay(archive, conn, projections, position, progress)
        replayed += more
        if more < REBUILD_BATCH:
            break
    with conn.transaction():
        for projection in projections:
            key = schema.advisory_key(projection.name)
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        more, _ = _replay(archive, conn, projections, position, None)
        for projection in projections:
            _swap(conn, projection)
    return replayed + more


def _fresh(projection: Projection) -> str:
    return f"{projection.name}_rebuild"


def _swap(conn: psycopg.Connection, projection: Projection) -> None:
    old = f"{projection.name}_old"
    schema.drop_schema(conn, old)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {projection.name}")
    schema.rename_schema(conn, projection.name, old)
    schema.rename_schema(conn, _fresh(projection), projection.name)
    schema.drop_schema(conn, old)


def _replay(
    archive: Archive,
    conn: psycopg.Connection,
    projections: Sequence[Projection],
    position: int,
    progress: Progress | None,
) -> tuple[int, int]:
    replayed = 0
    head = archive.recorder.max_notification_id() or 0
    while True:
        batch = read_batch(archive, position, REBUILD_BATCH)
        if not batch:
            return replayed, position
        with conn.transaction():
            for projection in projections:
                fresh = _fresh(projection)
                apply_batch(conn, projection, fresh, batch, lock_name=fresh)
        replayed += len(batch)
        position = batch[-1][0]
        if progress is not None:
            progress(position, max(head, position))
