"""Group commit: concurrent appends of new aggregates share one event-store transaction.

Appends are serialised by the event store's table lock and each pays a commit, so under
concurrency the threads queue up anyway. Here the first waiting thread commits everything
queued so far in one save(), and the others take their results from it. A lone client waits
for nobody. If the shared save fails on a conflict, each aggregate is retried on its own so
that one duplicate cannot fail its neighbours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

MAX_GROUP = 64

Save = Callable[..., Sequence[Any]]  # Application.save: aggregates -> recordings


class _Pending:
    __slots__ = ("aggregate_id", "done", "error", "events", "position")

    def __init__(self, aggregate: Any) -> None:
        self.aggregate_id = aggregate.id
        # Taken now, so that a retry after a failed group still has them to save.
        self.events = aggregate.collect_events()
        self.done = False
        self.position: int | None = None
        self.error: BaseException | None = None


class GroupCommitter:
    def __init__(self, save: Save, max_group: int = MAX_GROUP) -> None:
        self._save = save
        self._max_group = max_group
        self._queue: list[_Pending] = []
        self._committing = False
        self._condition = threading.Condition()

    def append(self, aggregate: Any) -> int:
        """Saves the aggregate's pending events; returns the log position of the last one."""
        item = _Pending(aggregate)
        with self._condition:
            self._queue.append(item)
            while not item.done:
                if self._committing:
                    self._condition.wait()
                    continue
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
                self._committing = True
                self._condition.release()
                try:
                    self._commit(group)
                finally:
                    self._condition.acquire()
                    self._committing = False
                    self._condition.notify_all()
        if item.error is not None:
            raise item.error
        assert item.position is not None
        return item.position

    def _commit(self, group: list[_Pending]) -> None:
        try:
            events = [event for item in group for event in item.events]
            self._record(group, self._save(*events))
        except IntegrityError as error:
            if len(group) == 1:
                self._fail(group, error)
            else:
                for item in group:
                    self._commit([item])
        except BaseException as error:
            self._fail(group, error)

    @staticmethod
    def _record(group: list[_Pending], recordings: Sequence[Any]) -> None:
        positions: dict[Any, int] = {}
        for recording in recordings:
            key = recording.domain_event.originator_id
            positions[key] = max(positions.get(key, 0), recording.notification.id)
        for item in group:
            item.position = positions[item.aggregate_id]
            item.done = True

    @staticmethod
    def _fail(group: list[_Pending], error: BaseException) -> None:
        for item in group:
            item.error = error
            item.done = True
