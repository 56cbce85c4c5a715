"""POST /instances/{id}/export (Orthanc's RestApiWriteToFileSystemEnabled): off by default;
on, the exact file lands at the path, durable, and the audit trail records it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess


@pytest.fixture
def writing(tmp_path: Path, database_url: str) -> Iterator[ChronicleProcess]:
    config = tmp_path / "orthanc.json"
    config.write_text(json.dumps({"RestApiWriteToFileSystemEnabled": True}))
    process = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_export_is_refused_unless_enabled(server: ChronicleProcess, tmp_path: Path) -> None:
    target = tmp_path / "refused.dcm"
    with server.client() as http:
        instance = http.post("/instances", content=make_instance()).json()["ID"]
        answer = http.post(f"/instances/{instance}/export", content=str(target))
        unknown = http.post("/instances/nope/export", content=str(target))
        assert http.get("/exports/audit").json() == []
    assert (answer.status_code, answer.content, unknown.status_code) == (403, b"", 403)
    assert not target.exists()


def test_export_writes_the_file_and_the_audit_names_it(
    writing: ChronicleProcess, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "exported.dcm"
    target.parent.mkdir()
    data = make_instance("P-EXPORT")
    with writing.client() as http:
        instance = http.post("/instances", content=data).json()["ID"]
        for _ in range(2):  # the second replaces the first
            answer = http.post(f"/instances/{instance}/export", content=str(target))
            assert (answer.status_code, answer.json()) == (200, {})
        assert target.read_bytes() == http.get(f"/instances/{instance}/file").content == data
        assert [p.name for p in target.parent.iterdir()] == ["exported.dcm"]
        for bad in (str(tmp_path / "no" / "such" / "x.dcm"), str(target.parent), ""):
            failed = http.post(f"/instances/{instance}/export", content=bad)
            assert failed.status_code == 500
            assert failed.json()["Message"] == "Cannot write to file"
        assert http.post("/instances/nope/export", content=str(target)).status_code == 404
        assert http.post(f"/series/{instance}/export", content=str(target)).status_code in (
            404,
            405,
        )
        audit = http.get("/exports/audit").json()
        listed = http.get("/exports").json()["Exports"]
    assert [(e["DestinationKind"], e["Destination"], e["ID"]) for e in audit] == [
        ("file", str(target), instance)
    ] * 2
    assert audit[0]["PatientID"] == "P-EXPORT"
    assert listed == []  # Orthanc's /exports does not list writes to the file system
