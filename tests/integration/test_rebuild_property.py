"""Rebuild invariant: after any sequence of commands, projections rebuilt from the log equal the
live ones (which were built event by event by their own runners), Seq values included; and while
one read model fails, the others stay current, and it catches up once the fault is gone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.attachments import (
    SourceFile,
    change_attachment_compression,
    change_file_compression,
    store_attachment,
)
from adapters.compression import ZLIB_WITH_SIZE
from adapters.database import DatabaseAddress
from adapters.node import ChronicleNode
from adapters.rebuild import rebuild
from domain.annotations import Revisions
from domain.levels import LEVEL_NAMES, PATIENT
from domain.origin import Channel, Origin
from projections.hierarchy import queries as hierarchy
from tests.support.dicom_factory import make_instance
from tests.support.nodes import fresh_node

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
        st.tuples(st.just("annotate"), st.integers(0, 7), st.integers(0, 3), st.integers(0, 11)),
        st.tuples(st.just("compress"), st.integers(0, 4), st.integers(0, 11)),
        st.tuples(st.just("break"), st.integers(0, 5)),
        st.tuples(st.just("heal")),
    ),
    min_size=1,
    max_size=25,
)


class Breakable:
    """A read model that fails on every event it is given while broken (an injected fault)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = model.name
        self.topics = model.topics
        self.broken = False

    def apply(self, conn: psycopg.Connection, batch: Sequence[Any]) -> None:
        if self.broken:
            raise RuntimeError(f"fault injected into {self.name}")
        self.model.apply(conn, batch)


def _breakable(node: ChronicleNode) -> list[Breakable]:
    wrappers = []
    for runner in node.consumers.read_models.values():
        runner.model = Breakable(runner.model)
        wrappers.append(runner.model)
    return wrappers


def _catch_up_and_check(node: ChronicleNode) -> None:
    """Every read model that is not broken reaches the head; a broken one stays behind with
    its failure recorded, and a healed one has none."""
    node.consumers.catch_up_read_models()
    with node.db.connection() as conn:
        head = node.consumers.reader.head(conn)
    for runner in node.consumers.read_models.values():
        if runner.model.broken:
            assert runner.position <= head
            assert runner.failure is None or runner.failure.position > runner.position
        else:
            assert runner.position == head, runner.name
            assert runner.failure is None, runner.name


def _apply(node: ChronicleNode, operation: tuple, models: list[Breakable]) -> None:
    kind = operation[0]
    if kind == "break":
        models[operation[1]].broken = True
    elif kind == "heal":
        for model in models:
            model.broken = False
    elif models[0].broken and kind in ("delete", "stabilize", "annotate", "compress"):
        pass  # these pick their resources from the hierarchy, which the API would wait for
    elif kind == "delete":
        _delete(node, level=operation[1], index=operation[2])
    elif kind == "store":
        node.ingestor.ingest(POOL[operation[1]], ORIGIN)
    elif kind == "annotate":
        _annotate(node, *operation[1:])
    elif kind == "compress":
        _compress(node, *operation[1:])
    elif kind == "clear":
        node.archive.clear_changes(ORIGIN)
    elif kind == "stabilize":
        node.watcher.check()
    _catch_up_and_check(node)


def _target(node: ChronicleNode, level: int, index: int) -> str | None:
    """The resource of `level` above (or at) the index-th instance, as the API would name it."""
    with node.db.connection() as conn:
        instances = hierarchy.list_resources(conn, 3, 0, None)
    if not instances:
        return None
    target = instances[index % len(instances)]
    return str(target[("patient_id", "study_id", "series_id", "id")[level]])


def _delete(node: ChronicleNode, level: int, index: int) -> None:
    resource_id = _target(node, level, index)
    if resource_id is None:
        return
    with node.db.connection() as conn:
        row = hierarchy.get_resource(conn, level, resource_id)
        instances = hierarchy.instance_rows(conn, level, resource_id)
        vanishing = hierarchy.vanishing_resources(conn, row, instances) if row else []
    node.archive.delete_instances([i["id"] for i in instances], ORIGIN, vanishing)


