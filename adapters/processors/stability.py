"""The stability watcher: a patient, study or series that received no new instance for StableAge
seconds is recorded as stabilized by an event, so replay reproduces the Stable* changes.

"Stable" means quiet, not complete: more instances may arrive later and it can fire again.

A processor: each stored instance it sees makes a check due StableAge seconds later, and it
checks once when it starts (what became quiet while the server was down), and every
SWEEP_INTERVAL seconds in case another process stored the instances.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Sequence

from adapters.database import Database
from domain.aggregates import Instance
from domain.archive import Archive
from projections.hierarchy import queries
from projections.read_model import Positioned

SWEEP_INTERVAL = 30.0
MARGIN = 0.05  # seconds past StableAge, so that the resource is quiet when checked
COALESCE = 0.25  # seconds: stores closer together share one check


class StabilityWatcher:
    name = "stability-watcher"
    topics = (Instance.Stored, Instance.StoredAgain)
    follows = ("hierarchy",)

    def __init__(self, archive: Archive, db: Database, stable_age: float) -> None:
        self.archive = archive
        self.db = db
        self.stable_age = stable_age
        self._dues: deque[float] = deque()  # when checks are due, in order
        self._next_sweep = time.monotonic()  # a first check when started

    def handle(self, batch: Sequence[Positioned]) -> None:
        due = time.monotonic() + self.stable_age + MARGIN
        if self._dues and due - self._dues[-1] <= COALESCE:
            self._dues[-1] = due  # one check, after the last of these stores
        else:
            self._dues.append(due)

    def tick(self) -> float | None:
        now = time.monotonic()
        due = False
        while self._dues and self._dues[0] <= now:
            self._dues.popleft()
            due = True
        if due or now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            self.check()
        upcoming = [self._next_sweep, *([self._dues[0]] if self._dues else [])]
        return max(min(upcoming) - time.monotonic(), 0.0)

    def check(self) -> int:
        """Appends a Stabilized event for each quiet resource, in one transaction; returns the
        last position (0 if nothing became stable). A resource not quiet yet gets a check of
        its own when it will be."""
        with self.db.connection() as conn:
            quiet = queries.quiet_resources(conn, self.stable_age)
            waiting = queries.seconds_until_quiet(conn, self.stable_age)
        if waiting is not None:
            bisect.insort(self._dues, time.monotonic() + waiting + MARGIN)
        return self.archive.stabilize(quiet) or 0
