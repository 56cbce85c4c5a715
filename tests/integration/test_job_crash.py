"""SIGKILL while a modification job and an archive job run: after the restart each job is
failed (resubmittable) or finished, no file is left without its event nor an event without
its file, and a resubmitted anonymization finishes its study whole, without a second copy of
what the killed run stored."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg

from adapters.database import DatabaseAddress
from tests.support.dicom_factory import make_series
from tests.support.server import ChronicleProcess, upload_accepted
from tests.support.waiting import eventually

COUNT = 300


def _storage_files(data_dir: Path) -> set[str]:
    storage = data_dir / "storage"
    return {p.name for p in storage.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*")}


def _consistent(data_dir: Path, database_url: str, postgres: DatabaseAddress) -> None:
    """Every stored file is named by an event and held by a live instance, and back."""
    on_disk = _storage_files(data_dir)
    name = urlparse(database_url).path.lstrip("/")
    with psycopg.connect(postgres.conninfo(), dbname=name) as conn:
        named = {row[0] for row in conn.execute("SELECT uuid FROM files.files")}
        live = {
            row[0]
            for row in conn.execute("SELECT file_uuid FROM hierarchy.resources WHERE level = 3")
        }
    assert named == on_disk, "files without events, or events naming missing files"
    assert live == on_disk


def _caught_up(client: httpx.Client) -> bool:
    """The files read model and the reaper follow the log behind the job's state: compare the
    storage area with them only once they have read the whole log."""
    statuses = client.get("/tools/projections").json()
    return all(s["Lag"] == 0 for s in statuses if s["Name"] in ("files", "file-reaper"))


def _state(client: httpx.Client, job_id: str) -> str:
    return str(client.get(f"/jobs/{job_id}").json()["State"])


def test_jobs_killed_midway_leave_nothing_dangling(
    tmp_path: Path, database_url: str, postgres: DatabaseAddress
) -> None:
    server = ChronicleProcess(tmp_path / "data", database_url)
    server.start()
    with server.client() as client:
        files = make_series(COUNT, "KILLED")
        study = upload_accepted(client, files[0])["ParentStudy"]
        for data in files[1:]:
            upload_accepted(client, data)
        archive = client.post(f"/studies/{study}/archive", json={"Asynchronous": True}).json()
        job = client.post(f"/studies/{study}/anonymize", json={"Asynchronous": True}).json()
        assert eventually(lambda: len(client.get("/instances").json()) > COUNT + 10)
    server.kill()

    restarted = ChronicleProcess(tmp_path / "data", database_url)
    restarted.port = server.port
    restarted.start()
    try:
        with restarted.client() as client:
            for job_id in (archive["ID"], job["ID"]):
                assert eventually(lambda j=job_id: _state(client, j) in ("Failure", "Success"))
            _consistent(tmp_path / "data", database_url, postgres)
            if _state(client, job["ID"]) == "Failure":
                details = client.get(f"/jobs/{job['ID']}").json()["ErrorDetails"]
                assert "resubmit" in details
                assert client.post(f"/jobs/{job['ID']}/resubmit", json={}).status_code == 200
                assert eventually(lambda: _state(client, job["ID"]) == "Success", 300)
            new_study = client.get(f"/jobs/{job['ID']}").json()["Content"]["ID"]
            assert len(client.get(f"/studies/{new_study}/instances").json()) == COUNT
            assert len(client.get("/studies").json()) == 2
            assert len(client.get("/instances").json()) == 2 * COUNT
            assert eventually(lambda: _caught_up(client))
            _consistent(tmp_path / "data", database_url, postgres)
    finally:
        restarted.stop()
