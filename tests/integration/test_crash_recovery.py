"""SIGKILL while clients upload: what was acknowledged survives, nothing dangles."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg
import pytest

from adapters.database import DatabaseAddress
from tests.support.dicom_factory import make_series
from tests.support.server import ChronicleProcess

CLIENTS = 4
PER_CLIENT = 60
KILL_AFTER = 40  # acknowledged uploads before the kill


def _storage_files(data_dir: Path) -> set[str]:
    storage = data_dir / "storage"
    return {p.name for p in storage.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*")}


def _upload_until_failure(
    url: str, files: list[bytes], acknowledged: dict[str, bytes], enough: threading.Event
) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for data in files:
            try:
                response = client.post("/instances", content=data)
            except httpx.TransportError:
                return
            if response.status_code != 200:
                return
            acknowledged[response.json()["ID"]] = data
            if len(acknowledged) >= KILL_AFTER:
                enough.set()


def test_acknowledged_uploads_survive_sigkill(
    tmp_path: Path, database_url: str, postgres: DatabaseAddress
) -> None:
    server = ChronicleProcess(tmp_path / "data", database_url)
    server.start()
    acknowledged: dict[str, bytes] = {}
    enough = threading.Event()
    workloads = [make_series(PER_CLIENT, patient_id=f"CRASH{i}") for i in range(CLIENTS)]
    threads = [
        threading.Thread(target=_upload_until_failure, args=(server.url, w, acknowledged, enough))
        for w in workloads
    ]
    for thread in threads:
        thread.start()
    assert enough.wait(timeout=300), "uploads did not progress"
    server.kill()
    for thread in threads:
        thread.join()

    restarted = ChronicleProcess(tmp_path / "data", database_url)
    restarted.port = server.port
    restarted.start()
    try:
        with restarted.client() as client:
            for instance_id, data in acknowledged.items():
                response = client.get(f"/instances/{instance_id}/file")
                assert response.status_code == 200, instance_id
                assert response.content == data
            listed = client.get("/instances").json()
        assert set(acknowledged) <= set(listed)
        on_disk = _storage_files(tmp_path / "data")
        name = urlparse(database_url).path.lstrip("/")
        with psycopg.connect(postgres.conninfo(), dbname=name) as conn:
            named = {row[0] for row in conn.execute("SELECT uuid FROM files.files")}
            live = {
                row[0]
                for row in conn.execute("SELECT file_uuid FROM hierarchy.resources WHERE level = 3")
            }
        assert named == on_disk, "files without events, or events naming missing files"
        assert live == on_disk
        assert len(listed) == len(on_disk)
    finally:
        restarted.stop()


@pytest.mark.parametrize("signal_kind", ["kill"])
def test_embedded_database_is_adopted_after_a_crash(tmp_path: Path, signal_kind: str) -> None:
    """With no database URL the server owns an embedded PostgreSQL in its data directory."""
    data_dir = tmp_path / "data"
    first = ChronicleProcess(data_dir, "")
    first.start()
    with first.client() as client:
        uploaded = client.post("/instances", content=make_series(1)[0]).json()["ID"]
    first.kill()
    second = ChronicleProcess(data_dir, "")
    second.start()
    try:
        with second.client() as client:
            assert client.get(f"/instances/{uploaded}").status_code == 200
    finally:
        second.stop()
    assert not (data_dir / "pg" / "postmaster.pid").exists(), "embedded server left running"
