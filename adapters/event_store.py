"""The PostgreSQL event store: eventsourcing's recorder, made safe for large transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Composed, Identifier

from adapters.database import DatabaseAddress
from domain.credentials import TransactionStep

# Rows per INSERT statement. Keeps each statement well under the size at which psycopg's
# pipeline mode deadlocks on a Unix socket, while the whole append stays one transaction.
INSERT_CHUNK = 100


class ChunkedApplicationRecorder(PostgresApplicationRecorder):
    """Appends in one transaction, without pipeline mode, in INSERT statements of bounded size.

    eventsourcing inserts all events of a save() as one statement inside psycopg's pipeline
    mode, which hangs forever once a statement carries about 0.5 MB over a Unix socket (for
    example a delete of a large patient). The table lock that keeps notification order equal
    to commit order is kept.
    """

    _prelude_sql: str | None = None

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        transaction_steps: Sequence[TransactionStep] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """`transaction_steps` run with the cursor after the inserts, in the same transaction
        (a credential and the event saying it changed commit together)."""
        if not stored_events:
            return []
        ids: list[int] = []
        if self._prelude_sql is None:
            self._prelude_sql = self._prelude().as_string(None)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(self._prelude_sql)
            for start in range(0, len(stored_events), INSERT_CHUNK):
                chunk = stored_events[start : start + INSERT_CHUNK]
                self._insert_chunk(curs, chunk)
                ids.extend(row["notification_id"] for row in curs.fetchall())
            for step in transaction_steps:
                step(curs)
        return ids

    def _prelude(self) -> Composed:
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        return SQL(
            "SET LOCAL lock_timeout = '{timeout}s'; "
            "LOCK TABLE {table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}"
        ).format(
            timeout=SQL(str(int(self.datastore.lock_timeout))),
            table=table,
            channel=Identifier(self.channel_name),
        )

    def _insert_chunk(self, curs: Any, chunk: Sequence[StoredEvent]) -> None:
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in chunk
        ]
        curs.execute(self.insert_events_statement, (rows,), prepare=True)


def event_store_env(address: DatabaseAddress, pool_size: int = 4) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "adapters.event_store:ChunkedApplicationRecorder",
        "POSTGRES_DBNAME": address.dbname,
        "POSTGRES_HOST": address.host,
        "POSTGRES_PORT": str(address.port),
        "POSTGRES_USER": address.user,
        "POSTGRES_PASSWORD": address.password,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "2",
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    }


def events_table(app: Application) -> str:
    """The schema-qualified name of the application's events table (PostgreSQL only)."""
    recorder: Any = app.recorder
    return f"{recorder.datastore.schema}.{recorder.events_table_name}"
