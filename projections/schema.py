"""Each projection lives in its own PostgreSQL schema, created and evolved by migrations/<name>/.

A schema holds the projection's tables and its tracking row (the last log position applied), so
a rebuild can fill a fresh schema and swap it in by renaming.
"""

from __future__ import annotations

import functools
import zlib
from importlib import resources

import psycopg
from psycopg.sql import SQL, Composed, Identifier, Literal


def advisory_key(name: str) -> int:
    return zlib.crc32(f"chronicle-projection:{name}".encode())


def migration_scripts(projection: str) -> list[tuple[int, str]]:
    folder = resources.files("migrations").joinpath(projection)
    scripts = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            scripts.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(scripts)


def migrate(conn: psycopg.Connection, projection: str, schema: str, tracked: bool = True) -> None:
    """Creates the schema if needed and applies the projection's migrations it lacks.

    `tracked`: the schema holds a read model, with its tracking row (the log position applied).
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(projection),))
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        conn.execute(SQL("SET LOCAL search_path TO {}").format(Identifier(schema)))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        if tracked:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS tracking (singleton boolean PRIMARY KEY DEFAULT "
                "true CHECK (singleton), position bigint NOT NULL)"
            )
            conn.execute("INSERT INTO tracking (position) VALUES (0) ON CONFLICT DO NOTHING")
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_version")}
        for version, script in migration_scripts(projection):
            if version not in applied:
                conn.execute(script)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))


def drop_schema(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def rename_schema(conn: psycopg.Connection, old: str, new: str) -> None:
    conn.execute(SQL("ALTER SCHEMA {} RENAME TO {}").format(Identifier(old), Identifier(new)))


def set_search_path(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(SQL("SET LOCAL search_path TO {}").format(Literal(schema)))


@functools.cache
def enter_statement(lock_name: str, schema: str) -> bytes:
    """One round trip to start applying a batch: take the projection's lock, point at its
    schema, read its position.

    Read models are rebuilt from the log and their position commits with their writes, so a
    crash can only lose projection work that is then redone: no need to wait for the WAL flush.
    """
    return (
        SQL(
            "SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({key}); "
            "SET LOCAL search_path TO {schema}; SELECT position FROM tracking"
        )
        .format(key=Literal(advisory_key(lock_name)), schema=Literal(schema))
        .as_bytes(None)
    )


def enter(conn: psycopg.Connection, lock_name: str, schema: str) -> int:
    """Runs enter_statement(); returns the projection's tracked position."""
    cursor = conn.execute(enter_statement(lock_name, schema))
    while cursor.nextset():
        pass
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def enter_appending(conn: psycopg.Connection, lock_name: str, schema: str) -> int:
    """enter() for a transaction that also appends to the log (its commit stays durable), in
    single statements that pipeline mode can send together. The position is read by a
    statement after the lock's, so that it sees what the lock's last holder committed."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(%s), set_config('search_path', %s, true)",
        (advisory_key(lock_name), schema),
    )
    return tracked_position(conn)


def tracked_position(conn: psycopg.Connection, schema: str | None = None) -> int:
    """The position in `schema`'s tracking row (default: the search path's)."""
    query: str | Composed = "SELECT position FROM tracking"  # per append: no composing
    if schema is not None:
        query = SQL("SELECT position FROM {}.tracking").format(Identifier(schema))
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def record_position(conn: psycopg.Connection, position: int) -> None:
    conn.execute("UPDATE tracking SET position = %s", (position,))
