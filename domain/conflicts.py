"""Commands re-decide when another writer changed the same aggregate first."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from eventsourcing.persistence import IntegrityError

P = ParamSpec("P")
R = TypeVar("R")
ATTEMPTS = 5


def retry_on_conflict(command: Callable[P, R]) -> Callable[P, R]:
    """Reruns the command (which reloads its aggregates) when its append lost a race.

    An aggregate's next version can be taken by a concurrent command (two deletes of one
    series, a re-upload racing a delete): the loser must decide again on the new state,
    not fail with a 500.
    """

    @functools.wraps(command)
    def retrying(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(ATTEMPTS - 1):
            try:
                return command(*args, **kwargs)
            except IntegrityError:
                continue
        return command(*args, **kwargs)

    return retrying
