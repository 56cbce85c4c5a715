"""What every group of commands relies on: the repository, appends, and the secret store.

The command groups (jobs, exports, remote nodes) are mixed into the Archive application, which
implements this interface; declaring it here keeps them typed without knowing the Archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from domain.credentials import SecretStore, TransactionStep


def existing(repository: Repository[UUID], aggregate_id: UUID) -> Any | None:
    """The aggregate, None when it has no event."""
    try:
        return repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None


class CommandContext:
    repository: Repository[UUID]
    secrets: SecretStore

    def _append(self, *aggregates: Any, also: Sequence[TransactionStep] = ()) -> int:
        """Saves the aggregates' pending events in one transaction (with `also`, statements
        that must commit with them); returns the log position of the last event."""
        raise NotImplementedError

    def _existing_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """The aggregates among these that have events, loaded together where the event
        store can (one statement rather than one per aggregate)."""
        raise NotImplementedError
