"""Commands on the modalities and peers Chronicle talks to."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from domain.aggregates import RemoteNode
from domain.conflicts import retry_on_conflict
from domain.identity import remote_node_aggregate_id
from domain.origin import Origin

MODALITY = "modality"
PEER = "peer"


class RemoteNodeCommands:
    """Mixed into the Archive application."""

    @retry_on_conflict
    def define_remote_node(
        self,
        kind: str,
        name: str,
        configuration: dict[str, Any],
        source: str,
        origin: Origin,
    ) -> int | None:
        """Defines or redefines a node; None when nothing changed (no event)."""
        node = self._remote_node(kind, name)
        if node is None:
            node = RemoteNode(
                kind=kind,
                name=name,
                configuration=configuration,
                source=source,
                origin=origin.to_dict(),
            )
        elif node.live and node.configuration == configuration and node.source == source:
            return None
        else:
            node.update(configuration=configuration, source=source, origin=origin.to_dict())
        return self._append(node).position  # type: ignore[attr-defined]

    @retry_on_conflict
    def remove_remote_node(self, kind: str, name: str, origin: Origin) -> int | None:
        """Removes a live node; None if there is no such node."""
        node = self._remote_node(kind, name)
        if node is None or not node.live:
            return None
        node.remove(origin=origin.to_dict())
        return self._append(node).position  # type: ignore[attr-defined]

    def _remote_node(self, kind: str, name: str) -> RemoteNode | None:
        try:
            return self.repository.get(remote_node_aggregate_id(kind, name))  # type: ignore[attr-defined]
        except AggregateNotFoundError:
            return None
