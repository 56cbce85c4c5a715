"""The stability watcher: a patient, study or series that received no new instance for StableAge
seconds is recorded as stabilized by an event, so replay reproduces the Stable* changes.

"Stable" means quiet, not complete: more instances may arrive later and it can fire again.
"""

from __future__ import annotations

import logging
import threading

from adapters.database import Database
from adapters.safe_logging import error_report
from domain.archive import Archive
from projections.lifecycle import LEVEL_NAMES

log = logging.getLogger(__name__)

QUIET_RESOURCES = """
    SELECT id, level, last_stored_position FROM hierarchy.resources
    WHERE level < 3 AND NOT is_stable AND last_update < now() - make_interval(secs => %s)
    ORDER BY last_stored_position, level DESC
    LIMIT 1000
"""


class StabilityWatcher:
    def __init__(self, archive: Archive, db: Database, stable_age: float) -> None:
        self.archive = archive
        self.db = db
        self.stable_age = stable_age
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_stabilized: list = []

    def check(self) -> int:
        """Appends a Stabilized event for each quiet resource, in one transaction; returns the
        last position (0 if nothing became stable)."""
        with self.db.connection() as conn:
            quiet = conn.execute(QUIET_RESOURCES, (self.stable_age,)).fetchall()
        last = self.archive.stabilize(
            [(resource_id, LEVEL_NAMES[level], as_of) for resource_id, level, as_of in quiet]
        )
        if last:
            for callback in self.on_stabilized:
                callback()
        return last or 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stability-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = min(1.0, max(self.stable_age / 4, 0.1))
        while not self._stopping.wait(interval):
            try:
                self.check()
            except Exception as error:
                log.error("stability check failed: %s", error_report(error))
