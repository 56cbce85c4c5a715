"""Moves credentials that earlier versions wrote into RemoteNode events to the secret store.

RemoteNode.Defined and .Updated version 1 carried a peer's password, HTTP header values and key
password. Their upcaster drops those fields when the events are read; this start-up step also
takes them out of the stored rows (rewriting each such row as its version 2, which says only
which credentials were set) and keeps the credentials of the nodes still defined in the secret
store, so that a peer defined before the upgrade still authenticates. A credential is the one
thing an event log must be able to forget; nothing else in the log is ever rewritten.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from adapters.event_store import events_table
from adapters.secret_store import PostgresSecretStore
from domain.aggregates import RemoteNode
from domain.archive import Archive
from domain.credentials import Credentials, split_credentials

log = logging.getLogger(__name__)

DEFINING_EVENTS = (RemoteNode.Defined, RemoteNode.Updated)


def move_credentials_out_of_the_log(
    archive: Archive, conn: psycopg.Connection, store: PostgresSecretStore
) -> int:
    """Returns the number of events rewritten (0 once done: the step is idempotent)."""
    table = events_table(archive)
    topics = [get_topic(cls) for cls in DEFINING_EVENTS]
    # node -> the credentials of its last definition if that was a version-1 event, else None
    found: dict[UUID, Credentials | None] = {}
    rewritten = 0
    with conn.transaction():
        rows = conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {table} "
            "WHERE topic = ANY(%s) ORDER BY notification_id FOR UPDATE",
            (topics,),
        ).fetchall()
        for originator_id, version, topic, state in rows:
            stored = StoredEvent(originator_id, version, topic, bytes(state))
            old = _decoded_state(archive, stored)
            if "class_version" in old:  # already version 2 or later
                found[originator_id] = None
                continue
            _public, secrets = split_credentials(old.get("configuration", {}))
            found[originator_id] = secrets
            redacted = archive.mapper.to_stored_event(archive.mapper.to_domain_event(stored))
            conn.execute(
                f"UPDATE {table} SET state = %s WHERE originator_id = %s "
                "AND originator_version = %s",
                (redacted.state, originator_id, version),
            )
            rewritten += 1
        kept = _keep_live_credentials(archive, conn, store, found)
    if rewritten:
        log.warning(
            "moved the credentials of %d modality/peer definition(s) out of the event log "
            "(%d node(s) still defined keep theirs in the secret store)",
            rewritten,
            kept,
        )
    return rewritten


def _decoded_state(archive: Archive, stored: StoredEvent) -> dict[str, Any]:
    data = stored.state
    if archive.mapper.compressor is not None:
        data = archive.mapper.compressor.decompress(data)
    state: dict[str, Any] = archive.mapper.transcoder.decode(data)
    return state


def _keep_live_credentials(
    archive: Archive,
    conn: psycopg.Connection,
    store: PostgresSecretStore,
    found: dict[UUID, Credentials | None],
) -> int:
    kept = 0
    with conn.cursor() as cursor:
        for originator_id, secrets in found.items():
            if secrets is None:
                continue  # defined again since the upgrade: the secret store is current
            node: RemoteNode = archive.repository.get(originator_id)
            if node.live and secrets:
                store.put(node.kind, node.name, secrets)(cursor)
                kept += 1
    return kept
