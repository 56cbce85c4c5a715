"""Reads of the configuration read model: modalities and peers (without their credentials)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row


def list_nodes(conn: psycopg.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT kind, name, configuration, source FROM configuration.remote_nodes "
            "WHERE %(kind)s::text IS NULL OR kind = %(kind)s ORDER BY kind, name",
            {"kind": kind},
        )
        return cursor.fetchall()


def get_node(conn: psycopg.Connection, kind: str, name: str) -> dict[str, Any] | None:
    """A node's configuration, or None."""
    row = conn.execute(
        "SELECT configuration FROM configuration.remote_nodes WHERE kind = %s AND name = %s",
        (kind, name),
    ).fetchone()
    return row[0] if row else None
