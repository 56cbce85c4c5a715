"""How patients, studies and series come and go as instances are stored and deleted.

A pure function of the events, shared by every projection that needs to tell a new resource from
an existing one. Each projection loads the nodes it already knows from its own tables, so it can
be rebuilt alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any

import attrs

from domain.aggregates import Instance, Resource
from domain.levels import INSTANCE, PATIENT, SERIES, STUDY


class Kind(Enum):
    CREATED = "created"
    REMOVED = "removed"
    UPDATED = "updated"  # an instance arrived under an existing resource
    SHRUNK = "shrunk"  # an instance was deleted under a resource that remains
    STABILIZED = "stabilized"


@attrs.define
class Node:
    level: int
    instances: int
    last_stored_position: int


@attrs.frozen
class Transition:
    kind: Kind
    level: int
    resource_id: str
    position: int
    timestamp: datetime
    event: Any


def ancestors(event: Any) -> list[tuple[int, str]]:
    return [(PATIENT, event.patient_id), (STUDY, event.study_id), (SERIES, event.series_id)]


# The events the lifecycle follows: what a read model built on it reads.
LIFECYCLE_EVENTS = (Instance.Stored, Instance.StoredAgain, Instance.Deleted, Resource.Stabilized)


def referenced_ids(events: Iterable[Any]) -> set[str]:
    ids: set[str] = set()
    for event in events:
        if isinstance(event, Resource.Stabilized):
            ids.add(event.resource_id)
        elif isinstance(event, Instance.Stored | Instance.StoredAgain | Instance.Deleted):
            ids.update(resource_id for _, resource_id in ancestors(event))
    return ids


class Lifecycle:
    """Applies events to the known nodes and says what happened to each resource, in order."""

    def __init__(self, nodes: dict[str, Node]) -> None:
        self.nodes = nodes

    def apply(self, position: int, event: Any) -> list[Transition]:
        if isinstance(event, Instance.Stored):
            return self._stored(position, event, is_new=True)
        if isinstance(event, Instance.StoredAgain):
            return self._stored(position, event, is_new=event.replaced_attachment is None)
        if isinstance(event, Instance.Deleted):
            return self._deleted(position, event)
        if isinstance(event, Resource.Stabilized):
            return self._stabilized(position, event)
        return []

    def _stored(self, position: int, event: Any, is_new: bool) -> list[Transition]:
        transitions = []
        for level, resource_id in ancestors(event):
            node = self.nodes.get(resource_id)
            if node is None:
                node = self.nodes[resource_id] = Node(level, 0, position)
                kind = Kind.CREATED
            else:
                kind = Kind.UPDATED
            node.instances += int(is_new)
            node.last_stored_position = position
            transitions.append(
                Transition(kind, level, resource_id, position, event.timestamp, event)
            )
        kind = Kind.CREATED if is_new else Kind.UPDATED
        transitions.append(
            Transition(kind, INSTANCE, event.instance_id, position, event.timestamp, event)
        )
        return transitions

    def _deleted(self, position: int, event: Any) -> list[Transition]:
        transitions = [
            Transition(Kind.REMOVED, INSTANCE, event.instance_id, position, event.timestamp, event)
        ]
        for level, resource_id in reversed(ancestors(event)):
            node = self.nodes.get(resource_id)
            if node is None:
                continue
            node.instances -= 1
            kind = Kind.SHRUNK if node.instances > 0 else Kind.REMOVED
            if kind is Kind.REMOVED:
                del self.nodes[resource_id]
            transitions.append(
                Transition(kind, level, resource_id, position, event.timestamp, event)
            )
        return transitions

    def _stabilized(self, position: int, event: Any) -> list[Transition]:
        node = self.nodes.get(event.resource_id)
        if node is None or node.last_stored_position != event.as_of:
            return []
        return [
            Transition(
                Kind.STABILIZED, node.level, event.resource_id, position, event.timestamp, event
            )
        ]
