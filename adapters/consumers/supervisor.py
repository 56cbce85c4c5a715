"""Every consumer of the log in this process: their runners, the signal that wakes them after an
append, the wait for read-your-writes, and their status."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventsourcing.application import Application

from adapters.consumers import status
from adapters.consumers.log_reader import LogReader
from adapters.consumers.processor_runner import RUNTIME_SCHEMA, Processor, ProcessorRunner
from adapters.consumers.read_model_runner import ReadModelRunner
from adapters.consumers.runner import ConsumerRunner
from adapters.database import Database
from projections import schema
from projections.read_model import ReadModel

BATCHING_LATENCY = 0.2  # seconds


class UnknownConsumer(LookupError):
    pass


class Consumers:
    def __init__(
        self,
        app: Application,
        db: Database,
        read_models: Sequence[ReadModel],
        processors: Sequence[Processor] = (),
        eager: Sequence[str] = (),
    ) -> None:
        """`db`: the runners' own connections (never starved by API requests). `eager`: the
        read models that read each append at once (those nearly every write waits for); the
        others wait up to BATCHING_LATENCY for more appends to come."""
        self.db = db
        self.reader = LogReader(app)
        self._progress = threading.Condition()
        self.read_models: dict[str, ReadModelRunner] = {
            model.name: ReadModelRunner(
                model,
                self.reader,
                db,
                self._advanced,
                latency=0.0 if model.name in eager else BATCHING_LATENCY,
            )
            for model in read_models
        }
        self.processors: dict[str, ProcessorRunner] = {}
        for processor in processors:
            bound = self._bound(processor.follows)
            self.processors[processor.name] = ProcessorRunner(
                processor, self.reader, db, self._advanced, bound=bound, latency=BATCHING_LATENCY
            )
        self._started = False

    @property
    def runners(self) -> list[ConsumerRunner]:
        return [*self.read_models.values(), *self.processors.values()]

    def _bound(self, follows: tuple[str, ...]) -> Any:
        missing = [name for name in follows if name not in self.read_models]
        if missing:
            raise UnknownConsumer(f"a processor follows unknown read models: {missing}")
        if not follows:
            return None
        runners = [self.read_models[name] for name in follows]
        return lambda: min(runner.position for runner in runners)

    # -- lifecycle -------------------------------------------------------------------------

    def prepare(self) -> None:
        """Creates and migrates every schema; registers new processors at the log's head."""
        with self.db.connection() as conn:
            schema.migrate(conn, RUNTIME_SCHEMA, RUNTIME_SCHEMA, tracked=False)
            for runner in self.runners:
                runner.start_at(runner.prepare(conn))

    def catch_up_read_models(self, names: Iterable[str] | None = None) -> bool:
        """Brings the read models (default: all) up to the log's head in this thread; False if
        one of them is failing."""
        chosen = [self.read_models[n] for n in names] if names else list(self.read_models.values())
        if len(chosen) == 1:
            return chosen[0].catch_up_fully()
        # Side by side, as their threads would: each mostly waits on PostgreSQL.
        with ThreadPoolExecutor(len(chosen), thread_name_prefix="catch-up") as pool:
            return all(list(pool.map(lambda runner: runner.catch_up_fully(), chosen)))

    def start(self) -> None:
        for runner in self.runners:
            runner.start()
        self._started = True

    def stop(self) -> None:
        for runner in self.runners:
            runner.stop()
        self._started = False

    # -- signals ---------------------------------------------------------------------------

    def notify(self, event_types: Iterable[type] | None = None, position: int = 0) -> None:
        """Wakes the runners interested in events of these types (all when None) that have
        not consumed `position` yet (those that projected the append inline have); the
        others see them at their next poll."""
        types = set(event_types) if event_types is not None else None
        for runner in self.runners:
            if runner.position >= position > 0:
                continue
            if types is None or runner.interested_in(types):
                runner.nudge()

    def _advanced(self, name: str, position: int) -> None:
        with self._progress:
            self._progress.notify_all()

    def wait_for(self, position: int, names: Sequence[str], timeout: float) -> bool:
        """Blocks until the named read models have consumed `position`; False on timeout.

        Without running threads (a command-line tool), catches them up in this thread.
        """
        runners = [self.read_models[name] for name in names]
        if not self._started:
            # A tool, or a process that does not run the consumers (another one leads): the
            # read models are brought to the position in this thread, under their locks, so
            # that what another process applied is not read again.
            for runner in runners:
                if runner.position < position:
                    runner.refresh()
                if runner.position < position:
                    runner.catch_up_fully()
            return all(runner.position >= position for runner in runners)
        deadline = time.monotonic() + timeout
        with self._progress:
            while min(runner.position for runner in runners) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                for runner in runners:
                    if runner.position < position:
                        runner.wake()
                self._progress.wait(remaining)
        return True

    # -- status ----------------------------------------------------------------------------

    def statuses(self) -> list[status.ConsumerStatus]:
        with self.db.connection() as conn:
            head = self.reader.head(conn)
            positions = {name: self._tracked(conn, runner) for name, runner in self._named()}
            kinds = [(runner.name, runner.kind) for runner in self.runners]
            return status.statuses(conn, kinds, positions, head)

    def _named(self) -> list[tuple[str, ConsumerRunner]]:
        return [(runner.name, runner) for runner in self.runners]

    @staticmethod
    def _tracked(conn: Any, runner: ConsumerRunner) -> int:
        """Where the consumer is by its own tracking (in another process too), or this
        process's position if further (a skip past irrelevant events not saved yet)."""
        return max(runner.tracked(conn), runner.position)
