"""Rebuild read models by replaying the log into fresh schemas, then swapping them in.

The log is read once for all the read models being rebuilt. The live archive keeps serving
from the old tables meanwhile; the swap happens in one transaction holding the read models'
advisory locks, after a final catch-up, so their live runners continue from the rebuilt
position. Processors are never rebuilt: replaying the log must not repeat a side effect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import psycopg

from adapters.consumers.log_reader import LogReader
from projections import schema
from projections.read_model import Positioned, ReadModel

REBUILD_BATCH = 2000
Progress = Callable[[int, int], None]  # (position, head)


def rebuild(
    reader: LogReader,
    conn: psycopg.Connection,
    read_models: Sequence[ReadModel],
    progress: Progress | None = None,
) -> int:
    """Returns the number of events replayed."""
    for model in read_models:
        fresh = _fresh(model)
        schema.drop_schema(conn, fresh)
        schema.migrate(conn, model.name, fresh)
    replayed, position = _replay(reader, conn, read_models, 0, progress)
    while True:  # catch up without the locks until the rest is small
        more, position = _replay(reader, conn, read_models, position, progress)
        replayed += more
        if more < REBUILD_BATCH:
            break
    with conn.transaction():
        for model in read_models:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (schema.advisory_key(model.name),))
        more, _ = _replay(reader, conn, read_models, position, None)
        for model in read_models:
            _swap(conn, model)
    return replayed + more


def _fresh(model: ReadModel) -> str:
    return f"{model.name}_rebuild"


def _swap(conn: psycopg.Connection, model: ReadModel) -> None:
    old = f"{model.name}_old"
    schema.drop_schema(conn, old)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {model.name}")
    schema.rename_schema(conn, model.name, old)
    schema.rename_schema(conn, _fresh(model), model.name)
    schema.drop_schema(conn, old)


def _replay(
    reader: LogReader,
    conn: psycopg.Connection,
    read_models: Sequence[ReadModel],
    position: int,
    progress: Progress | None,
) -> tuple[int, int]:
    replayed = 0
    head = reader.head(conn)
    while True:
        batch = reader.read(conn, position, REBUILD_BATCH)
        if not batch:
            return replayed, position
        with conn.transaction():
            for model in read_models:
                _apply(conn, model, batch)
        replayed += len(batch)
        position = batch[-1][0]
        if progress is not None:
            progress(position, max(head, position))


def _apply(conn: psycopg.Connection, model: ReadModel, batch: Sequence[Positioned]) -> None:
    """Applies the batch to the fresh schema (the events the model reads), records the position."""
    fresh = _fresh(model)
    tracked = schema.enter(conn, fresh, fresh)
    wanted = _wanted(model, batch, tracked)
    if wanted:
        model.apply(conn, wanted)
    schema.record_position(conn, batch[-1][0])


def _wanted(model: ReadModel, batch: Sequence[Positioned], after: int) -> list[Positioned]:
    types = model.topics
    return [
        item for item in batch if item[0] > after and (types is None or isinstance(item[1], types))
    ]
