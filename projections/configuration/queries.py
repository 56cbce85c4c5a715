"""Reads of the configuration read model: modalities, peers, users and runtime settings
(without credentials or password hashes)."""

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


USER_COLUMNS = "name, role, source, disabled, changed_position"


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f"SELECT {USER_COLUMNS} FROM configuration.users ORDER BY name")
        return cursor.fetchall()


def get_user(conn: psycopg.Connection, name: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f"SELECT {USER_COLUMNS} FROM configuration.users WHERE name = %s", (name,))
        return cursor.fetchone()


def count_users(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM configuration.users WHERE NOT disabled").fetchone()
    return int(row[0]) if row else 0


def list_tokens(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT token_id, user_name, description, expires, created_by "
            "FROM configuration.tokens ORDER BY created_position"
        )
        return cursor.fetchall()


def token_identity(conn: psycopg.Connection, token_id: str) -> dict[str, Any] | None:
    """The token's user, role and expiry, if the token and its user are live and enabled."""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT t.user_name, u.role, t.expires FROM configuration.tokens t "
            "JOIN configuration.users u ON u.name = t.user_name "
            "WHERE t.token_id = %s AND NOT u.disabled",
            (token_id,),
        )
        return cursor.fetchone()


def runtime_settings(conn: psycopg.Connection) -> dict[str, Any]:
    """Each runtime setting's latest value, by name (domain.runtime_settings)."""
    rows = conn.execute("SELECT name, value FROM configuration.runtime_settings").fetchall()
    return {name: value for name, value in rows}
