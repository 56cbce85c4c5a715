"""What every group of commands relies on: the repository, appends, and the secret store.

The command groups (jobs, exports, remote nodes) are mixed into the Archive application, which
implements this interface; declaring it here keeps them typed without knowing the Archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Repository

from domain.credentials import SecretStore, TransactionStep


class CommandContext:
    repository: Repository[UUID]
    secrets: SecretStore

    def _append(self, *aggregates: Any, also: Sequence[TransactionStep] = ()) -> int:
        """Saves the aggregates' pending events in one transaction (with `also`, statements
        that must commit with them); returns the log position of the last event."""
        raise NotImplementedError
