"""Metadata, attachments, labels and protection over HTTP: what goes with a deleted resource,
what /changes and /tools/find see, and the inputs that are refused without leaving anything."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess
from tests.support.waiting import eventually


def _upload(client: httpx.Client, data: bytes) -> dict[str, str]:
    answer = client.post("/instances", content=data)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _files(server: ChronicleProcess) -> set[Path]:
    storage = server.data_dir / "storage"
    return {path for path in storage.rglob("*") if path.is_file() and not path.name.startswith(".")}


def test_a_deleted_resource_takes_its_annotations_and_files(server: ChronicleProcess) -> None:
    data = make_instance("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5")
    with server.client() as client:
        study = _upload(client, data)["ParentStudy"]
        before = _files(server)
        assert client.put(f"/studies/{study}/metadata/1024", content=b"kept?").status_code == 200
        assert client.put(f"/studies/{study}/labels/urgent").status_code == 200
        assert client.put(f"/studies/{study}/attachments/1024", content=b"notes").status_code == 200
        attachment = _files(server) - before
        assert len(attachment) == 1
        assert client.get(f"/studies/{study}").json()["Labels"] == ["urgent"]
        assert client.delete(f"/studies/{study}").status_code == 200
        assert eventually(lambda: not _files(server))  # the DICOM file and the attachment
        _upload(client, data)  # the same study again: a new resource with nothing said of it
        assert client.get(f"/studies/{study}/metadata").json() == ["LastUpdate"]
        assert client.get(f"/studies/{study}/labels").json() == []
        assert client.get(f"/studies/{study}/attachments").json() == []
        assert client.get("/tools/labels").json() == []


def test_writes_show_in_changes_and_find(server: ChronicleProcess) -> None:
    with server.client() as client:
        first = _upload(client, make_instance("P1", "1.2.1", "1.2.1.1", "1.2.1.1.1"))
        second = _upload(client, make_instance("P2", "1.2.2", "1.2.2.1", "1.2.2.1.1"))
        last = client.get("/changes", params={"last": ""}).json()["Last"]
        client.put(f"/studies/{second['ParentStudy']}/metadata/1024", content=b"a")
        client.put(f"/studies/{first['ParentStudy']}/metadata/1024", content=b"b")
        client.put(f"/series/{first['ParentSeries']}/attachments/1030", content=b"x")
        client.put(f"/studies/{first['ParentStudy']}/labels/done")
        changes = client.get("/changes", params={"since": last}).json()["Changes"]
        assert [(c["ChangeType"], c["ResourceType"]) for c in changes] == [
            ("UpdatedMetadata", "Study"),
            ("UpdatedMetadata", "Study"),
            ("UpdatedAttachment", "Series"),
        ]
        order = {"Level": "Study", "Query": {}, "OrderBy": []}
        order["OrderBy"] = [{"Type": "Metadata", "Key": "1024", "Direction": "ASC"}]
        by_metadata = client.post("/tools/find", json=order).json()
        assert by_metadata == [second["ParentStudy"], first["ParentStudy"]]
        labelled = {"Level": "Study", "Query": {}, "Labels": ["done"]}
        assert client.post("/tools/find", json=labelled).json() == [first["ParentStudy"]]
        labelled["LabelsConstraint"] = "None"
        assert client.post("/tools/find", json=labelled).json() == [second["ParentStudy"]]
        assert client.post("/tools/count-resources", json=labelled).json() == {"Count": 1}
        chosen = {"Level": "Study", "Query": {}, "Labels": ["done"]}
        chosen["ResponseContent"] = ["MainDicomTags", "Labels"]
        [answer] = client.post("/tools/find", json=chosen).json()
        assert set(answer) == {"ID", "Type", "MainDicomTags", "PatientMainDicomTags", "Labels"}
        assert answer["Labels"] == ["done"]
        chosen["ResponseContent"] = ["Metadata"]
        assert client.post("/tools/find", json=chosen).status_code == 501


def test_refused_writes_leave_nothing(server: ChronicleProcess) -> None:
    with server.client() as client:
        patient = _upload(client, make_instance("P1"))["ParentPatient"]
        last = client.get("/changes", params={"last": ""}).json()["Last"]
        files = _files(server)
        refused = [
            client.put(f"/patients/{patient}/labels/{'x' * 65}"),
            client.put(f"/patients/{patient}/labels/not%20valid"),
            client.put(f"/patients/{patient}/metadata/ReceptionDate", content=b"x"),
            client.put(f"/patients/{patient}/metadata/NoSuch", content=b"x"),
            client.put(f"/patients/{patient}/metadata/1024", content=b"a\x00b"),
            client.put(f"/patients/{patient}/attachments/dicom", content=b"x"),
            client.put(f"/patients/{patient}/protected", content=b"yes"),
            client.put(
                f"/patients/{patient}/metadata/1024", content=b"x", headers={"If-Match": "1"}
            ),
            client.delete(f"/patients/{patient}/metadata/1024"),
        ]
        assert [answer.status_code for answer in refused] == [
            400,
            400,
            403,
            404,
            400,
            403,
            400,
            400,
            404,
        ]
        assert client.get("/changes", params={"since": last}).json()["Changes"] == []
        assert client.get("/tools/labels").json() == []
        assert _files(server) == files
        assert client.put(f"/patients/{patient}/protected", content=b"1").status_code == 200
        assert client.get(f"/patients/{patient}/protected").text == "1"


def test_if_match_guards_concurrent_writers(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "orthanc.json"
    config.write_text('{"CheckRevisions": true}')
    server = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    server.start()
    try:
        with server.client() as client:
            study = _upload(client, make_instance("P1"))["ParentStudy"]
            url = f"/studies/{study}/metadata/1024"
            created = client.put(url, content=b"v1").headers["ETag"]
            assert client.put(url, content=b"v2").status_code == 409  # no If-Match: refused
            second = client.put(url, content=b"v2", headers={"If-Match": created})
            assert second.status_code == 200
            stale = client.put(url, content=b"v3", headers={"If-Match": created})
            assert stale.status_code == 409
            assert client.get(url).text == "v2"
            assert (
                client.get(url, headers={"If-None-Match": second.headers["ETag"]}).status_code
                == 304
            )
            assert client.delete(url).status_code == 409  # If-Match missing
            deleted = client.delete(url, headers={"If-Match": second.headers["ETag"]})
            assert deleted.status_code == 200
    finally:
        server.stop()
