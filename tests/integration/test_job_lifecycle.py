"""The job engine's intricate paths, driven in-process against a real DICOM destination:
a paused job resumes without sending twice, and a job a crash left running fails clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.config import Settings
from adapters.delivery import Destination
from adapters.jobs.engine import JobEngine
from adapters.node import ChronicleNode
from domain.exports import RequestedExport
from domain.origin import Channel, Origin
from tests.support.dicom_factory import make_series
from tests.support.storage_scp import StorageSCP

ORIGIN = Origin(Channel.REST, user="tester")


@pytest.fixture
def destination() -> Iterator[StorageSCP]:
    scp = StorageSCP("LIFECYCLE").start()
    try:
        yield scp
    finally:
        scp.stop()


@pytest.fixture
def node(tmp_path: Path, database_url: str, destination: StorageSCP) -> Iterator[ChronicleNode]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        dicom_modalities={"dest": destination.modality()},
        db_pool_size=2,
    )
    chronicle = ChronicleNode(settings)
    try:
        chronicle.start(workers=False)
        yield chronicle
    finally:
        chronicle.close()


def store_series(node: ChronicleNode, count: int) -> tuple[str, list[str]]:
    results = [node.ingestor.ingest(data, ORIGIN) for data in make_series(count, "LIFE")]
    node.consumers.catch_up_read_models()
    return results[0].series_id, [r.instance_id for r in results]


def modality(node: ChronicleNode) -> Destination:
    with node.db.connection() as conn:
        (configuration,) = conn.execute(
            "SELECT configuration FROM configuration.remote_nodes WHERE name = 'dest'"
        ).fetchone()
    return Destination("modality", "dest", configuration)


def series_request(series: str) -> list[RequestedExport]:
    return [RequestedExport(series, "Series", {}, "modality", "dest")]


def exported(node: ChronicleNode) -> list[tuple[str, bool]]:
    node.consumers.catch_up_read_models()
    with node.db.connection() as conn:
        rows = conn.execute("SELECT instance_id, succeeded FROM exports.exports ORDER BY seq")
        return [(row[0], row[1]) for row in rows]


def test_a_resumed_job_sends_only_what_was_not_delivered(
    node: ChronicleNode, destination: StorageSCP
) -> None:
    series, instances = store_series(node, 4)
    job_id, _ = node.jobs.submit_store(modality(node), series_request(series), {}, ORIGIN)
    node.archive.start_job(job_id)
    node.archive.progress_job(job_id, 50, instances[:2])  # delivered before the pause
    node.archive.pause_job(job_id, ORIGIN)
    node.archive.resume_job(job_id, ORIGIN)

    content, _ = node.jobs.run(job_id)

    assert content["InstancesCount"] == 4 and content["FailedInstancesCount"] == 0
    assert len(destination.received) == 2
    assert [instance for instance, _ in exported(node)] == instances[2:]
    assert node.archive.job(job_id).state == "Success"


def test_a_job_left_running_by_a_crash_fails_clearly_at_start(node: ChronicleNode) -> None:
    series, _ = store_series(node, 1)
    job_id, _ = node.jobs.submit_store(modality(node), series_request(series), {}, ORIGIN)
    node.archive.start_job(job_id)  # ... and the process dies here
    node.consumers.catch_up_read_models()

    restarted = JobEngine(
        node.archive, node.db, node.nodes, node.storage, node.senders, "CHRONICLE"
    )
    restarted.recover()

    node.consumers.catch_up_read_models()
    with node.db.connection() as conn:
        state, details = conn.execute(
            "SELECT state, error_details FROM jobs.jobs WHERE id = %s", (job_id,)
        ).fetchone()
    assert state == "Failure"
    assert details == "Interrupted by a restart; resubmit to retry"
    node.archive.resubmit_job(job_id, ORIGIN)
    assert node.archive.job(job_id).state == "Pending"
