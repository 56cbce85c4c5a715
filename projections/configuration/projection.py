"""Modalities and peers: the latest definition of each, from configuration and REST events
(without credentials: they are in the secret store)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.types.json import Jsonb

from domain.aggregates import RemoteNode
from projections.read_model import Positioned


class RemoteNodesProjection:
    name = "configuration"
    topics = (RemoteNode.Defined, RemoteNode.Updated, RemoteNode.Removed)

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        for position, event in batch:
            if isinstance(event, RemoteNode.Defined | RemoteNode.Updated):
                conn.execute(
                    "INSERT INTO remote_nodes (kind, name, configuration, source, "
                    "defined_position) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind, name) "
                    "DO UPDATE SET configuration = excluded.configuration, "
                    "source = excluded.source",
                    (event.kind, event.name, Jsonb(event.configuration), event.source, position),
                )
            elif isinstance(event, RemoteNode.Removed):
                conn.execute(
                    "DELETE FROM remote_nodes WHERE kind = %s AND name = %s",
                    (event.kind, event.name),
                )
