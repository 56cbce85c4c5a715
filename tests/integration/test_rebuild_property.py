"""Rebuild invariant: after any sequence of commands, projections rebuilt from the log equal the
live ones (which were built event by event), Seq values included."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.config import Settings
from adapters.database import DatabaseAddress
from adapters.node import ChronicleNode
from adapters.rebuild import rebuild
from domain.origin import Channel, Origin
from projections import read_models
from tests.support.dicom_factory import make_instance

ORIGIN = Origin(Channel.REST, remote_ip="127.0.0.1")


def _pool() -> list[bytes]:
    """12 instances: 2 patients, 3 studies, 4 series."""
    layout = [("P1", "1.9.1", "1.9.1.1"), ("P1", "1.9.1", "1.9.1.2"), ("P1", "1.9.2", "1.9.2.1")]
    layout += [("P2", "1.9.3", "1.9.3.1")]
    return [
        make_instance(patient, study, series, f"{series}.{n}", instance_number=n)
        for patient, study, series in layout
        for n in range(1, 4)
    ]


POOL = _pool()

operations = st.lists(
    st.one_of(
        st.tuples(st.just("store"), st.integers(0, len(POOL) - 1)),
        st.tuples(st.just("delete"), st.integers(0, 3), st.integers(0, len(POOL) - 1)),
        st.tuples(st.just("clear")),
        st.tuples(st.just("stabilize")),
    ),
    min_size=1,
    max_size=25,
)


@contextmanager
def fresh_node(postgres: DatabaseAddress, name: str) -> Iterator[ChronicleNode]:
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{postgres.user}@/{name}?host={postgres.host}&port={postgres.port}"
    with tempfile.TemporaryDirectory() as data_dir:
        node = ChronicleNode(
            Settings(data_dir=Path(data_dir), database_url=url, stable_age=0, db_pool_size=2)
        )
        try:
            node.start(workers=False)
            yield node
        finally:
            node.close()


def _apply(node: ChronicleNode, operation: tuple) -> None:
    kind = operation[0]
    if kind == "store":
        node.ingestor.ingest(POOL[operation[1]], ORIGIN)
    elif kind == "delete":
        _delete(node, level=operation[1], index=operation[2])
    elif kind == "clear":
        node.archive.clear_changes(ORIGIN)
    else:
        node.watcher.check()
    node.runner.catch_up_fully()


def _delete(node: ChronicleNode, level: int, index: int) -> None:
    with node.db.connection() as conn:
        instances = read_models.list_resources(conn, 3, 0, None)
        if not instances:
            return
        target = instances[index % len(instances)]
        resource_id = target[("patient_id", "study_id", "series_id", "id")[level]]
        ids = [row["id"] for row in read_models.instance_rows(conn, level, resource_id)]
    node.archive.delete_instances(ids, ORIGIN)


DUMPS = {
    "hierarchy": "SELECT * FROM hierarchy.resources ORDER BY id",
    "changes": "SELECT * FROM changes.changes ORDER BY seq",
    "live": "SELECT * FROM changes.live_resources ORDER BY id",
    "visibility": "SELECT * FROM changes.visibility",
    "files": "SELECT * FROM files.files ORDER BY uuid",
}


def _dump(node: ChronicleNode) -> dict[str, list]:
    with node.db.connection() as conn:
        return {name: conn.execute(query).fetchall() for name, query in DUMPS.items()}


_examples = iter(range(10**6))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_rebuilt_projections_equal_live_ones(postgres: DatabaseAddress, ops: list) -> None:
    with fresh_node(postgres, f"chronicle_property_{next(_examples)}") as node:
        for operation in ops:
            _apply(node, operation)
        live = _dump(node)
        with node.db.connection() as conn:
            rebuild(node.archive, conn, node.runner.projections)
        assert _dump(node) == live
