"""The secret store: credentials of modalities and peers in a PostgreSQL table of their own.

Not a projection (it is never rebuilt from the log, which does not hold the values): the command
that changes a node's credentials writes it in the same transaction as its events.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from adapters.database import Database
from domain.credentials import Credentials, TransactionStep
from projections import schema

SCHEMA = "secrets"


class PostgresSecretStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def prepare(self) -> None:
        with self.db.connection() as conn:
            schema.migrate(conn, SCHEMA, SCHEMA, tracked=False)

    def get(self, kind: str, name: str) -> Credentials:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT secrets FROM secrets.credentials WHERE kind = %s AND name = %s",
                (kind, name),
            ).fetchone()
        return dict(row[0]) if row else {}

    def put(self, kind: str, name: str, secrets: Credentials) -> TransactionStep:
        if not secrets:
            return self.remove(kind, name)

        def upsert(cursor: Any) -> None:
            cursor.execute(
                "INSERT INTO secrets.credentials (kind, name, secrets) VALUES (%s, %s, %s) "
                "ON CONFLICT (kind, name) DO UPDATE SET secrets = excluded.secrets, "
                "updated_at = now()",
                (kind, name, Jsonb(secrets)),
            )

        return upsert

    def remove(self, kind: str, name: str) -> TransactionStep:
        def delete(cursor: Any) -> None:
            cursor.execute(
                "DELETE FROM secrets.credentials WHERE kind = %s AND name = %s", (kind, name)
            )

        return delete
