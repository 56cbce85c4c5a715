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

from adapters.config import ConfigError, Settings
from domain.archive import Archive
from domain.modality_config import RemoteNodeConfigError, normalise_modality, normalise_peer
from domain.origin import SYSTEM
from domain.remote_nodes import MODALITY, PEER
from projections.configuration.queries import list_nodes

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
