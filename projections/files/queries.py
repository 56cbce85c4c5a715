"""Reads of the files read model."""

from __future__ import annotations

import psycopg


def referenced_files(conn: psycopg.Connection) -> set[str]:
    """The file UUIDs that stored events name and no later event released."""
    return {row[0] for row in conn.execute("SELECT uuid FROM files.files")}
