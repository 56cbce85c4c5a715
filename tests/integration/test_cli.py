"""The `chronicle` command as operators use it: import, rebuild, serve --config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from adapters.cli import PROCESSOR_NAMES, PROJECTION_NAMES
from adapters.embedded_postgres import Postmaster
from adapters.node import PROCESSOR_CLASSES, read_models
from tests.support.cli import chronicle
from tests.support.dicom_factory import make_series
from tests.support.server import ChronicleProcess, free_port


def test_import_reports_stored_duplicates_and_rejections(
    tmp_path: Path, database_url: str, corpus: Path
) -> None:
    folder = tmp_path / "incoming"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(corpus / "SignedCT.dcm", folder / "a.dcm")
    shutil.copy(corpus / "SignedCT.dcm", folder / "nested" / "same-again.dcm")
    shutil.copy(corpus / "MarekLatin2.dcm", folder / "nested" / "b.dcm")
    (folder / "notes.txt").write_text("not a DICOM file")
    shutil.copy(corpus / "Formats" / "SignedCT.png", folder / "picture.png")
    data_dir = tmp_path / "data"

    result = chronicle(
        "import", str(folder), "--data-dir", str(data_dir), "--database-url", database_url
    )

    assert result.returncode == 1, result.stderr
    assert "stored 2, already stored 1, rejected 2" in result.stderr
    assert "notes.txt: Not a DICOM file (it does not start with a DICOM element)" in result.stderr
    assert "picture.png: Not a DICOM file (it does not start with a DICOM element)" in result.stderr
    # Quiet: the progress bar and the summary, no log lines and no warnings.
    assert [line for line in result.stderr.splitlines() if " INFO " in line] == []
    assert "Warning" not in result.stderr
    server = ChronicleProcess(data_dir, database_url)
    server.start()
    try:
        with server.client() as client:
            assert len(client.get("/instances").json()) == 2
            changes = client.get("/changes").json()["Changes"]
            assert [c["ChangeType"] for c in changes].count("NewInstance") == 2
            origins = {
                client.get(f"/instances/{i}/metadata/Origin").text
                for i in client.get("/instances").json()
            }
            assert origins == {"Unknown"}
    finally:
        server.stop()


def test_rebuild_while_serving_keeps_changes_and_browse_identical(
    tmp_path: Path, database_url: str
) -> None:
    server = ChronicleProcess(tmp_path / "data", database_url)
    server.start()
    try:
        with server.client() as client:
            files = make_series(6, patient_id="REBUILD")
            ids = [client.post("/instances", content=data).json()["ID"] for data in files]
            client.delete(f"/instances/{ids[0]}")
            client.delete("/changes")
            client.post("/instances", content=files[0])
            before = _snapshot(client)

            result = chronicle(
                "rebuild", "--data-dir", str(tmp_path / "data"), "--database-url", database_url
            )
            assert result.returncode == 0, result.stderr
            assert (
                "rebuilt hierarchy, changes, files, configuration, jobs, exports, "
                "storage_commitment: replayed" in result.stderr
            )

            after = _snapshot(client)
            assert after == before
            new = client.post("/instances", content=make_series(1, patient_id="AFTER")[0])
            assert new.status_code == 200
            latest = client.get("/changes", params={"since": before["changes"]["Last"]}).json()
            assert [c["ChangeType"] for c in latest["Changes"]][:1] == ["NewInstance"]
    finally:
        server.stop()


def _snapshot(client: httpx.Client) -> dict:
    return {
        "changes": client.get("/changes", params={"limit": 1000}).json(),
        "patients": client.get("/patients", params={"expand": ""}).json(),
        "instances": client.get("/instances", params={"expand": ""}).json(),
        "statistics": client.get("/statistics").json(),
    }


def test_rebuild_rejects_unknown_projection(tmp_path: Path, database_url: str) -> None:
    result = chronicle(
        "rebuild", "nope", "--data-dir", str(tmp_path), "--database-url", database_url
    )
    assert result.returncode == 2
    assert "unknown projection(s): nope" in result.stderr


def test_rebuild_refuses_processors(tmp_path: Path, database_url: str) -> None:
    result = chronicle(
        "rebuild",
        "hierarchy",
        "file-reaper",
        "--data-dir",
        str(tmp_path),
        "--database-url",
        database_url,
    )
    assert result.returncode == 2
    assert "file-reaper: processors perform side effects" in result.stderr


def test_the_command_knows_the_nodes_read_models_and_processors() -> None:
    assert list(PROJECTION_NAMES) == [model.name for model in read_models()]
    assert list(PROCESSOR_NAMES) == [processor.name for processor in PROCESSOR_CLASSES]


def test_status_and_tools_projections_list_every_consumer(
    tmp_path: Path, database_url: str
) -> None:
    server = ChronicleProcess(tmp_path / "data", database_url)
    server.start()
    try:
        with server.client() as client:
            for data in make_series(3):
                assert client.post("/instances", content=data).status_code == 200
            listed = client.get("/tools/projections")
        assert listed.status_code == 200
        consumers = {item["Name"]: item for item in listed.json()}
        assert list(consumers) == [*PROJECTION_NAMES, *PROCESSOR_NAMES]
        assert {consumers[name]["Kind"] for name in PROJECTION_NAMES} == {"projection"}
        assert {consumers[name]["Kind"] for name in PROCESSOR_NAMES} == {"processor"}
        for name in ("hierarchy", "changes"):  # what the uploads waited for
            assert consumers[name]["Head"] >= 3 and consumers[name]["Lag"] == 0, name
            assert consumers[name]["State"] == "running" and consumers[name]["LastError"] is None

        status = chronicle(
            "status", "--data-dir", str(server.data_dir), "--database-url", database_url
        )
        assert status.returncode == 0, status.stderr
        for name in (*PROJECTION_NAMES, *PROCESSOR_NAMES):
            assert name in status.stdout
    finally:
        server.stop()


def test_serve_reads_an_orthanc_configuration_file(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    config = tmp_path / "orthanc.json"
    config.write_text(
        "{\n  // Orthanc's own comments are allowed\n"
        f'  "Name" : "FromOrthancJson", "HttpPort" : {port}, "DicomAet" : "MYAET",\n'
        f'  "StorageDirectory" : "{tmp_path / "orthanc-storage"}",\n'
        '  /* a block comment */ "StableAge" : 5,\n'
        '  "HttpThreadsCount" : 50\n}\n'
    )
    server = ChronicleProcess(tmp_path / "unused", database_url, "--config", str(config))
    server.port = port
    server.start()
    try:
        system = httpx.get(f"http://127.0.0.1:{port}/system").json()
        assert system["Name"] == "FromOrthancJson"
        assert system["DicomAet"] == "MYAET"
        assert system["HttpPort"] == port
        assert "Orthanc options not implemented yet: HttpThreadsCount" in server.log()
    finally:
        server.stop()


def test_serve_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    result = chronicle("serve", "--data-dir", str(tmp_path), "--http-host", "0.0.0.0")
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr


def test_toml_configuration_and_environment(tmp_path: Path) -> None:
    from adapters.config import load_settings

    config = tmp_path / "chronicle.toml"
    config.write_text('http_port = 9000\nstable_age = 2.5\ndicom_aet = "TOML"\n')
    settings = load_settings(config, environ={"CHRONICLE_HTTP_PORT": "9100"})
    assert (settings.http_port, settings.stable_age, settings.dicom_aet) == (9100, 2.5, "TOML")
    assert json.dumps(str(settings.data_dir)) == '"chronicle-data"'


def test_orthanc_lua_options(tmp_path: Path) -> None:
    from adapters.config import ConfigError, load_settings, orthanc_configuration

    script = tmp_path / "route.lua"
    script.write_text("function OnStoredInstance() end\n")
    config = tmp_path / "orthanc.json"
    options = {
        "ExecuteLuaEnabled": True,
        "LuaScripts": [str(script)],
        "LuaHeartBeatPeriod": 5,
        "RegisteredUsers": {"alice": "secret"},
    }
    config.write_text(json.dumps(options))
    settings = load_settings(config, environ={})
    assert (settings.execute_lua_enabled, settings.lua_scripts) == (True, [str(script)])
    assert settings.lua_heart_beat_period == 5
    seen_by_lua = orthanc_configuration(settings)
    assert seen_by_lua["LuaScripts"] == [str(script)] and seen_by_lua["ExecuteLuaEnabled"]
    assert "RegisteredUsers" not in seen_by_lua  # Lua never sees a password
    config.write_text(json.dumps({"LuaScripts": [str(tmp_path / "missing.lua")]}))
    with pytest.raises(ConfigError, match="LuaScripts: no such file"):
        load_settings(config, environ={})


def test_import_on_the_embedded_database_says_one_line_of_it(tmp_path: Path, corpus: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    shutil.copy(corpus / "MarekLatin2.dcm", folder / "a.dcm")
    shutil.copy(corpus / "Formats" / "SignedCT.png", folder / "picture.png")
    data_dir = tmp_path / "data"

    result = chronicle("import", str(folder), "--data-dir", str(data_dir))

    assert result.returncode == 1, result.stderr
    log_lines = [line for line in result.stderr.splitlines() if " INFO " in line]
    assert len(log_lines) == 1, result.stderr
    assert (
        "embedded PostgreSQL started" in log_lines[0] and str(data_dir / "pg.log") in log_lines[0]
    )
    assert "initdb" not in result.stderr and "Warning" not in result.stderr
    assert "stored 1, already stored 0, rejected 1" in result.stderr
    postmaster = Postmaster.read(data_dir / "pg")
    assert postmaster is None or not postmaster.is_running()
