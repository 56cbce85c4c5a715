"""Metadata, attachments, labels and protection over HTTP: what goes with a deleted resource,
what /changes and /tools/find see, and the inputs that are refused without leaving anything."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess, upload_accepted
from tests.support.waiting import eventually


def test_a_deleted_resource_takes_its_annotations_and_files(server: ChronicleProcess) -> None:
    data = make_instance("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5")
    with server.client() as client:
        study = upload_accepted(client, data)["ParentStudy"]
        before = server.stored_files()
        assert client.put(f"/studies/{study}/metadata/1024", content=b"kept?").status_code == 200
        assert client.put(f"/studies/{study}/labels/urgent").status_code == 200
        assert client.put(f"/studies/{study}/attachments/1024", content=b"notes").status_code == 200
        attachment = server.stored_files() - before
        assert len(attachment) == 1
        assert client.get(f"/studies/{study}").json()["Labels"] == ["urgent"]
        assert client.delete(f"/studies/{study}").status_code == 200
        assert eventually(lambda: not server.stored_files())  # the DICOM file and the attachment
        upload_accepted(client, data)  # the same study again: a new resource, nothing said of it
        assert client.get(f"/studies/{study}/metadata").json() == ["LastUpdate"]
        assert client.get(f"/studies/{study}/labels").json() == []
        assert client.get(f"/studies/{study}/attachments").json() == []
        assert client.get("/tools/labels").json() == []


def test_writes_show_in_changes_and_find(server: ChronicleProcess) -> None:
    with server.client() as client:
        first = upload_accepted(client, make_instance("P1", "1.2.1", "1.2.1.1", "1.2.1.1.1"))
        second = upload_accepted(client, make_instance("P2", "1.2.2", "1.2.2.1", "1.2.2.1.1"))
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
        [answer] = client.post("/tools/find", json=chosen).json()
        study_metadata = client.get(f"/studies/{first['ParentStudy']}/metadata?expand").json()
        assert answer == {"ID": first["ParentStudy"], "Type": "Study", "Metadata": study_metadata}
        assert study_metadata["1024"] == "b"
        client.put(f"/patients/{first['ParentPatient']}/protected", content=b"1")
        patients = {"Level": "Patient", "Query": {}, "ResponseContent": ["IsProtected"]}
        answers = client.post("/tools/find", json=patients).json()
        assert {a["ID"]: a["IsProtected"] for a in answers} == {
            first["ParentPatient"]: True,
            second["ParentPatient"]: False,
        }
        series = {"Level": "Series", "Query": {}, "ResponseContent": ["Attachments"]}
        by_id = {a["ID"]: a for a in client.post("/tools/find", json=series).json()}
        info = client.get(f"/series/{first['ParentSeries']}/attachments/1030/info").json()
        assert by_id[first["ParentSeries"]]["Attachments"] == [info]
        assert by_id[second["ParentSeries"]]["Attachments"] == []
        instances = {"Level": "Instance", "Query": {}, "ResponseContent": ["Attachments"]}
        [dicom] = client.post("/tools/find", json=instances).json()[0]["Attachments"]
        assert dicom["ContentType"] == 1 and dicom["UncompressedSize"] > 0


def test_refused_writes_leave_nothing(server: ChronicleProcess) -> None:
    with server.client() as client:
        patient = upload_accepted(client, make_instance("P1"))["ParentPatient"]
        last = client.get("/changes", params={"last": ""}).json()["Last"]
        files = server.stored_files()
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
        assert server.stored_files() == files
        assert client.put(f"/patients/{patient}/protected", content=b"1").status_code == 200
        assert client.get(f"/patients/{patient}/protected").text == "1"


def test_if_match_guards_concurrent_writers(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "orthanc.json"
    config.write_text('{"CheckRevisions": true}')
    server = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    server.start()
    try:
        with server.client() as client:
            study = upload_accepted(client, make_instance("P1"))["ParentStudy"]
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


def test_compress_and_uncompress_as_orthanc(server: ChronicleProcess) -> None:
    """Orthanc 1.10.1's answers (tests/fixtures/orthanc/annotations_cases.json): a compressed
    file reads back the same through data and /file, its stored bytes through compressed-data;
    a user attachment's compression is logged as UpdatedAttachment, the DICOM file's is not,
    nor a compression that changes nothing; the replaced files are removed."""
    data = make_instance("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5")
    notes = b"Some notes about this resource.\n" * 20
    with server.client() as client:
        instance = upload_accepted(client, data)["ID"]
        base = f"/instances/{instance}/attachments"
        assert client.put(f"{base}/1024", content=notes).status_code == 200
        last = client.get("/changes", params={"last": ""}).json()["Last"]
        files = server.stored_files()
        for name, expected in ((1024, notes), ("dicom", data)):
            assert client.post(f"{base}/{name}/compress").json() == {}
            assert client.post(f"{base}/{name}/compress").json() == {}  # already: nothing
            assert client.get(f"{base}/{name}/is-compressed").text == "1"
            info = client.get(f"{base}/{name}/info").json()
            stored = client.get(f"{base}/{name}/compressed-data").content
            assert int.from_bytes(stored[:8], "little") == len(expected)
            assert info["UncompressedSize"] == len(expected)
            assert info["CompressedSize"] == len(stored) < len(expected)
            assert info["CompressedMD5"] == hashlib.md5(stored).hexdigest()
            assert info["UncompressedMD5"] == hashlib.md5(expected).hexdigest()
            assert client.get(f"{base}/{name}/compressed-size").text == str(len(stored))
            assert client.get(f"{base}/{name}/size").text == str(len(expected))
            assert client.get(f"{base}/{name}/data").content == expected
            assert client.post(f"{base}/{name}/verify-md5").json() == {}
        assert client.get(f"/instances/{instance}/file").content == data
        assert client.get(f"/instances/{instance}/tags?simplify").json()["PatientID"] == "P1"
        changes = client.get("/changes", params={"since": last}).json()["Changes"]
        assert [(c["ChangeType"], c["ResourceType"]) for c in changes] == [
            ("UpdatedAttachment", "Instance")
        ]
        assert eventually(lambda: not (server.stored_files() & files))  # both files were replaced
        for name in (1024, "dicom"):
            assert client.post(f"{base}/{name}/uncompress").json() == {}
            assert client.get(f"{base}/{name}/is-compressed").text == "0"
            info = client.get(f"{base}/{name}/info").json()
            assert info["CompressedSize"] == info["UncompressedSize"]
            assert info["CompressedMD5"] == info["UncompressedMD5"]
        assert client.get(f"{base}/1024/compressed-data").content == notes
        assert client.get(f"/instances/{instance}/file").content == data
        changes = client.get("/changes", params={"since": last}).json()["Changes"]
        assert [c["ChangeType"] for c in changes] == ["UpdatedAttachment"] * 2
        assert client.post(f"{base}/1025/compress").status_code == 404
        assert client.get(f"{base}/1024/compress").status_code == 405
        assert eventually(lambda: len(server.stored_files()) == 2)
