"""The job engine: runs jobs and records every transition as events.

Jobs are picked from the jobs read model; their state lives in the log, so any process sees
them and a restart finds them. A job found Running at start-up was interrupted by a crash: it
fails clearly ("resubmit to retry"), because whether its last instances arrived is unknown.
What a job does is its kind's (adapters/jobs/kinds.py); the engine dispatches by job type.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from adapters.database import Database
from adapters.delivery import Destination, Senders
from adapters.ingest import Ingestor
from adapters.job_outputs import JobOutputs
from adapters.jobs import archive, modification, move, store, study_restructuring
from adapters.jobs.kinds import INTERRUPTED, JobFailed, JobKind, JobServices, RunningJob
from adapters.leadership import Session
from adapters.node_directory import NodeDirectory
from adapters.safe_logging import error_report
from adapters.storage import StorageArea
from domain.archive import Archive
from domain.exports import RequestedExport
from domain.jobs import RUNNING, JobStateError
from domain.origin import Origin
from projections.jobs import queries as jobs_queries

log = logging.getLogger(__name__)

# Every kind of job, by module.
KINDS: tuple[JobKind, ...] = (
    store.StoreJob(),
    move.MoveJob(),
    archive.ArchiveJob(),
    modification.ModificationJob(),
    study_restructuring.StudyRestructuringJob(),
)


class JobEngine:
    def __init__(
        self,
        archive: Archive,
        db: Database,
        nodes: NodeDirectory,
        storage: StorageArea,
        senders: Senders,
        local_aet: str,
        outputs: JobOutputs,
        poll_interval: float = 5.0,
        session: Callable[[], Session | None] = lambda: None,
        ingestor: Ingestor | None = None,
    ) -> None:
        """`poll_interval`: the job dispatcher wakes the engine when a job becomes pending;
        polling only covers jobs submitted by other processes. `session`: this process's
        liveness token (adapters.leadership), recorded beside each job it runs. `ingestor`:
        how modify and anonymize jobs store the instances they make."""
        self.archive = archive
        self.session = session
        self.db = db
        self.services = JobServices(
            archive, db, nodes, storage, senders, local_aet, outputs, ingestor
        )
        self.kinds = {job_type: kind for kind in KINDS for job_type in kind.job_types}
        self.poll_interval = poll_interval
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._claim = threading.Lock()
        self._running_here: set[str] = set()  # jobs this process runs now (synchronous too)

    # -- submitting ----------------------------------------------------------------------------

    def submit(
        self,
        job_type: str,
        parameters: dict[str, Any],
        origin: Origin,
        priority: int = 0,
        run_here: bool = False,
        requested: Sequence[RequestedExport] = (),
    ) -> tuple[str, int]:
        """`run_here`: the caller runs the job itself (synchronous requests), so it is started
        in the same append and the engine's thread never sees it Pending. `requested`: what
        /exports logs with the submission."""
        if job_type not in self.kinds:
            raise ValueError(f"no kind of job runs {job_type!r}")
        job_id, position = self.archive.submit_job(
            job_type, priority, parameters, origin, started=run_here, requested=requested
        )
        if not run_here:
            self._wakeup.set()
        return job_id, position

    def submit_store(
        self,
        destination: Destination,
        requested: Sequence[RequestedExport],
        options: dict[str, Any],
        origin: Origin,
        priority: int = 0,
        run_here: bool = False,
    ) -> tuple[str, int]:
        """A store job sending the requested resources; /exports logs each at submission."""
        job_type = store.job_type_for(destination)
        resources = [entry.resource_id for entry in requested]
        parameters = store.parameters(destination, resources, options)
        return self.submit(job_type, parameters, origin, priority, run_here, requested)

    def submit_move(
        self,
        destination: Destination,
        level: str,
        queries: Sequence[dict[str, str]],
        target_aet: str,
        origin: Origin,
        priority: int = 0,
        run_here: bool = False,
    ) -> tuple[str, int]:
        """A C-MOVE SCU job: ask the modality to send what matches `queries` to `target_aet`."""
        parameters = move.parameters(destination, level, queries, target_aet)
        return self.submit(move.MOVE_FROM_MODALITY, parameters, origin, priority, run_here)

    # -- running -------------------------------------------------------------------------------

    def run(self, job_id: str, started: bool = False) -> tuple[dict[str, Any], int]:
        """Runs a job in the calling thread; returns its content and the log position of its
        last event. Raises JobFailed (with that position) if it failed."""
        with self._claim:
            self._running_here.add(job_id)
        self._record_run(job_id)
        try:
            return self._run(job_id, started)
        finally:
            with self._claim:
                self._running_here.discard(job_id)
            self._forget_run(job_id)

    def _record_run(self, job_id: str) -> None:
        session = self.session()
        if session is None:
            return
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO runtime.job_runs (job_id, backend_pid, backend_start) "
                "VALUES (%s, %s, %s) ON CONFLICT (job_id) DO UPDATE SET "
                "backend_pid = excluded.backend_pid, backend_start = excluded.backend_start",
                (job_id, *session),
            )

    def _forget_run(self, job_id: str) -> None:
        with self.db.connection() as conn:
            conn.execute("DELETE FROM runtime.job_runs WHERE job_id = %s", (job_id,))

    def _run(self, job_id: str, started: bool) -> tuple[dict[str, Any], int]:
        if not started:
            with self._claim:
                self.archive.start_job(job_id)
        job = self.archive.job(job_id)
        origin = Origin.from_dict(job.origin)
        running = RunningJob(job_id, job.parameters, origin, frozenset(job.done), job.attempt)
        try:
            content = self.kinds[job.job_type].execute(running, self.services)
        except JobFailed as failure:
            failure.position = self._fail(
                job_id, failure.code, failure.description, failure.details
            )
            raise
        except Exception as error:  # a bug must fail the job, not leave it Running forever
            log.error("job %s crashed: %s", job_id, error_report(error))
            code, description = INTERRUPTED
            position = self._fail(job_id, code, description, type(error).__name__)
            crash = JobFailed(job_id, code, description, type(error).__name__)
            crash.position = position
            raise crash from error
        if self.archive.job(job_id).state != RUNNING:  # paused or cancelled meanwhile
            return content, self.archive.recorder.max_notification_id() or 0
        return content, self.archive.finish_job(job_id, content)

    def _fail(self, job_id: str, code: int, description: str, details: str) -> int:
        try:
            return self.archive.fail_job(job_id, code, description, details)
        except JobStateError:  # cancelled meanwhile: already a failure
            return self.archive.recorder.max_notification_id() or 0

    def recover(self) -> None:
        """Fails the jobs a crash left Running: not those this process runs right now, nor
        those a live process runs (after a takeover, synchronous jobs are alive)."""
        with self.db.connection() as conn:
            alive = set(_run_by_live_processes(conn))
            stale = [job_id for job_id in jobs_queries.running(conn) if job_id not in alive]
            conn.execute("DELETE FROM runtime.job_runs WHERE job_id = ANY(%s)", (stale,))
        with self._claim:
            stale = [job_id for job_id in stale if job_id not in self._running_here]
        for job_id in stale:
            code, description = INTERRUPTED
            with contextlib.suppress(JobStateError):
                self.archive.fail_job(
                    job_id, code, description, "Interrupted by a restart; resubmit to retry"
                )

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        """Fails what a crash left Running, then runs pending jobs; starts again after a
        stop (leadership lost and regained)."""
        self._stopping.clear()
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="job-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def notify(self) -> None:
        self._wakeup.set()

    def _loop(self) -> None:
        handled: str | None = None
        while not self._stopping.is_set():
            job_id = self._next_pending()
            if job_id is None or job_id == handled:
                # nothing to do, or the jobs read model has not caught up with the last run
                self._wakeup.wait(self.poll_interval)
                self._wakeup.clear()
                handled = None
                continue
            handled = job_id
            try:
                self.run(job_id)
            except JobStateError:
                continue  # taken by another runner, or paused/cancelled meanwhile
            except JobFailed:
                continue
            except Exception as error:
                log.error("job engine error: %s", error_report(error))
                self._stopping.wait(1.0)

    def _next_pending(self) -> str | None:
        with self.db.connection() as conn:
            return jobs_queries.next_pending(conn)


def _run_by_live_processes(conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT r.job_id FROM runtime.job_runs r JOIN pg_stat_activity a "
        "ON a.pid = r.backend_pid AND a.backend_start = r.backend_start"
    ).fetchall()
    return [row[0] for row in rows]
