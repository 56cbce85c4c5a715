"""GET /changes after deletes, as Orthanc 1.10.1 answered the same sequence (checked against a
real Orthanc on this machine): a deleted resource's changes leave the log, a re-stored one gets
new changes, `Last` never goes back. `?history` and `changes_full_history` keep everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess

A = make_instance("P1", "1.2.3", "1.2.3.4", "1.2.3.4.1", instance_number=1)
B = make_instance("P1", "1.2.3", "1.2.3.4", "1.2.3.4.2", instance_number=2)
D = make_instance("P2", "1.2.5", "1.2.5.4", "1.2.5.4.1", instance_number=1)


def keys(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(change["ChangeType"], change["ID"]) for change in body["Changes"]]


def stored(client: httpx.Client, data: bytes) -> dict[str, Any]:
    answer = client.post("/instances", content=data)
    assert answer.status_code == 200, answer.text
    return answer.json()


def new_changes(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("NewInstance", answer["ID"]),
        ("NewSeries", answer["ParentSeries"]),
        ("NewStudy", answer["ParentStudy"]),
        ("NewPatient", answer["ParentPatient"]),
    ]


def test_deleted_resources_leave_changes_as_in_orthanc(server: ChronicleProcess) -> None:
    with server.client() as client:
        a, b, d = stored(client, A), stored(client, B), stored(client, D)
        uploads = [*new_changes(a), ("NewInstance", b["ID"]), *new_changes(d)]
        assert keys(client.get("/changes").json()) == uploads

        assert client.delete(f"/instances/{a['ID']}").status_code == 200
        assert keys(client.get("/changes").json()) == uploads[1:]

        assert client.delete(f"/patients/{a['ParentPatient']}").status_code == 200
        after = client.get("/changes").json()
        assert keys(after) == new_changes(d) and after["Done"] is True
        newest = client.get("/changes", params={"last": ""}).json()
        assert keys(newest) == [("NewPatient", d["ParentPatient"])]
        assert newest["Last"] == after["Changes"][-1]["Seq"]

        again = stored(client, A)
        assert keys(client.get("/changes").json()) == [*new_changes(d), *new_changes(again)]

        last_seen = client.get("/changes").json()["Last"]
        for patient in (a["ParentPatient"], d["ParentPatient"]):
            assert client.delete(f"/patients/{patient}").status_code == 200
        for query in ({}, {"last": ""}, {"since": "0", "limit": "100"}):
            empty = client.get("/changes", params=query).json()
            assert empty["Changes"] == [] and empty["Done"] is True, query
            assert empty["Last"] >= last_seen, query  # a poller's cursor stays valid

        history = client.get("/changes", params={"history": "", "limit": "1000"}).json()
        kinds = [change["ChangeType"] for change in history["Changes"]]
        assert kinds.count("NewInstance") == 4 and kinds.count("Deleted") == 1 + 4 + 4 + 4
        seqs = [change["Seq"] for change in history["Changes"]]
        assert seqs == sorted(seqs) and history["Last"] == seqs[-1]
        assert set(uploads) <= set(keys(history))


def test_full_history_by_configuration(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "chronicle.toml"
    config.write_text("changes_full_history = true\n")
    server = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    server.start()
    try:
        with server.client() as client:
            a = stored(client, A)
            assert client.delete(f"/instances/{a['ID']}").status_code == 200
            changes = keys(client.get("/changes").json())
        assert changes[: len(new_changes(a))] == new_changes(a)
        assert ("Deleted", a["ID"]) in changes and ("Deleted", a["ParentPatient"]) in changes
    finally:
        server.stop()
