"""Commands on the modalities and peers Chronicle talks to."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from domain.aggregates import RemoteNode
from domain.commands import CommandContext
from domain.conflicts import retry_on_conflict
from domain.credentials import split_credentials
from domain.identity import remote_node_aggregate_id
from domain.origin import Origin

MODALITY = "modality"
PEER = "peer"


class RemoteNodeCommands(CommandContext):
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
        """Defines or redefines a node; None when nothing changed (no event).

        The credentials in `configuration` go to the secret store, in the transaction that
        appends the events; the events only say which credentials the node has.
        """
        public, secrets = split_credentials(configuration)
        names = sorted(secrets)
        node = self._remote_node(kind, name)
        new_secrets = secrets != (self.secrets.get(kind, name) if node is not None else {})
        if node is None:
            node = RemoteNode(
                kind=kind,
                name=name,
                configuration=public,
                source=source,
                origin=origin.to_dict(),
                credentials=names,
            )
        elif node.live and (node.configuration, node.source) == (public, source):
            if not new_secrets:
                return None
        else:
            node.update(public, source, names, origin.to_dict())
        if new_secrets:
            node.change_credentials(names, origin.to_dict())
        return self._append(node, also=[self.secrets.put(kind, name, secrets)])

    @retry_on_conflict
    def remove_remote_node(self, kind: str, name: str, origin: Origin) -> int | None:
        """Removes a live node and its credentials; None if there is no such node."""
        node = self._remote_node(kind, name)
        if node is None or not node.live:
            return None
        node.remove(origin=origin.to_dict())
        return self._append(node, also=[self.secrets.remove(kind, name)])

    def _remote_node(self, kind: str, name: str) -> RemoteNode | None:
        try:
            node: RemoteNode = self.repository.get(remote_node_aggregate_id(kind, name))
        except AggregateNotFoundError:
            return None
        return node
