"""The runners of the log's consumers: a failing read model does not hold back the others and
recovers by itself; a processor added to a log with history performs no side effect for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from adapters.consumers.status import FAILING, RUNNING
from adapters.consumers.supervisor import Consumers
from adapters.database import DatabaseAddress
from adapters.node import ChronicleNode
from domain.aggregates import Instance
from domain.levels import INSTANCE, SERIES
from domain.main_tags import orthanc_id
from domain.origin import Channel, Origin
from projections.hierarchy import queries
from projections.read_model import Positioned
from tests.support.dicom_factory import make_instance
from tests.support.nodes import fresh_node
from tests.support.waiting import PATIENCE, eventually

ORIGIN = Origin(Channel.REST, remote_ip="127.0.0.1")


def instance(n: int) -> bytes:
    return make_instance("P1", "1.7.1", "1.7.1.1", f"1.7.1.1.{n}", instance_number=n)


class FaultyModel:
    """A read model failing on the Stored event of one SOP instance while told to."""

    def __init__(self, model: Any, poisoned: str) -> None:
        self.model = model
        self.name = model.name
        self.topics = model.topics
        self.poisoned = poisoned
        self.faulty = True

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        for _, event in batch:
            stored = isinstance(event, Instance.Stored)
            if self.faulty and stored and event.instance_id == self.poisoned:
                raise RuntimeError("injected fault")
        self.model.apply(conn, batch)


def status_of(node: ChronicleNode, name: str) -> Any:
    return next(s for s in node.consumers.statuses() if s.name == name)


def test_a_failing_read_model_leaves_the_others_current_and_recovers(
    postgres: DatabaseAddress,
) -> None:
    with fresh_node(postgres, "chronicle_consumers_failing", stable_age=3600) as node:
        first = node.ingestor.ingest(instance(1), ORIGIN)
        files = node.consumers.read_models["files"]
        poisoned_id = _instance_id(2)
        files.model = FaultyModel(files.model, poisoned_id)
        node.consumers.start()
        try:
            second = node.ingestor.ingest(instance(2), ORIGIN)
            third = node.ingestor.ingest(instance(3), ORIGIN)
            assert second.instance_id == poisoned_id and second.position and third.position
            assert first.position is not None and first.position < second.position

            # Read-your-writes on the hierarchy and changes still works past the poisoned event.
            assert node.consumers.wait_for(third.position, ["hierarchy", "changes"], PATIENCE)
            assert eventually(lambda: status_of(node, "files").state == FAILING)
            failing = status_of(node, "files")
            assert failing.failing_position == second.position
            assert failing.position < second.position
            assert failing.last_error and "RuntimeError" in failing.last_error
            assert status_of(node, "hierarchy").state == RUNNING
            assert status_of(node, "hierarchy").position >= third.position
            assert _files(node) == {first.instance_id}

            files.model.faulty = False
            files.wake()
            assert node.consumers.wait_for(third.position, ["files"], PATIENCE)
            assert eventually(lambda: status_of(node, "files").state == RUNNING)
            assert status_of(node, "files").last_error is None
            assert _files(node) == {first.instance_id, second.instance_id, third.instance_id}
        finally:
            node.consumers.stop()


def _tracked(node: ChronicleNode, name: str) -> int:
    with node.db.connection() as conn:
        row = conn.execute(f"SELECT position FROM {name}.tracking").fetchone()
    return int(row[0]) if row else 0


def test_an_append_is_in_the_hierarchy_and_changes_once_committed(
    postgres: DatabaseAddress,
) -> None:
    """Read-your-writes without a wait: the two read models a writer's next read depends on
    project each append inside its transaction (no runner is running here)."""
    with fresh_node(postgres, "chronicle_consumers_inline", stable_age=3600) as node:
        stored = node.ingestor.ingest(instance(1), ORIGIN)
        assert stored.position is not None
        assert _tracked(node, "hierarchy") == stored.position
        assert _tracked(node, "changes") == stored.position
        assert _tracked(node, "files") < stored.position  # left to its runner
        with node.db.connection() as conn:
            assert queries.get_resource(conn, INSTANCE, stored.instance_id) is not None
        assert node.consumers.read_models["hierarchy"].position == stored.position


def test_a_read_model_failing_inline_leaves_the_append_to_its_runner(
    postgres: DatabaseAddress,
) -> None:
    """The append commits all the same; the runner then meets the fault, reports it, and
    recovers once it is gone."""
    with fresh_node(postgres, "chronicle_consumers_inline_fault", stable_age=3600) as node:
        hierarchy = node.consumers.read_models["hierarchy"]
        hierarchy.model = FaultyModel(hierarchy.model, _instance_id(1))
        stored = node.ingestor.ingest(instance(1), ORIGIN)
        assert stored.position is not None
        assert node.archive.attachment_of(stored.instance_id) is not None  # committed
        assert _tracked(node, "hierarchy") < stored.position
        node.consumers.start()
        try:
            assert eventually(lambda: status_of(node, "hierarchy").state == FAILING)
            assert status_of(node, "hierarchy").failing_position == stored.position
            hierarchy.model.faulty = False
            hierarchy.wake()
            assert node.consumers.wait_for(stored.position, ["hierarchy", "changes"], PATIENCE)
            with node.db.connection() as conn:
                assert queries.get_resource(conn, INSTANCE, stored.instance_id) is not None
        finally:
            node.consumers.stop()


def _instance_id(n: int) -> str:
    return orthanc_id("P1", "1.7.1", "1.7.1.1", f"1.7.1.1.{n}")


def _files(node: ChronicleNode) -> set[str]:
    with node.db.connection() as conn:
        rows = conn.execute("SELECT instance_id FROM files.files").fetchall()
    return {row[0] for row in rows}


class Recorder:
    """A processor that records the positions it is handed (its side effect)."""

    name = "test-recorder"
    topics = None
    follows: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.handled: list[int] = []

    def handle(self, batch: Sequence[Positioned]) -> None:
        self.handled.extend(position for position, _ in batch)

    def tick(self) -> float | None:
        return None


def recorder_on(node: ChronicleNode) -> tuple[Recorder, Consumers]:
    recorder = Recorder()
    consumers = Consumers(node.archive, node.consumer_db, [], [recorder])
    consumers.prepare()
    return recorder, consumers


def test_a_processor_added_to_a_log_with_history_starts_at_its_head(
    postgres: DatabaseAddress,
) -> None:
    with fresh_node(postgres, "chronicle_consumers_new_processor", stable_age=3600) as node:
        for n in range(1, 4):
            node.ingestor.ingest(instance(n), ORIGIN)
        recorder, consumers = recorder_on(node)
        assert consumers.processors[recorder.name].catch_up_fully()
        assert recorder.handled == []

        later = node.ingestor.ingest(instance(4), ORIGIN)
        consumers.processors[recorder.name].catch_up_fully()
        assert recorder.handled == [later.position]

        # Registered once: a restart resumes where it stopped, history is not handed again.
        again, restarted = recorder_on(node)
        assert restarted.processors[again.name].catch_up_fully()
        assert again.handled == []


def _is_stable(node: ChronicleNode, series_id: str) -> bool:
    with node.db.connection() as conn:
        row = queries.get_resource(conn, SERIES, series_id)
    assert row is not None
    return bool(row["is_stable"])


def test_a_new_instance_makes_a_stable_series_unstable_until_it_is_quiet_again(
    postgres: DatabaseAddress,
) -> None:
    """Driven step by step (StableAge 0, the watcher checked by hand), so no timing decides."""
    with fresh_node(postgres, "chronicle_consumers_stability", stable_age=0) as node:
        first = node.ingestor.ingest(instance(1), ORIGIN)
        node.consumers.catch_up_read_models()
        assert not _is_stable(node, first.series_id)
        assert node.watcher.check() > 0
        node.consumers.catch_up_read_models()
        assert _is_stable(node, first.series_id)

        node.ingestor.ingest(instance(2), ORIGIN)
        node.consumers.catch_up_read_models()
        assert not _is_stable(node, first.series_id)
        assert node.watcher.check() > 0
        node.consumers.catch_up_read_models()
        assert _is_stable(node, first.series_id)
        assert node.watcher.check() == 0  # quiet and already recorded: no new event
