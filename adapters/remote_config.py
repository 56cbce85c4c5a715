"""Modalities and peers: start-up sync of the configuration file, and reads of the read model.

At start, the configured DicomModalities and OrthancPeers are defined (source "configuration")
and configuration-sourced nodes the file no longer names are removed. Nodes defined or redefined
through REST (source "rest") are left alone, so REST changes survive restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from adapters.config import ConfigError, Settings
from domain.archive import Archive
from domain.modality_config import RemoteNodeConfigError, normalise_modality, normalise_peer
from domain.origin import SYSTEM
from domain.remote_nodes import MODALITY, PEER

log = logging.getLogger(__name__)

CONFIGURATION = "configuration"
REST = "rest"

Normaliser = Callable[[Any], dict[str, Any]]


def configured_nodes(settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    """The nodes the settings define, normalised; ConfigError names the first invalid one."""
    nodes: dict[tuple[str, str], dict[str, Any]] = {}
    sources: list[tuple[str, dict[str, Any], Normaliser, str]] = [
        (MODALITY, settings.dicom_modalities, normalise_modality, "DicomModalities"),
        (PEER, settings.orthanc_peers, normalise_peer, "OrthancPeers"),
    ]
    for kind, definitions, normalise, option in sources:
        for name, definition in definitions.items():
            try:
                nodes[(kind, name)] = normalise(definition)
            except RemoteNodeConfigError as exc:
                raise ConfigError(f"{option}: {name!r}: {exc}") from exc
    return nodes


def sync_configured_nodes(archive: Archive, conn: psycopg.Connection, settings: Settings) -> int:
    """Makes the read model's configuration-sourced nodes match the settings.

    Returns the last log position appended (0 when nothing changed).
    """
    wanted = configured_nodes(settings)
    current = {(row["kind"], row["name"]): row for row in list_nodes(conn)}
    last = 0
    for (kind, name), configuration in wanted.items():
        row = current.get((kind, name))
        if row is not None and row["source"] == REST:
            continue
        position = archive.define_remote_node(kind, name, configuration, CONFIGURATION, SYSTEM)
        last = max(last, position or 0)
    for (kind, name), row in current.items():
        if row["source"] == CONFIGURATION and (kind, name) not in wanted:
            position = archive.remove_remote_node(kind, name, SYSTEM)
            last = max(last, position or 0)
    if last:
        log.info("modalities and peers synchronised with the configuration")
    return last


# ---------------------------------------------------------------------------------------------
# Reads of configuration.remote_nodes


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


def modality_by_aet(conn: psycopg.Connection, aet: str) -> tuple[str, dict[str, Any]] | None:
    """The modality whose AET is `aet`, compared case-insensitively as Orthanc does by default."""
    row = conn.execute(
        "SELECT name, configuration FROM configuration.remote_nodes "
        "WHERE kind = 'modality' AND upper(configuration->>'AET') = upper(%s) "
        "ORDER BY name LIMIT 1",
        (aet,),
    ).fetchone()
    return (row[0], row[1]) if row else None
