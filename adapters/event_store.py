"""The PostgreSQL event store: eventsourcing's recorder, made safe for large transactions."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from adapters import stage_timing
from adapters.database import DatabaseAddress
from adapters.safe_logging import error_kind
from domain.credentials import TransactionStep

log = logging.getLogger(__name__)

# Rows per INSERT statement. Keeps each statement well under the size at which psycopg's
# pipeline mode deadlocks on a Unix socket, while the whole append stays one transaction.
INSERT_CHUNK = 100
# An append this small (events and their bytes) runs in pipeline mode: its statements, and the
# inline read models' writes, go out without waiting for each other's answers. Far below the
# size at which pipeline mode hangs.
PIPELINED_EVENTS = 16
PIPELINED_BYTES = 64 * 1024
SELECT_CHUNK = 1000  # aggregates whose events one SELECT reads


Appended = Sequence[tuple[int, StoredEvent]]  # (log position, stored event) of one append


class InlineFollower(Protocol):
    """A read model that projects each append inside the append's own transaction."""

    name: str

    def apply_within(self, conn: psycopg.Connection, appended: Appended) -> bool:
        """Projects what the read model lacks up to the append's last position; False if it
        leaves that to its runner (too far behind)."""

    def committed(self, position: int) -> None:
        """The append it projected is committed at `position`."""


class ChunkedApplicationRecorder(PostgresApplicationRecorder):
    """Appends in one transaction, without pipeline mode, in INSERT statements of bounded size.

    eventsourcing inserts all events of a save() as one statement inside psycopg's pipeline
    mode, which hangs forever once a statement carries about 0.5 MB over a Unix socket (for
    example a delete of a large patient). The table lock that keeps notification order equal
    to commit order is kept.
    """

    _prelude_sql: str | None = None
    _prelude_statements: list[str] | None = None
    _followers: Sequence[InlineFollower] = ()

    def follow_inline(self, followers: Sequence[InlineFollower]) -> None:
        """Read-your-writes in one commit: these read models project every append in its
        transaction, so a writer has nothing to wait for once it is committed. A read model
        that fails there is left to its runner (which reports the failure); the append
        commits all the same."""
        self._followers = tuple(followers)

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
        pipelined = not transaction_steps and _small(stored_events)
        with self.datastore.get_connection() as conn:
            with (
                conn.pipeline() if pipelined else contextlib.nullcontext(),
                conn.transaction(),
                conn.cursor() as curs,
            ):
                self._lock_log(curs, pipelined)
                for start in range(0, len(stored_events), INSERT_CHUNK):
                    chunk = stored_events[start : start + INSERT_CHUNK]
                    self._insert_chunk(curs, chunk)
                    ids.extend(row["notification_id"] for row in curs.fetchall())
                for step in transaction_steps:
                    step(curs)
                projected = self._project_inline(conn, list(zip(ids, stored_events, strict=True)))
            for follower in projected:
                follower.committed(max(ids))
        return ids

    def _project_inline(self, conn: Any, appended: Appended) -> list[InlineFollower]:
        """Runs last in the append's transaction, which holds the log's lock: every lower
        position is committed, so the followers see the log as it will be."""
        if not self._followers:
            return []
        row_factory = conn.row_factory
        conn.row_factory = tuple_row  # what the read models' code expects
        try:
            with stage_timing.stage("inline read models"), conn.transaction():  # a savepoint
                return [f for f in self._followers if f.apply_within(conn, appended)]
        except Exception as error:
            log.warning(
                "read models %s left an append to their runners: %s",
                ", ".join(f.name for f in self._followers),
                error_kind(error),
            )
            return []
        finally:
            conn.row_factory = row_factory

    def select_events_of(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """Every event of these aggregates, each aggregate's in version order, in a statement
        per SELECT_CHUNK aggregates (instead of one per aggregate)."""
        found: dict[UUID, list[StoredEvent]] = {}
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(table=self._table())
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            for start in range(0, len(originator_ids), SELECT_CHUNK):
                curs.execute(statement, (list(originator_ids[start : start + SELECT_CHUNK]),))
                for row in curs.fetchall():
                    found.setdefault(row["originator_id"], []).append(
                        StoredEvent(
                            originator_id=row["originator_id"],
                            originator_version=row["originator_version"],
                            topic=row["topic"],
                            state=bytes(row["state"]),
                        )
                    )
        return found

    def _table(self) -> Composed:
        return SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )

    def _lock_log(self, curs: Any, pipelined: bool) -> None:
        """The prelude: one round trip without pipeline mode, single statements within it."""
        if self._prelude_statements is None:
            self._prelude_statements = [s.as_string(None) for s in self._prelude()]
            self._prelude_sql = "; ".join(self._prelude_statements)
        if pipelined:
            for statement in self._prelude_statements:
                curs.execute(statement)
        else:
            curs.execute(self._prelude_sql)

    def _prelude(self) -> list[Composed]:
        table = self._table()
        timeout = SQL(str(int(self.datastore.lock_timeout)))
        return [
            SQL("SET LOCAL lock_timeout = '{timeout}s'").format(timeout=timeout),
            SQL("LOCK TABLE {table} IN EXCLUSIVE MODE").format(table=table),
            SQL("NOTIFY {channel}").format(channel=Identifier(self.channel_name)),
        ]

    def _insert_chunk(self, curs: Any, chunk: Sequence[StoredEvent]) -> None:
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in chunk
        ]
        curs.execute(self.insert_events_statement, (rows,), prepare=True)


def _small(stored_events: Sequence[StoredEvent]) -> bool:
    if len(stored_events) > PIPELINED_EVENTS:
        return False
    return sum(len(event.state) for event in stored_events) <= PIPELINED_BYTES


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