def _annotate(node: ChronicleNode, kind: int, level: int, index: int) -> None:
    """What a client says of a resource: metadata, a label, an attachment, a protection."""
    resource_id = _target(node, level, index)
    if resource_id is None:
        return
    archive, name = node.archive, LEVEL_NAMES[level]
    if kind == 0:
        archive.set_metadata(resource_id, name, 1024 + index % 2, f"value {index}", ORIGIN)
    elif (
        kind == 1
        and archive.annotated(resource_id)
        and 1024 in archive.annotated(resource_id).metadata
    ):
        archive.remove_metadata(resource_id, 1024, ORIGIN)
    elif kind in (2, 3):
        archive.set_label(resource_id, name, f"label{index % 3}", kind == 2, ORIGIN)
    elif kind in (4, 5):
        data = f"attachment {index}".encode()
        store_attachment(
            node.storage, archive, (resource_id, name), 1024, data, ORIGIN, Revisions()
        )
    elif kind == 6 and level == PATIENT:
        archive.set_protected(resource_id, name, index % 2 == 0, ORIGIN)


def _compress(node: ChronicleNode, level: int, index: int) -> None:
    """Compresses an instance's DICOM file (`level` 4) or the user attachment 1024 of a
    resource of `level`, or uncompresses it if it is compressed, as the API would. The
    index-th instance of the pool is stored first if it is not, and the attachment (else there
    would seldom be anything to compress)."""
    node.ingestor.ingest(POOL[index], ORIGIN)
    node.consumers.catch_up_read_models(["hierarchy"])
    resource_id = _target(node, min(level, 3), index)
    assert resource_id is not None
    with node.db.connection() as conn:
        if level == 4:
            row = hierarchy.get_resource(conn, 3, resource_id)
            assert row is not None
            source = SourceFile(row["file_uuid"], row["file_compression"])
        else:
            attachments = hierarchy.user_attachments(conn, resource_id)
            found = [a for a in attachments if a["content_type"] == 1024]
            source = SourceFile(found[0]["uuid"], found[0]["compression"]) if found else None
    if source is None:
        data, target = f"attachment {index}".encode(), (resource_id, LEVEL_NAMES[level])
        written = store_attachment(
            node.storage, node.archive, target, 1024, data, ORIGIN, Revisions()
        )
        node.consumers.catch_up_read_models(["hierarchy"])
        with node.db.connection() as conn:
            found = hierarchy.user_attachments(conn, resource_id)
        assert found[0]["revision"] == written.revision
        source = SourceFile(found[0]["uuid"], None)
    compression = None if source.compression else ZLIB_WITH_SIZE
    if level == 4:
        change_file_compression(
            node.storage, node.archive, resource_id, source, compression, ORIGIN
        )
    else:
        change_attachment_compression(
            node.storage, node.archive, resource_id, 1024, source, compression, ORIGIN
        )


DUMPS = {
    "hierarchy": "SELECT * FROM hierarchy.resources ORDER BY id",
    "changes": "SELECT * FROM changes.changes ORDER BY seq",
    "live": "SELECT * FROM changes.live_resources ORDER BY id",
    "visibility": "SELECT * FROM changes.visibility",
    "files": "SELECT * FROM files.files ORDER BY uuid",
    "metadata": "SELECT * FROM hierarchy.metadata ORDER BY resource_id, number",
    "attachments": "SELECT * FROM hierarchy.attachments ORDER BY resource_id, content_type",
    "labels": "SELECT * FROM hierarchy.labels ORDER BY resource_id, label",
    "protected": "SELECT * FROM hierarchy.protected ORDER BY resource_id",
    # the storage quotas' totals, kept by triggers (migrations/hierarchy/008), with what they sum
    "totals": "SELECT * FROM hierarchy.totals",
    "summed": "SELECT (SELECT count(*) FROM hierarchy.resources WHERE level = 0), "
    "(SELECT coalesce(sum(coalesce(file_compressed_size, file_size)), 0) "
    "FROM hierarchy.resources WHERE level = 3) + "
    "(SELECT coalesce(sum(coalesce(compressed_size, size)), 0) FROM hierarchy.attachments)",
}


