"""Store jobs to a real DICOM modality, the jobs API, and the exports log with its audit trail."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest

from tests.support.dicom_factory import make_series
from tests.support.server import ChronicleProcess, free_port
from tests.support.storage_scp import StorageSCP


@pytest.fixture
def destination() -> Iterator[StorageSCP]:
    scp = StorageSCP("DEST").start()
    try:
        yield scp
    finally:
        scp.stop()


@pytest.fixture
def refusing() -> Iterator[StorageSCP]:
    scp = StorageSCP("REFUSE", status=0xA700).start()
    try:
        yield scp
    finally:
        scp.stop()


@pytest.fixture
def vanishing() -> Iterator[StorageSCP]:
    scp = StorageSCP("VANISH", abort_after=1).start()
    try:
        yield scp
    finally:
        scp.stop()


@pytest.fixture
def archive(
    tmp_path: Path,
    database_url: str,
    destination: StorageSCP,
    refusing: StorageSCP,
    vanishing: StorageSCP,
) -> Iterator[httpx.Client]:
    config = tmp_path / "orthanc.json"
    config.write_text(
        json.dumps(
            {
                "DicomModalities": {
                    "dest": destination.modality(),
                    "closed": ["CLOSED", "127.0.0.1", free_port()],
                    "refusing": refusing.modality(),
                    "vanishing": vanishing.modality(),
                }
            }
        )
    )
    server = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    server.start()
    try:
        with server.client() as client:
            yield client
    finally:
        server.stop()


def upload_study(client: httpx.Client, count: int = 3) -> tuple[str, list[str]]:
    answers = [client.post("/instances", content=f).json() for f in make_series(count, "EXP1")]
    return answers[0]["ParentStudy"], [a["ID"] for a in answers]


def sop_uid(client: httpx.Client, instance_id: str) -> str:
    return client.get(f"/instances/{instance_id}/simplified-tags").json()["SOPInstanceUID"]


def test_synchronous_store_sends_every_instance_and_logs_each_export(
    archive: httpx.Client, destination: StorageSCP
) -> None:
    study, instances = upload_study(archive)
    answer = archive.post("/modalities/dest/store", content=study)
    assert answer.status_code == 200, answer.text
    content = answer.json()
    assert content["InstancesCount"] == 3 and content["FailedInstancesCount"] == 0
    assert content["RemoteAet"] == "DEST" and content["ParentResources"] == [study]
    expected = {sop_uid(archive, i) for i in instances}
    assert set(destination.received) == expected
    for uid, data in destination.received.items():
        assert pydicom.dcmread(io.BytesIO(data), force=True).SOPInstanceUID == uid

    exports = archive.get("/exports").json()
    (entry,) = exports["Exports"]  # Orthanc logs the study the call named, not its instances
    tags = archive.get(f"/instances/{instances[0]}/simplified-tags").json()
    assert set(entry) == {
        "Date", "ID", "Path", "PatientID", "RemoteModality", "ResourceType", "Seq",
        "StudyInstanceUID",
    }  # fmt: skip
    assert entry["ID"] == study and entry["Path"] == f"/studies/{study}"
    assert entry["ResourceType"] == "Study" and entry["RemoteModality"] == "dest"
    assert entry["PatientID"] == "EXP1"
    assert entry["StudyInstanceUID"] == tags["StudyInstanceUID"]
    assert exports["Done"] is True and exports["Last"] == entry["Seq"]
    audit = archive.get("/exports/audit").json()
    assert [(row["ID"], row["Status"]) for row in audit] == [(i, "Success") for i in instances]
    jobs = archive.get("/jobs", params={"expand": ""}).json()
    assert [(j["Type"], j["State"], j["Progress"]) for j in jobs] == [
        ("DicomModalityStore", "Success", 100)
    ]


def test_asynchronous_store_runs_as_a_job(archive: httpx.Client, destination: StorageSCP) -> None:
    _, instances = upload_study(archive, 2)
    body = {"Resources": instances, "Asynchronous": True, "Priority": 3}
    answer = archive.post("/modalities/dest/store", json=body).json()
    assert answer["Path"] == f"/jobs/{answer['ID']}"
    job = wait_for_job(archive, answer["ID"])
    assert job["State"] == "Success" and job["Priority"] == 3
    assert job["Content"]["InstancesCount"] == 2
    assert len(destination.received) == 2
    cancel = archive.post(f"/jobs/{answer['ID']}/cancel")
    assert cancel.status_code == 400 and cancel.json()["OrthancStatus"] == 6


def test_refusing_destination_fails_the_job_and_logs_the_failures(archive: httpx.Client) -> None:
    study, instances = upload_study(archive, 2)
    answer = archive.post("/modalities/closed/store", content=study)
    assert answer.status_code == 500
    assert answer.json()["OrthancError"] == "Error in the network protocol"
    (entry,) = archive.get("/exports").json()["Exports"]  # logged when requested, as Orthanc
    assert entry["ID"] == study
    audit = archive.get("/exports/audit").json()
    assert [(e["ID"], e["Status"]) for e in audit] == [(i, "Failure") for i in instances]
    assert all(e["Error"] for e in audit)
    (job,) = archive.get("/jobs", params={"expand": ""}).json()
    assert job["State"] == "Failure" and job["ErrorCode"] == 9 and job["ErrorDetails"]
    resubmitted = archive.post(f"/jobs/{job['ID']}/resubmit")
    assert resubmitted.status_code == 200
    assert wait_for_job(archive, job["ID"])["State"] == "Failure"


def test_a_destination_refusing_each_instance_fails_the_job_with_its_status(
    archive: httpx.Client, refusing: StorageSCP
) -> None:
    study, instances = upload_study(archive, 2)
    answer = archive.post("/modalities/refusing/store", content=study)
    assert answer.status_code == 500
    assert answer.json()["Details"] == "2 of 2 instances failed"
    audit = archive.get("/exports/audit").json()
    assert [(e["ID"], e["Status"]) for e in audit] == [(i, "Failure") for i in instances]
    assert all("a700" in e["Error"].lower() for e in audit), audit
    assert refusing.received == {}


def test_a_destination_closing_mid_transfer_claims_no_partial_success(
    archive: httpx.Client, vanishing: StorageSCP
) -> None:
    study, instances = upload_study(archive, 3)
    answer = archive.post("/modalities/vanishing/store", content=study)
    assert answer.status_code == 500
    statuses = {e["ID"]: e["Status"] for e in archive.get("/exports/audit").json()}
    assert set(statuses) == set(instances)
    delivered = {i for i, status in statuses.items() if status == "Success"}
    assert len(delivered) == len(vanishing.received) == 1
    (job,) = archive.get("/jobs", params={"expand": ""}).json()
    assert job["State"] == "Failure" and job["ErrorDetails"] == "2 of 3 instances failed"


def test_bad_store_requests_change_nothing(archive: httpx.Client) -> None:
    study, _ = upload_study(archive, 1)
    unknown_modality = archive.post("/modalities/nope/store", content=study)
    assert unknown_modality.status_code == 404
    unknown_resource = archive.post("/modalities/dest/store", json=["0" * 8 + "-" * 0])
    assert unknown_resource.status_code == 404
    assert archive.get("/jobs").json() == []
    assert archive.get("/exports").json() == {"Done": True, "Exports": [], "Last": 0}
    assert archive.get("/exports/audit").json() == []
    assert archive.get("/jobs/not-a-job").status_code == 404


def test_clearing_exports_hides_them_but_the_audit_keeps_everything(
    archive: httpx.Client,
) -> None:
    study, instances = upload_study(archive, 2)
    assert archive.post("/modalities/dest/store", content=study).status_code == 200
    cleared = archive.delete("/exports")
    assert cleared.status_code == 200 and cleared.text == ""
    assert archive.get("/exports").json() == {"Done": True, "Exports": [], "Last": 0}

    audit = archive.get("/exports/audit", params={"destination": "dest"}).json()
    assert [row["ID"] for row in audit] == instances
    assert {row["Channel"] for row in audit} == {"REST"}
    today = time.strftime("%Y%m%d", time.gmtime())
    by_patient = archive.get("/exports/audit", params={"patient": "EXP1", "start": today})
    assert len(by_patient.json()) == 2
    assert archive.get("/exports/audit", params={"destination": "other"}).json() == []
    download = archive.get("/exports/audit", params={"format": "csv", "study": study})
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [row["ID"] for row in rows] == instances
    assert {row["Status"] for row in rows} == {"Success"}
    assert archive.get("/exports/audit", params={"start": "yesterday"}).status_code == 400


def test_exports_log_each_named_resource_at_its_level_and_keep_numbering_after_a_clear(
    archive: httpx.Client,
) -> None:
    study, instances = upload_study(archive, 2)
    tags = archive.get(f"/instances/{instances[0]}/simplified-tags").json()
    series = archive.get(f"/instances/{instances[0]}").json()["ParentSeries"]
    patient = archive.get(f"/studies/{study}").json()["ParentPatient"]
    before = archive.post("/modalities/dest/store", content=study).status_code
    assert before == 200 and archive.delete("/exports").status_code == 200
    first_seq = archive.get("/exports/audit").json()[-1]["Seq"]

    named = [instances[1], series, patient]
    assert archive.post("/modalities/dest/store", json=named).status_code == 200
    exports = archive.get("/exports").json()
    entries = exports["Exports"]
    assert [(e["ResourceType"], e["ID"], e["Path"]) for e in entries] == [
        ("Instance", instances[1], f"/instances/{instances[1]}"),
        ("Series", series, f"/series/{series}"),
        ("Patient", patient, f"/patients/{patient}"),
    ]
    lineage = {
        "PatientID": "EXP1",
        "StudyInstanceUID": tags["StudyInstanceUID"],
        "SeriesInstanceUID": tags["SeriesInstanceUID"],
    }
    sop = archive.get(f"/instances/{instances[1]}/simplified-tags").json()["SOPInstanceUID"]
    assert {k: entries[0][k] for k in (*lineage, "SOPInstanceUID")} == {
        **lineage,
        "SOPInstanceUID": sop,
    }
    assert {k: entries[1].get(k) for k in lineage} == lineage and "SOPInstanceUID" not in entries[1]
    assert set(entries[2]) & set(lineage) == {"PatientID"} and entries[2]["PatientID"] == "EXP1"
    seqs = [e["Seq"] for e in entries]
    assert seqs == sorted(seqs) and seqs[0] > first_seq and exports["Last"] == seqs[-1]

    paged = archive.get("/exports", params={"since": seqs[0], "limit": 1}).json()
    assert [e["Seq"] for e in paged["Exports"]] == [seqs[1]] and paged["Done"] is False
    beyond = archive.get("/exports", params={"since": seqs[-1] + 5}).json()
    assert beyond == {"Done": True, "Exports": [], "Last": seqs[-1] + 5}  # Orthanc echoes since
    newest = archive.get("/exports", params={"last": ""}).json()
    assert [e["ID"] for e in newest["Exports"]] == [patient]


def wait_for_job(client: httpx.Client, job_id: str, attempts: int = 600) -> dict:
    for _ in range(attempts):
        job = client.get(f"/jobs/{job_id}").json()
        if job["State"] in ("Success", "Failure"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_log_exported_resources_false_keeps_exports_empty_but_audited(
    tmp_path: Path, database_url: str, destination: StorageSCP
) -> None:
    config = tmp_path / "quiet.json"
    config.write_text(
        json.dumps(
            {"LogExportedResources": False, "DicomModalities": {"dest": destination.modality()}}
        )
    )
    server = ChronicleProcess(tmp_path / "quiet", database_url, "--config", str(config))
    server.start()
    try:
        with server.client() as client:
            study, instances = upload_study(client, 1)
            assert client.post("/modalities/dest/store", content=study).status_code == 200
            assert client.get("/exports").json() == {"Done": True, "Exports": [], "Last": 0}
            assert [row["ID"] for row in client.get("/exports/audit").json()] == instances
    finally:
        server.stop()


def test_store_straight_sends_the_body_without_storing_it(
    archive: httpx.Client, destination: StorageSCP
) -> None:
    [data] = make_series(1, "STRAIGHT")
    uid = str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)
    answer = archive.post("/modalities/dest/store-straight", content=data)
    assert answer.status_code == 200, answer.text
    assert answer.json()["SOPInstanceUID"] == uid
    assert set(destination.received) == {uid}
    assert archive.get("/instances").json() == []

    refused = archive.post("/modalities/refusing/store-straight", content=data)
    assert refused.status_code != 200
    assert refused.json()["HttpStatus"] == refused.status_code
    not_dicom = archive.post("/modalities/dest/store-straight", content=b"not a DICOM file")
    assert not_dicom.status_code == 400
    assert set(destination.received) == {uid}


def test_compressed_files_are_sent_uncompressed(
    archive: httpx.Client, destination: StorageSCP
) -> None:
    """An instance whose file is stored compressed (POST .../attachments/dicom/compress) is
    sent as the DICOM file it was received as."""
    study, instances = upload_study(archive, count=2)
    originals = {
        sop_uid(archive, i): archive.get(f"/instances/{i}/file").content for i in instances
    }
    for instance in instances:
        compress = archive.post(f"/instances/{instance}/attachments/dicom/compress")
        assert compress.status_code == 200, compress.text
    answer = archive.post("/modalities/dest/store", content=study)
    assert answer.status_code == 200, answer.text
    assert answer.json()["FailedInstancesCount"] == 0
    assert set(destination.received) == set(originals)
    for uid, data in destination.received.items():
        received = pydicom.dcmread(io.BytesIO(data), force=True)
        assert received.PixelData == pydicom.dcmread(io.BytesIO(originals[uid])).PixelData
