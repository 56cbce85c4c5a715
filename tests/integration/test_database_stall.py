"""PostgreSQL frozen (SIGSTOP) in the middle of a 4-client upload: every upload waits, then
succeeds, and every acknowledged instance is there once, with its file."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from adapters.embedded_postgres import Postmaster
from tests.support.dicom_factory import make_series
from tests.support.server import ChronicleProcess
from tests.support.waiting import eventually

CLIENTS = 4
PER_CLIENT = 75
STALL_AFTER = 40  # acknowledged uploads before PostgreSQL is frozen
STALL_SECONDS = 3.0


@contextmanager
def frozen(pgdata: Path) -> Iterator[None]:
    """Every process of the cluster stopped (the postmaster and each backend), then resumed."""
    postmaster = Postmaster.read(pgdata)
    assert postmaster is not None and postmaster.is_running()
    parent = psutil.Process(postmaster.pid)
    processes = [parent, *parent.children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGCONT)


def test_a_frozen_database_delays_uploads_and_loses_none(tmp_path: Path) -> None:
    server = ChronicleProcess(tmp_path / "data", None)  # the embedded database
    server.start()
    acknowledged: dict[str, int] = {}
    failures: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def upload(files: list[bytes]) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for data in files:
                answer = client.post("/instances", content=data)
                with lock:
                    if answer.status_code != 200:
                        failures.append(f"{answer.status_code}: {answer.text[:200]}")
                        continue
                    acknowledged[answer.json()["ID"]] = acknowledged.get(answer.json()["ID"], 0) + 1
                    if len(acknowledged) >= STALL_AFTER:
                        enough.set()

    try:
        batches = [make_series(PER_CLIENT, f"STALL-{i}", size=8) for i in range(CLIENTS)]
        threads = [threading.Thread(target=upload, args=(batch,)) for batch in batches]
        for thread in threads:
            thread.start()
        assert enough.wait(120)
        with frozen(server.data_dir / "pg"):
            time.sleep(STALL_SECONDS)  # the stall itself; nothing is measured against it
        for thread in threads:
            thread.join(300)
        assert failures == []
        assert len(acknowledged) == CLIENTS * PER_CLIENT
        assert set(acknowledged.values()) == {1}
        with server.client() as client:
            assert eventually(
                lambda: client.get("/statistics").json()["CountInstances"] == len(acknowledged)
            )
            assert set(client.get("/instances").json()) == set(acknowledged)
        stored = list((server.data_dir / "storage").glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"))
        assert len(stored) == len(acknowledged)
    finally:
        server.stop()
