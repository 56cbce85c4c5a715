"""One runner per consumer of the log (a read model or a processor), on a thread of its own.

A runner reads the events it cares about after its position (topic-filtered, in batches), hands
them to its consumer, and advances. When the consumer fails, the runner retries one event at a
time to find the failing position, records it with the reason in the status table, and keeps
retrying with capped exponential backoff; the other runners are not affected. A write endpoint
waits for the runners it names through an in-process signal (Consumers.wait_for).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import psycopg

from adapters.consumers import status
from adapters.consumers.log_reader import LogReader, stored_topics
from adapters.database import Database
from adapters.safe_logging import error_kind, error_report
from projections.read_model import Positioned

log = logging.getLogger(__name__)

BATCH_SIZE = 500
POLL_INTERVAL = 0.5  # for appends by other processes; this one's signal wakes runners at once
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
PERSIST_SKIPS_EVERY = 5.0  # seconds: how often a position advanced past irrelevant events is saved

Progress = Callable[[str, int], None]  # (consumer name, new position)


class Failure:
    def __init__(self, position: int, error: BaseException) -> None:
        self.position = position
        self.reason = error_kind(error)
        self.since = datetime.now(UTC)
        self.attempts = 0

    def backoff(self) -> float:
        return min(BACKOFF_FIRST * 2 ** min(self.attempts, 10), BACKOFF_MAX)


class ConsumerRunner:
    """The loop shared by read models and processors; subclasses say how a batch is consumed
    and where the position is kept."""

    kind = ""

    def __init__(
        self,
        name: str,
        topics: tuple[type, ...] | None,
        reader: LogReader,
        db: Database,
        on_progress: Progress,
        batch_size: int = BATCH_SIZE,
        bound: Callable[[], int] | None = None,
        latency: float = 0.0,
    ) -> None:
        """`bound`: the position this consumer may not go past (what it reads must be there).
        `latency`: how long after an append it waits before reading, so that the appends of
        busy moments come in one batch (a reader waiting for it wakes it at once)."""
        self.name = name
        self.event_types = topics
        self.topics = stored_topics(topics) if topics is not None else None
        self.reader = reader
        self.db = db
        self.on_progress = on_progress
        self.batch_size = batch_size
        self.bound = bound
        self.latency = latency
        self.position = 0
        self.failure: Failure | None = None
        self.rate = status.Rate()
        self._tick_due = True
        self._careful_until = 0  # up to there, one event per batch (to find a failing one)
        self._last_saved = 0.0
        self._last_report = 0.0
        self._advancing = threading.Lock()
        self._wakeup = threading.Event()
        self._urgent = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what subclasses provide ---------------------------------------------------------------

    def prepare(self, conn: psycopg.Connection) -> int:
        """Creates what the consumer needs; returns its tracked position."""
        raise NotImplementedError

    def consume(self, conn: psycopg.Connection, batch: Sequence[Positioned], up_to: int) -> int:
        """Consumes the batch (possibly empty) and records `up_to` as the position when that is
        due; returns the position now tracked (which a rebuild may have moved ahead)."""
        raise NotImplementedError

    def tick(self) -> float | None:
        """Periodic work between batches; returns the seconds until it is due again."""
        return None

    # -- the loop ------------------------------------------------------------------------------

    def start_at(self, position: int) -> None:
        self.position = position

    def interested_in(self, event_types: set[type]) -> bool:
        if self.event_types is None:
            return True
        return any(issubclass(t, self.event_types) for t in event_types)

    def catch_up(self) -> bool:
        """Consumes one batch; True if there may be more right away."""
        with self.db.connection() as conn:
            ceiling = self.reader.head(conn)
            if self.bound is not None:
                ceiling = min(ceiling, self.bound())
            if ceiling <= self.position:
                return False
            careful = self._careful_until > self.position
            limit = 1 if careful else self.batch_size
            batch = self.reader.read(conn, self.position, limit, ceiling, self.topics)
            full = len(batch) == limit
            up_to = batch[-1][0] if full else ceiling
            try:
                tracked = self.consume(conn, batch, up_to)
            except Exception as error:
                return self._failed(batch, error)
        self._advance(max(tracked, up_to))
        self._succeeded(len(batch))
        if batch:
            self._tick_due = True  # what it handled may have made periodic work due sooner
        return full

    def refresh(self) -> None:
        """Moves to the position tracked in the database if that is further: another process
        ran this consumer meanwhile (this one's thread is not running)."""
        with self.db.connection() as conn:
            self._advance(self.tracked(conn))

    def tracked(self, conn: psycopg.Connection) -> int:
        """The position kept in the database."""
        raise NotImplementedError

    def catch_up_fully(self) -> bool:
        """Consumes everything there is; False if the consumer is failing (it stays where it
        fails, and its thread keeps retrying once started)."""
        while self.catch_up():
            pass
        return self.failure is None

    def should_save(self, batch: Sequence[Positioned]) -> bool:
        """A batch with events is always saved; a mere skip past irrelevant ones now and then."""
        now = time.monotonic()
        if batch or now - self._last_saved >= PERSIST_SKIPS_EVERY:
            self._last_saved = now
            return True
        return False

    def _failed(self, batch: Sequence[Positioned], error: BaseException) -> bool:
        """Returns True to retry at once (one event at a time, to find the failing one)."""
        if len(batch) > 1:
            self._careful_until = batch[-1][0]
            return True
        position = batch[0][0] if batch else self.position
        if self.failure is None or self.failure.position != position:
            log.error(
                "%s %s fails on the event at position %d; retrying with backoff: %s",
                self.kind,
                self.name,
                position,
                error_report(error),
            )
            self.failure = Failure(position, error)
        self.failure.attempts += 1
        self._report(force=True)
        return False

    def _succeeded(self, count: int) -> None:
        self.rate.add(count)
        if self.failure is not None:
            log.warning("%s %s recovered at position %d", self.kind, self.name, self.position)
            self.failure = None
            self._report(force=True)
        else:
            self._report()

    def _advance(self, position: int) -> None:
        """Monotonic: the runner's thread and appenders that project inline both advance it."""
        with self._advancing:
            if position <= self.position:
                return
            self.position = position
        self.on_progress(self.name, position)

    def _report(self, force: bool = False, state: str | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < status.REPORT_INTERVAL:
            return
        self._last_report = now
        failure = self.failure
        current = state or (status.FAILING if failure else status.RUNNING)
        try:
            with self.db.connection() as conn:
                status.report(
                    conn,
                    self.name,
                    self.kind,
                    current,
                    self.position,
                    self.rate.per_second(),
                    (failure.position, failure.reason, failure.since) if failure else None,
                )
        except Exception as error:
            log.warning("cannot report the state of %s: %s", self.name, error_kind(error))

    # -- the thread ----------------------------------------------------------------------------

    def wake(self) -> None:
        """Someone waits for this consumer: read now."""
        self._urgent.set()
        self._wakeup.set()

    def nudge(self) -> None:
        """Something was appended: read within `latency`."""
        self._wakeup.set()

    def start(self) -> None:
        """Starts the thread; a runner stopped before (leadership lost) starts again."""
        self._stopping.clear()
        self._report(force=True)
        self._thread = threading.Thread(target=self._run, name=f"consumer-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
            self._report(force=True, state=status.STOPPED)

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stopping.is_set():
            if self._tick_due or time.monotonic() >= next_tick:
                self._tick_due = False
                next_tick = time.monotonic() + self._tick_safely()
            more = self._catch_up_safely()
            if more:
                continue
            wait = POLL_INTERVAL
            if self.failure is not None:
                wait = self.failure.backoff()
            wait = min(wait, max(next_tick - time.monotonic(), 0.0))
            woken = self._wakeup.wait(wait)
            self._wakeup.clear()
            if woken and self.latency and not self._urgent.is_set():
                self._urgent.wait(self.latency)
            self._urgent.clear()

    def _catch_up_safely(self) -> bool:
        try:
            return self.catch_up()
        except Exception as error:  # the database itself is unreachable: retry later
            log.error("%s %s cannot read the log: %s", self.kind, self.name, error_kind(error))
            self._stopping.wait(BACKOFF_FIRST)
            return False

    def _tick_safely(self) -> float:
        try:
            delay = self.tick()
        except Exception as error:
            log.error("%s %s: periodic work failed: %s", self.kind, self.name, error_report(error))
            delay = BACKOFF_FIRST
        return POLL_INTERVAL * 120 if delay is None else max(delay, 0.0)
