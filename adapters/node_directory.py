"""The modalities and peers Chronicle talks to, as senders need them: the configuration read
model joined with the credentials of the secret store."""

from __future__ import annotations

from typing import Any

from adapters.database import Database
from adapters.secret_store import PostgresSecretStore
from domain.credentials import with_credentials
from projections.configuration import queries


class NodeDirectory:
    def __init__(self, db: Database, secrets: PostgresSecretStore) -> None:
        self.db = db
        self.secrets = secrets

    def configuration(self, kind: str, name: str) -> dict[str, Any] | None:
        """The public configuration (what GET /modalities and /peers show), or None."""
        with self.db.connection() as conn:
            return queries.get_node(conn, kind, name)

    def for_sending(self, kind: str, name: str) -> dict[str, Any] | None:
        """The configuration with its credentials, for the sender only; None if unknown."""
        public = self.configuration(kind, name)
        if public is None:
            return None
        return with_credentials(public, self.secrets.get(kind, name))

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return queries.list_nodes(conn, kind)
