"""The event store on a real PostgreSQL: idempotent ingest, and appends that never hang."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.config import Settings
from adapters.node import ChronicleNode
from domain.archive import StoreStatus
from domain.identity import instance_aggregate_id
from domain.instance_record import InstanceRecord
from domain.origin import Channel, Origin

ORIGIN = Origin(Channel.CLI)
LARGE_PATIENT = 10_000


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[ChronicleNode]:
    chronicle = ChronicleNode(
        Settings(data_dir=tmp_path / "data", database_url=database_url, db_pool_size=2)
    )
    try:
        chronicle.start(workers=False)
        yield chronicle
    finally:
        chronicle.close()


def record(number: int) -> InstanceRecord:
    """A small but realistic event payload, without a file (the event store is under test)."""
    return InstanceRecord(
        instance_id=f"instance-{number:08d}",
        series_id="series",
        study_id="study",
        patient_id="patient",
        attachment={"uuid": f"00000000-0000-4000-8000-{number:012d}", "size": 9000, "md5": "0"},
        dicom={
            "transfer_syntax": "1.2.840.10008.1.2.1",
            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        },
        tags={
            "Patient": {"PatientID": "BIG", "PatientName": "Large^Patient"},
            "Study": {"StudyInstanceUID": "1.2.3", "StudyDescription": "x" * 60},
            "Series": {"SeriesInstanceUID": "1.2.3.4", "Modality": "CT"},
            "Instance": {"SOPInstanceUID": f"1.2.3.4.{number}", "InstanceNumber": str(number)},
        },
        indexed={"StationName": "ST1", "Manufacturer": "Chronicle"},
    )


def run_bounded(function: Any, timeout: float) -> Any:
    """Runs in a thread so that a hang fails the test instead of blocking the suite."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function()
        except BaseException as exc:  # reported to the test below
            result["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"append did not finish within {timeout}s"
    if "error" in result:
        raise result["error"]
    return result.get("value")


def test_same_instance_twice_is_already_stored(node: ChronicleNode) -> None:
    first = node.archive.store(record(1), ORIGIN, overwrite=False)
    second = node.archive.store(record(1), ORIGIN, overwrite=False)
    assert first.status is StoreStatus.SUCCESS and first.position
    assert second.status is StoreStatus.ALREADY_STORED and second.position is None
    overwritten = node.archive.store(record(1), ORIGIN, overwrite=True)
    assert overwritten.status is StoreStatus.SUCCESS
    assert overwritten.replaced_attachment == record(1).attachment["uuid"]


def test_deleting_a_10000_instance_patient_is_one_append_that_completes(
    node: ChronicleNode,
) -> None:
    """One multi-megabyte delete used to hang forever in psycopg's pipeline mode."""
    for number in range(LARGE_PATIENT):
        node.archive.store(record(number), ORIGIN, overwrite=False)
    before = node.archive.recorder.max_notification_id() or 0
    ids = [f"instance-{n:08d}" for n in range(LARGE_PATIENT)]
    last = run_bounded(lambda: node.archive.delete_instances(ids, ORIGIN), timeout=300)
    assert last == before + LARGE_PATIENT, "one event per instance, contiguous positions"
    assert not node.archive.repository.get(instance_aggregate_id(ids[-1])).live
    run_bounded(node.consumers.catch_up_read_models, timeout=300)
    with node.db.connection() as conn:
        remaining = conn.execute("SELECT count(*) FROM hierarchy.resources").fetchone()[0]
        deleted = conn.execute(
            "SELECT count(*) FROM changes.changes WHERE change_type = 'Deleted'"
        ).fetchone()[0]
    assert remaining == 0
    assert deleted == LARGE_PATIENT + 3


def test_concurrent_stores_of_the_same_instances_store_each_once(node: ChronicleNode) -> None:
    """Group commit shares transactions between threads; a duplicate must not fail the others."""
    outcomes: list[StoreStatus] = []
    lock = threading.Lock()

    def store_all() -> None:
        for number in range(50):
            outcome = node.archive.store(record(number), ORIGIN, overwrite=False)
            with lock:
                outcomes.append(outcome.status)

    threads = [threading.Thread(target=store_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes.count(StoreStatus.SUCCESS) == 50
    assert outcomes.count(StoreStatus.ALREADY_STORED) == 7 * 50
    stored = node.archive.recorder.select_notifications(start=None, limit=1000)
    assert len(stored) == 50