def _dump(node: ChronicleNode) -> dict[str, list]:
    with node.db.connection() as conn:
        return {name: conn.execute(query).fetchall() for name, query in DUMPS.items()}


_examples = iter(range(10**6))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_rebuilt_projections_equal_live_ones(postgres: DatabaseAddress, ops: list) -> None:
    with fresh_node(postgres, f"chronicle_property_{next(_examples)}") as node:
        models = _breakable(node)
        assert models[0].name == "hierarchy"
        for operation in ops:
            _apply(node, operation, models)
        _apply(node, ("heal",), models)
        live = _dump(node)
        assert [tuple(live["totals"][0][1:])] == live["summed"]
        with node.db.connection() as conn:
            rebuild(node.consumers.reader, conn, [model.model for model in models])
        assert _dump(node) == live


def test_compression_survives_a_rebuild(postgres: DatabaseAddress) -> None:
    """Compressing an instance's file and a user attachment, then uncompressing one again:
    the read models rebuilt from the log say the same (files, sizes, MD5s, revisions), and
    the data reads back the same from the files they name."""
    with fresh_node(postgres, "chronicle_compression_rebuild") as node:
        stored = node.ingestor.ingest(POOL[0], ORIGIN)
        instance_id, patient_id = stored.instance_id, stored.patient_id
        for resource_id, level in ((instance_id, "Instance"), (patient_id, "Patient")):
            store_attachment(
                node.storage,
                node.archive,
                (resource_id, level),
                1024,
                b"notes " * 50,
                ORIGIN,
                Revisions(),
            )
        node.consumers.catch_up_read_models()

        def dicom() -> dict[str, Any]:
            with node.db.connection() as conn:
                row = hierarchy.get_resource(conn, 3, instance_id)
            assert row is not None
            return row

        def notes(resource_id: str) -> dict[str, Any]:
            with node.db.connection() as conn:
                return hierarchy.user_attachments(conn, resource_id)[0]

        before, first_revision = dicom(), notes(patient_id)["revision"]
        change_file_compression(
            node.storage,
            node.archive,
            instance_id,
            SourceFile(before["file_uuid"], None),
            ZLIB_WITH_SIZE,
            ORIGIN,
        )
        for resource_id in (instance_id, patient_id):
            current = notes(resource_id)
            change_attachment_compression(
                node.storage,
                node.archive,
                resource_id,
                1024,
                SourceFile(current["uuid"], None),
                ZLIB_WITH_SIZE,
                ORIGIN,
            )
        node.consumers.catch_up_read_models()
        uncompressed = notes(patient_id)
        change_attachment_compression(
            node.storage,
            node.archive,
            patient_id,
            1024,
            SourceFile(uncompressed["uuid"], ZLIB_WITH_SIZE),
            None,
            ORIGIN,
        )
        node.consumers.catch_up_read_models()

        after = dicom()
        assert after["file_uuid"] != before["file_uuid"]
        assert after["file_compression"] == ZLIB_WITH_SIZE
        assert (after["file_size"], after["file_md5"]) == (before["file_size"], before["file_md5"])
        assert after["file_compressed_size"] < after["file_size"]
        data = node.storage.read(after["file_uuid"], after["file_compression"])
        assert data == POOL[0]
        compressed_notes = notes(instance_id)
        assert compressed_notes["compression"] == ZLIB_WITH_SIZE
        assert node.storage.read(compressed_notes["uuid"], ZLIB_WITH_SIZE) == b"notes " * 50
        assert notes(patient_id)["compression"] is None
        assert notes(patient_id)["revision"] == first_revision + 2  # each rewrite is a write
        with node.db.connection() as conn:
            named = {row[0] for row in conn.execute("SELECT uuid FROM files.files")}
        assert before["file_uuid"] not in named
        assert {after["file_uuid"], compressed_notes["uuid"]} <= named

        live = _dump(node)
        with node.db.connection() as conn:
            models = [runner.model for runner in node.consumers.read_models.values()]
            rebuild(node.consumers.reader, conn, models)
        assert _dump(node) == live
