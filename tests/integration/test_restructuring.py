"""Split and merge through HTTP, beyond what the replay of Orthanc's answers shows
(test_restructuring_compat.py): the job in /jobs when asked to run asynchronously, what
/changes logs, a log that rebuilds to the same archive, and who may call them."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from adapters.database import DatabaseAddress
from tests.support.cli import chronicle
from tests.support.dicom_factory import make_instance
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, upload_accepted
from tests.support.waiting import eventually

ROOT = "1.2.826.0.1.3680043.8.498.77."


@pytest.fixture(scope="module")
def archive(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    url = fresh_database(postgres, f"chronicle_test_restructuring_http_{os.getpid()}")
    with ChronicleProcess(tmp_path_factory.mktemp("restructuring") / "data", url) as server:
        yield server


def _study(client: httpx.Client, name: str, series: int, per_series: int) -> dict[str, Any]:
    """A study of `series` series of `per_series` instances: its ID and its series' IDs."""
    stored: list[dict[str, str]] = []
    for s in range(1, series + 1):
        for n in range(1, per_series + 1):
            data = make_instance(
                name,
                f"{ROOT}{name_number(name)}",
                f"{ROOT}{name_number(name)}.{s}",
                f"{ROOT}{name_number(name)}.{s}.{n}",
                patient_name=f"{name}^Patient",
                instance_number=n,
            )
            stored.append(upload_accepted(client, data))
    series_ids = list(dict.fromkeys(answer["ParentSeries"] for answer in stored))
    return {"ID": stored[0]["ParentStudy"], "Series": series_ids}


def name_number(name: str) -> int:
    return sum(ord(c) * 7**i for i, c in enumerate(name)) % 100000


def _changes_since(
    client: httpx.Client, since: int, history: bool = False
) -> list[tuple[str, str, str]]:
    params: dict[str, Any] = {"since": since, "limit": 1000}
    if history:
        params["history"] = ""
    changes = client.get("/changes", params=params).json()["Changes"]
    return [(c["ChangeType"], c["ResourceType"], c["ID"]) for c in changes]


def _last(client: httpx.Client) -> int:
    return int(client.get("/changes", params={"last": ""}).json()["Last"])


def test_an_asynchronous_split_is_a_job_with_orthanc_content(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        study = _study(client, "ASYNC", 2, 2)
        moved = study["Series"][1]
        answer = client.post(
            f"/studies/{study['ID']}/split", json={"Series": [moved], "Asynchronous": True}
        )
        assert answer.status_code == 200, answer.text
        job_id = answer.json()["ID"]
        assert answer.json() == {"ID": job_id, "Path": f"/jobs/{job_id}"}
        assert eventually(lambda: client.get(f"/jobs/{job_id}").json()["State"] == "Success")
        job = client.get(f"/jobs/{job_id}").json()
        assert job["Type"] == "SplitStudy"
        content = job["Content"]
        assert set(content) == {
            "Description",
            "FailedInstancesCount",
            "InstancesCount",
            "TargetStudy",
            "TargetStudyUID",
        }
        assert (content["InstancesCount"], content["FailedInstancesCount"]) == (2, 0)
        target = client.get(f"/studies/{content['TargetStudy']}").json()
        assert target["MainDicomTags"]["StudyInstanceUID"] == content["TargetStudyUID"]
        assert len(target["Series"]) == 1
        assert client.get(f"/series/{moved}").status_code == 404  # KeepSource is false
        assert len(client.get(f"/studies/{study['ID']}/instances").json()) == 2


def test_a_split_logs_new_and_deleted_resources_and_no_modification(
    archive: ChronicleProcess,
) -> None:
    """The new instances are New… changes like any stored instance; they carry no
    ModifiedFrom (Orthanc records none for a split) and no Modified… change is logged."""
    with archive.client() as client:
        study = _study(client, "CHANGES", 2, 1)
        since = _last(client)
        answer = client.post(f"/studies/{study['ID']}/split", json={"Series": [study["Series"][0]]})
        assert answer.status_code == 200, answer.text
        target = answer.json()["TargetStudy"]
        changes = _changes_since(client, since)
        kinds = [change[0] for change in changes]
        assert kinds.count("NewInstance") == 1
        assert ("NewStudy", "Study", target) in changes
        assert not [kind for kind in kinds if kind.startswith(("Modified", "Anonymized"))]
        assert study["Series"][0] not in {change[2] for change in changes}  # as Orthanc
        history = _changes_since(client, since, history=True)
        deleted = history.index(("Deleted", "Series", study["Series"][0]))
        assert deleted > [change[0] for change in history].index("NewInstance")
        new_instance = client.get(f"/studies/{target}/instances").json()[0]
        metadata = client.get(f"/instances/{new_instance['ID']}/metadata").json()
        assert "ModifiedFrom" not in metadata and "AnonymizedFrom" not in metadata
        assert "ModifiedFrom" not in client.get(f"/studies/{target}").json()


def test_a_merge_gives_the_target_identity_and_a_rebuild_keeps_it(
    archive: ChronicleProcess,
) -> None:
    with archive.client() as client:
        target = _study(client, "TARGET", 1, 1)
        source = _study(client, "SOURCE", 2, 2)
        answer = client.post(f"/studies/{target['ID']}/merge", json={"Resources": [source["ID"]]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["InstancesCount"] == 4
        assert client.get(f"/studies/{source['ID']}").status_code == 404
        merged = client.get(f"/studies/{target['ID']}").json()
        assert len(merged["Series"]) == 3
        instances = client.get(f"/studies/{target['ID']}/instances").json()
        files = [client.get(f"/instances/{i['ID']}/file").content for i in instances]
        datasets = [pydicom.dcmread(io.BytesIO(data)) for data in files]
        assert {str(ds.PatientName) for ds in datasets} == {"TARGET^Patient"}
        assert {ds.PatientID for ds in datasets} == {"TARGET"}
        assert len({ds.SeriesInstanceUID for ds in datasets}) == 3
        assert len({ds.SOPInstanceUID for ds in datasets}) == 5
        assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in datasets)
        before = _archive_state(client)
    rebuilt = archive.rebuild()
    assert rebuilt.returncode == 0, rebuilt.stderr
    with archive.client() as client:
        assert _archive_state(client) == before


def _archive_state(client: httpx.Client) -> dict[str, Any]:
    return {
        "changes": client.get("/changes", params={"limit": 10000}).json(),
        "studies": sorted(client.get("/studies", params={"expand": ""}).json(), key=str),
        "instances": sorted(client.get("/instances").json()),
    }


def test_only_administrators_split_and_merge(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "chronicle.toml"
    config.write_text('authentication_enabled = true\n[registered_users]\nroot = "root-secret"\n')
    server = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    with server, server.client(auth=("root", "root-secret")) as admin:
        study = _study(admin, "ROLES", 2, 1)
        added = chronicle(
            "user",
            "add",
            "reader",
            "--role",
            "user",
            "--database-url",
            database_url,
            password="reader-secret",
        )
        assert added.returncode == 0, added.stderr
        body = {"Series": [study["Series"][0]]}
        with server.client(auth=("reader", "reader-secret")) as reader:
            assert reader.post(f"/studies/{study['ID']}/split", json=body).status_code == 403
            merge = {"Resources": [study["Series"][0]]}
            assert reader.post(f"/studies/{study['ID']}/merge", json=merge).status_code == 403
        assert len(admin.get("/instances").json()) == 2
        assert admin.post(f"/studies/{study['ID']}/split", json=body).status_code == 200
