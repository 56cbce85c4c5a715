"""The job engine's intricate paths, driven in-process against a real DICOM destination:
a paused job resumes without sending twice, and a job a crash left running fails clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.config import Settings
from adapters.database import DatabaseAddress
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
        node.archive, node.db, node.nodes, node.storage, node.senders, "CHRONICLE", node.job_outputs
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


def _session(conn: psycopg.Connection) -> tuple[int, Any]:
    row = conn.execute(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def test_a_new_leader_fails_only_the_jobs_whose_process_is_gone(
    node: ChronicleNode, database_url: str
) -> None:
    """Several processes: each records the PostgreSQL session it keeps open beside the jobs it
    runs; a job run by a live process (a synchronous job, say) survives a takeover."""
    series, _ = store_series(node, 1)
    alive, dead = (
        node.jobs.submit_store(modality(node), series_request(series), {}, ORIGIN)[0]
        for _ in range(2)
    )
    address = DatabaseAddress.from_url(database_url)
    with psycopg.connect(address.conninfo(), autocommit=True) as other_process:
        with psycopg.connect(address.conninfo(), autocommit=True) as gone:
            gone_session = _session(gone)
        for job_id, session in ((alive, _session(other_process)), (dead, gone_session)):
            node.archive.start_job(job_id)
            with node.db.connection() as conn:
                conn.execute(
                    "INSERT INTO runtime.job_runs (job_id, backend_pid, backend_start) "
                    "VALUES (%s, %s, %s)",
                    (job_id, *session),
                )
        node.consumers.catch_up_read_models()

        JobEngine(
            node.archive, node.db, node.nodes, node.storage, node.senders, "X", node.job_outputs
        ).recover()

        assert node.archive.job(alive).state == "Running"
        assert node.archive.job(dead).state == "Failure"
