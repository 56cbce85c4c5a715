"""Modalities, peers, users, tokens and runtime settings: the latest definition of each, from
configuration, CLI and REST events (without credentials or password hashes: they are in the
secret store)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.types.json import Jsonb

from domain.aggregates import ApiToken, RemoteNode, RuntimeSetting, User
from projections.read_model import Positioned


class RemoteNodesProjection:
    name = "configuration"
    topics = (
        RemoteNode.Defined,
        RemoteNode.Updated,
        RemoteNode.Removed,
        User.Created,
        User.AddedAgain,
        User.PasswordChanged,
        User.RoleChanged,
        User.DisabledChanged,
        User.Removed,
        ApiToken.Created,
        ApiToken.Revoked,
        RuntimeSetting.Defined,
        RuntimeSetting.Changed,
    )

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        for position, event in batch:
            if isinstance(event, User.Event):
                _apply_user(conn, position, event)
            elif isinstance(event, ApiToken.Created):
                conn.execute(
                    "INSERT INTO tokens (token_id, user_name, description, expires, created_by, "
                    "created_position) VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (token_id) DO NOTHING",
                    (
                        event.token_id,
                        event.user,
                        event.description,
                        event.expires or None,
                        event.by,
                        position,
                    ),
                )
            elif isinstance(event, ApiToken.Revoked):
                conn.execute("DELETE FROM tokens WHERE token_id = %s", (event.token_id,))
            elif isinstance(event, RemoteNode.Defined | RemoteNode.Updated):
                conn.execute(
                    "INSERT INTO remote_nodes (kind, name, configuration, source, "
                    "defined_position) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind, name) "
                    "DO UPDATE SET configuration = excluded.configuration, "
                    "source = excluded.source",
                    (event.kind, event.name, Jsonb(event.configuration), event.source, position),
                )
            elif isinstance(event, RuntimeSetting.Defined | RuntimeSetting.Changed):
                conn.execute(
                    "INSERT INTO runtime_settings (name, value, source, changed_position) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                    "value = excluded.value, source = excluded.source, "
                    "changed_position = excluded.changed_position",
                    (event.name, Jsonb(event.value), event.source, position),
                )
            elif isinstance(event, RemoteNode.Removed):
                conn.execute(
                    "DELETE FROM remote_nodes WHERE kind = %s AND name = %s",
                    (event.kind, event.name),
                )


def _apply_user(conn: psycopg.Connection, position: int, event: User.Event) -> None:
    name = event.name  # type: ignore[attr-defined]
    if isinstance(event, User.Created | User.AddedAgain):
        conn.execute(
            "INSERT INTO users (name, role, source, created_position, changed_position) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "role = excluded.role, source = excluded.source, disabled = false, "
            "changed_position = excluded.changed_position",
            (name, event.role, event.source, position, position),
        )
    elif isinstance(event, User.Removed):
        conn.execute("DELETE FROM users WHERE name = %s", (name,))
    elif isinstance(event, User.RoleChanged):
        conn.execute(
            "UPDATE users SET role = %s, changed_position = %s WHERE name = %s",
            (event.role, position, name),
        )
    elif isinstance(event, User.DisabledChanged):
        conn.execute(
            "UPDATE users SET disabled = %s, changed_position = %s WHERE name = %s",
            (event.disabled, position, name),
        )
    else:  # PasswordChanged: verifications remembered before it no longer count
        conn.execute("UPDATE users SET changed_position = %s WHERE name = %s", (position, name))
