"""/modify and /anonymize through HTTP, beyond the replay of Orthanc 1.10.1's answers
(test_modification_compat): what the calls leave in the archive. KeepSource deletes the
sources; an asynchronous call is a job whose content is the synchronous answer; the new
resources name their sources (JSON, metadata, /changes) and survive a rebuild unchanged; the
UIDs of one call hang together, references included; the bulk routes answer every resource
they made; transcoding; and every refused call (bad KeepSource, Transcode, an unforced UID,
an unknown resource, a role that may not) stores nothing. Semantics are Orthanc 1.10.1's
(OrthancRestAnonymizeModify.cpp, ResourceModificationJob.cpp, DicomModification.cpp)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, generate_uid

from adapters.database import DatabaseAddress
from tests.support.cli import chronicle
from tests.support.dicom_factory import ROOT, make_instance
from tests.support.lua_servers import scripted_server
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, upload_accepted
from tests.support.waiting import eventually

UNKNOWN = "00000000-00000000-00000000-00000000-00000000"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
ADMIN = ("root", "root-secret")
READER = ("reader", "reader-secret")
JOB_ANSWER = {
    "Description",
    "FailedInstancesCount",
    "ID",
    "InstancesCount",
    "IsAnonymization",
    "Path",
    "PatientID",
    "Type",
}


@pytest.fixture(scope="module")
def archive(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    """One server for the module: each test works on patients of its own."""
    url = fresh_database(postgres, f"chronicle_test_modification_http_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("modification-http") / "data", url)
    with server:
        yield server


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    """Authentication on: an admin from RegisteredUsers and a reader of role `user`."""
    root = tmp_path_factory.mktemp("modification-auth")
    url = fresh_database(postgres, f"chronicle_test_modification_auth_{os.getpid()}")
    config = root / "chronicle.toml"
    config.write_text(
        f'authentication_enabled = true\n[registered_users]\n{ADMIN[0]} = "{ADMIN[1]}"\n'
    )
    server = ChronicleProcess(root / "data", url, "--config", str(config))
    with server:
        added = chronicle(
            "user", "add", READER[0], "--role", "user", "--database-url", url, password=READER[1]
        )
        assert added.returncode == 0, added.stderr
        yield server


# --- helpers ---------------------------------------------------------------------------------


def _reference(sop_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = sop_uid
    return item


def _referencing_series(patient_id: str, count: int = 3) -> tuple[list[bytes], list[str]]:
    """`count` instances of one series, each one's ReferencedImageSequence naming the next
    instance of the series (the last names the first); the files and their SOPInstanceUIDs."""
    study, series = generate_uid(ROOT), generate_uid(ROOT)
    sops = [str(generate_uid(ROOT)) for _ in range(count)]
    files = [
        make_instance(
            patient_id,
            study,
            series,
            sop,
            instance_number=number + 1,
            extra={"ReferencedImageSequence": Sequence([_reference(sops[(number + 1) % count])])},
        )
        for number, sop in enumerate(sops)
    ]
    return files, sops


def _upload(client: httpx.Client, files: list[bytes]) -> list[dict[str, str]]:
    return [upload_accepted(client, data) for data in files]


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


def _last_change(client: httpx.Client) -> int:
    last: int = _ok(client.get("/changes", params={"last": ""}))["Last"]
    return last


def _changes_since(client: httpx.Client, since: int) -> list[tuple[str, str, str]]:
    body = _ok(client.get("/changes", params={"since": since, "limit": 1000}))
    return [(c["ChangeType"], c["ResourceType"], c["ID"]) for c in body["Changes"]]


def _state(server: ChronicleProcess, client: httpx.Client) -> dict[str, Any]:
    """What a call that stores nothing leaves unchanged. (Not /jobs: it holds the newest
    JobsHistorySize finished jobs only, and a job that failed stays in it, as in Orthanc.)"""
    return {
        "instances": sorted(_ok(client.get("/instances"))),
        "series": sorted(_ok(client.get("/series"))),
        "studies": sorted(_ok(client.get("/studies"))),
        "patients": sorted(_ok(client.get("/patients"))),
        "last change": _last_change(client),
        "files": server.stored_files(),
    }


def _finished_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    def done() -> bool:
        return client.get(f"/jobs/{job_id}").json()["State"] in ("Success", "Failure")

    assert eventually(done)
    job: dict[str, Any] = _ok(client.get(f"/jobs/{job_id}"))
    assert job["State"] == "Success", job
    return job


def _dataset(client: httpx.Client, instance_id: str) -> Dataset:
    answer = client.get(f"/instances/{instance_id}/file")
    assert answer.status_code == 200
    return pydicom.dcmread(io.BytesIO(answer.content))


def _metadata(client: httpx.Client, level: str, resource_id: str, name: str) -> str:
    answer = client.get(f"/{level}/{resource_id}/metadata/{name}")
    assert answer.status_code == 200, (level, resource_id, name, answer.text)
    return answer.text


def _resource(level: str, resource_id: str) -> dict[str, str]:
    path = {"Instance": "instances", "Series": "series", "Study": "studies", "Patient": "patients"}
    return {"ID": resource_id, "Path": f"/{path[level]}/{resource_id}", "Type": level}


def _resources_of(client: httpx.Client, instance_ids: set[str]) -> list[dict[str, str]]:
    """Orthanc's `Resources` for these instances: every instance, series, study and patient,
    level by level from the instances up, each level sorted by ID."""
    rows = [_ok(client.get(f"/instances/{i}")) for i in instance_ids]
    series = {row["ParentSeries"] for row in rows}
    studies = {_ok(client.get(f"/series/{s}"))["ParentStudy"] for s in series}
    patients = {_ok(client.get(f"/studies/{s}"))["ParentPatient"] for s in studies}
    levels = [("Instance", instance_ids), ("Series", series)]
    levels += [("Study", studies), ("Patient", patients)]
    return [_resource(level, i) for level, ids in levels for i in sorted(ids)]


def _refused(answer: httpx.Response, status: int, orthanc_status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["OrthancStatus"] == orthanc_status, answer.text


# --- KeepSource ------------------------------------------------------------------------------


def test_keep_source_false_leaves_only_the_new_study(archive: ChronicleProcess) -> None:
    """Orthanc's CleaningInstancesJob deletes every source instance once the new ones are
    stored, and with them the series, study and patient they leave empty."""
    files, _ = _referencing_series("KS-FALSE")
    other_series = make_instance("KS-FALSE", pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID)
    with archive.client() as client:
        sources = _upload(client, [*files, other_series])
        study, patient = sources[0]["ParentStudy"], sources[0]["ParentPatient"]
        files_before = len(archive.stored_files())
        answer = _ok(client.post(f"/studies/{study}/anonymize", json={"KeepSource": False}))
        assert answer["InstancesCount"] == 4
        new_study = answer["ID"]

        studies = _ok(client.get("/studies"))
        assert new_study in studies and study not in studies
        patients = _ok(client.get("/patients"))
        assert answer["PatientID"] in patients and patient not in patients
        assert client.get(f"/patients/{patient}").status_code == 404
        assert client.get(f"/studies/{study}").status_code == 404
        for source in sources:
            assert client.get(f"/instances/{source['ID']}").status_code == 404
            assert client.get(f"/series/{source['ParentSeries']}").status_code == 404
        assert len(_ok(client.get(f"/studies/{new_study}/instances"))) == 4
        assert _ok(client.get(f"/studies/{new_study}"))["AnonymizedFrom"] == study
        # the four source files go, the four new ones stay
        assert eventually(lambda: len(archive.stored_files()) == files_before)


def test_keep_source_true_or_absent_keeps_the_sources(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("KS-TRUE", 2)[0])
        series = sources[0]["ParentSeries"]
        for body in ({}, {"KeepSource": True}):
            answer = _ok(client.post(f"/series/{series}/modify", json=body))
            assert answer["ID"] != series
            for source in sources:
                assert client.get(f"/instances/{source['ID']}").status_code == 200
        assert len(_ok(client.get(f"/studies/{sources[0]['ParentStudy']}/instances"))) == 6


@pytest.mark.parametrize("keep_source", ["false", 0, None, [], {}])
def test_a_keep_source_of_another_type_is_refused_and_stores_nothing(
    archive: ChronicleProcess, keep_source: Any
) -> None:
    """SerializationToolbox::ReadBoolean: 400, Bad file format, before any job exists."""
    with archive.client() as client:
        sources = _upload(client, _referencing_series(f"KS-TYPE-{keep_source!r}", 2)[0])
        before = _state(archive, client)
        calls: list[tuple[str, dict[str, Any]]] = [
            (f"/studies/{sources[0]['ParentStudy']}/anonymize", {}),
            (f"/series/{sources[0]['ParentSeries']}/modify", {"Replace": {"Modality": "MR"}}),
            (f"/patients/{sources[0]['ParentPatient']}/anonymize", {"Asynchronous": True}),
            ("/tools/bulk-anonymize", {"Resources": [sources[0]["ID"]]}),
            (
                "/tools/bulk-modify",
                {"Resources": [sources[1]["ID"]], "Replace": {"Modality": "MR"}},
            ),
        ]
        for path, body in calls:
            answer = client.post(path, json={**body, "KeepSource": keep_source})
            _refused(answer, 400, 15)
        assert _state(archive, client) == before


def test_keep_source_false_deletes_only_the_sources(archive: ChronicleProcess) -> None:
    """A series modify keeps the study, which now holds the new series; a bulk call on one
    instance deletes that instance only."""
    with archive.client() as client:
        sources = _upload(client, _referencing_series("KS-SERIES", 2)[0])
        lone = _upload(client, _referencing_series("KS-BULK", 2)[0])
        files_before = len(archive.stored_files())
        series, study = sources[0]["ParentSeries"], sources[0]["ParentStudy"]
        body = {"Replace": {"SeriesDescription": "moved"}, "KeepSource": False}
        answer = _ok(client.post(f"/series/{series}/modify", json=body))
        assert client.get(f"/series/{series}").status_code == 404
        assert _ok(client.get(f"/studies/{study}"))["Series"] == [answer["ID"]]
        assert client.get(f"/patients/{sources[0]['ParentPatient']}").status_code == 200
        assert len(_ok(client.get(f"/series/{answer['ID']}"))["Instances"]) == 2

        body = {"Resources": [lone[0]["ID"]], "KeepSource": False}
        made = _ok(client.post("/tools/bulk-anonymize", json=body))
        assert made["InstancesCount"] == 1
        assert client.get(f"/instances/{lone[0]['ID']}").status_code == 404
        kept = _ok(client.get(f"/series/{lone[0]['ParentSeries']}"))
        assert kept["Instances"] == [lone[1]["ID"]]
        # 2 + 1 new files, 2 + 1 source files gone
        assert eventually(lambda: len(archive.stored_files()) == files_before)


@pytest.mark.parametrize("keep_source", [True, False])
def test_a_modification_that_remakes_its_source_fails_and_keeps_it(
    archive: ChronicleProcess, keep_source: bool
) -> None:
    """Keeping the series and SOP instance UIDs makes an instance of the same Orthanc ID as its
    source: with OverwriteInstances false (the default) the store answers AlreadyStored, and
    ResourceModificationJob::HandleInstance throws CannotStoreInstance (2018, HTTP 500)
    "Error while storing a modified instance". The job fails before its trailing step, so
    KeepSource false deletes nothing."""
    files, _ = _referencing_series(f"REMADE-{keep_source}", 1)
    with archive.client() as client:
        (source,) = _upload(client, files)
        before = _state(archive, client)
        body = {
            "Replace": {"SeriesDescription": "remade"},
            "Keep": ["SeriesInstanceUID", "SOPInstanceUID"],
            "Force": True,
            "KeepSource": keep_source,
        }
        answer = client.post(f"/series/{source['ParentSeries']}/modify", json=body)
        assert client.get(f"/instances/{source['ID']}").status_code == 200
        assert client.get(f"/instances/{source['ID']}/file").content == files[0]
        _refused(answer, 500, 2018)
        assert _state(archive, client) == before


# --- Asynchronous ----------------------------------------------------------------------------


def test_an_asynchronous_call_is_a_job_whose_content_is_the_synchronous_answer(
    archive: ChronicleProcess,
) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("ASYNC", 2)[0])
        series, patient = sources[0]["ParentSeries"], sources[0]["ParentPatient"]
        body = {"Replace": {"SeriesDescription": "Async"}}
        synchronous = _ok(client.post(f"/series/{series}/modify", json=body))
        assert set(synchronous) == JOB_ANSWER
        assert (synchronous["Type"], synchronous["PatientID"]) == ("Series", patient)

        submitted = _ok(
            client.post(f"/series/{series}/modify", json={**body, "Asynchronous": True})
        )
        job_id = submitted["ID"]
        assert submitted == {"ID": job_id, "Path": f"/jobs/{job_id}"}
        assert job_id in _ok(client.get("/jobs"))
        job = _finished_job(client, job_id)
        assert (job["Type"], job["Progress"], job["ErrorCode"]) == ("ResourceModification", 100, 0)
        content = job["Content"]
        new_series = content["ID"]
        assert new_series not in (series, synchronous["ID"])
        assert content == {**synchronous, "ID": new_series, "Path": f"/series/{new_series}"}
        made = _ok(client.get(f"/series/{new_series}"))
        assert made["MainDicomTags"]["SeriesDescription"] == "Async"
        assert made["ModifiedFrom"] == series
        assert len(made["Instances"]) == 2


def test_an_asynchronous_anonymization_lists_its_new_study(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("ASYNC-ANON", 3)[0])
        study = sources[0]["ParentStudy"]
        before = set(_ok(client.get("/instances")))
        submitted = _ok(client.post(f"/studies/{study}/anonymize", json={"Asynchronous": True}))
        assert set(submitted) == {"ID", "Path"}
        content = _finished_job(client, submitted["ID"])["Content"]
        assert set(content) == JOB_ANSWER
        new_instances = set(_ok(client.get("/instances"))) - before
        assert len(new_instances) == 3
        parents = {_ok(client.get(f"/instances/{i}/study"))["ID"] for i in new_instances}
        assert parents == {content["ID"]}
        assert content["Path"] == f"/studies/{content['ID']}"
        assert content["PatientID"] == _ok(client.get(f"/studies/{content['ID']}"))["ParentPatient"]
        assert (content["Type"], content["InstancesCount"], content["IsAnonymization"]) == (
            "Study",
            3,
            True,
        )


# --- AnonymizedFrom / ModifiedFrom -----------------------------------------------------------


def test_the_new_resources_name_their_sources(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("FROM", 3)[0])
        source_ids = {s["ID"] for s in sources}
        study, series, patient = (
            sources[0][k] for k in ("ParentStudy", "ParentSeries", "ParentPatient")
        )
        answer = _ok(client.post(f"/studies/{study}/anonymize", json={}))
        new_study = _ok(client.get(f"/studies/{answer['ID']}"))
        assert new_study["AnonymizedFrom"] == study
        assert "ModifiedFrom" not in new_study
        expanded = _ok(client.get(f"/studies/{answer['ID']}/metadata", params={"expand": ""}))
        assert expanded["AnonymizedFrom"] == study
        assert "ModifiedFrom" not in expanded
        assert "AnonymizedFrom" in _ok(client.get(f"/studies/{answer['ID']}/metadata"))
        assert _metadata(client, "studies", answer["ID"], "AnonymizedFrom") == study

        new_patient = _ok(client.get(f"/patients/{answer['PatientID']}"))
        assert new_patient["AnonymizedFrom"] == patient
        (new_series_id,) = new_study["Series"]
        assert _ok(client.get(f"/series/{new_series_id}"))["AnonymizedFrom"] == series
        assert _metadata(client, "series", new_series_id, "AnonymizedFrom") == series

        new_instances = _ok(client.get(f"/studies/{answer['ID']}/instances"))
        named = {_metadata(client, "instances", i["ID"], "AnonymizedFrom") for i in new_instances}
        assert named == source_ids
        for item in new_instances:
            instance = _ok(client.get(f"/instances/{item['ID']}"))
            assert instance["AnonymizedFrom"] in source_ids
            meta = _ok(client.get(f"/instances/{item['ID']}/metadata", params={"expand": ""}))
            assert meta["AnonymizedFrom"] == instance["AnonymizedFrom"]
            assert "ModifiedFrom" not in meta
        # the sources themselves say nothing of it
        assert "AnonymizedFrom" not in _ok(client.get(f"/studies/{study}"))
        assert client.get(f"/studies/{study}/metadata/AnonymizedFrom").status_code == 404


def test_a_series_modify_marks_only_what_it_made_anew(archive: ChronicleProcess) -> None:
    """A series modify keeps the study and patient: only the new series and instances say
    ModifiedFrom (ResourceModificationJob: the parents only when their ID changed)."""
    with archive.client() as client:
        sources = _upload(client, _referencing_series("MODFROM", 2)[0])
        series, study = sources[0]["ParentSeries"], sources[0]["ParentStudy"]
        answer = _ok(client.post(f"/series/{series}/modify", json={"Replace": {"Modality": "MR"}}))
        made = _ok(client.get(f"/series/{answer['ID']}"))
        assert (made["ModifiedFrom"], made["ParentStudy"]) == (series, study)
        assert "AnonymizedFrom" not in made
        assert _metadata(client, "series", answer["ID"], "ModifiedFrom") == series
        assert "ModifiedFrom" not in _ok(client.get(f"/studies/{study}"))
        assert client.get(f"/studies/{study}/metadata/ModifiedFrom").status_code == 404
        named = {_metadata(client, "instances", i, "ModifiedFrom") for i in made["Instances"]}
        assert named == {s["ID"] for s in sources}


# --- /changes --------------------------------------------------------------------------------


def _assert_derivations_follow(
    changes: list[tuple[str, str, str]], kind: str, made: dict[str, str]
) -> None:
    """Each resource made anew has its `kind`<Level> change once, after its New<Level>."""
    for level, resource_id in made.items():
        derived = (f"{kind}{level}", level, resource_id)
        assert changes.count(derived) == 1, (derived, changes)
        assert changes.index(("New" + level, level, resource_id)) < changes.index(derived)


def test_changes_log_the_derivations_after_the_new_resources(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("CHANGES", 3)[0])
        source_ids = {
            *(s["ID"] for s in sources),
            *(sources[0][k] for k in ("ParentSeries", "ParentStudy", "ParentPatient")),
        }
        last = _last_change(client)
        answer = _ok(client.post(f"/studies/{sources[0]['ParentStudy']}/anonymize", json={}))
        changes = _changes_since(client, last)
        study = _ok(client.get(f"/studies/{answer['ID']}"))
        new_instances = {i["ID"] for i in _ok(client.get(f"/studies/{answer['ID']}/instances"))}
        made = {"Series": study["Series"][0], "Study": answer["ID"], "Patient": answer["PatientID"]}
        _assert_derivations_follow(changes, "Anonymized", made)
        assert sorted(c[0] for c in changes) == sorted(
            [
                *(["NewInstance"] * 3),
                *("NewSeries", "NewStudy", "NewPatient"),
                *("AnonymizedSeries", "AnonymizedStudy", "AnonymizedPatient"),
            ]
        )
        assert {c[2] for c in changes if c[0] == "NewInstance"} == new_instances
        assert not {c[2] for c in changes} & source_ids

        last = _last_change(client)
        body = {"Replace": {"SeriesDescription": "changed"}}
        modified = _ok(client.post(f"/series/{sources[0]['ParentSeries']}/modify", json=body))
        changes = _changes_since(client, last)
        _assert_derivations_follow(changes, "Modified", {"Series": modified["ID"]})
        assert sorted(c[0] for c in changes) == sorted(
            [*["NewInstance"] * 3, "NewSeries", "ModifiedSeries"]
        )


# --- UIDs ------------------------------------------------------------------------------------


def test_the_uids_of_one_call_hang_together_and_references_follow(
    archive: ChronicleProcess,
) -> None:
    files, sops = _referencing_series("UIDS", 3)
    with archive.client() as client:
        sources = _upload(client, files)
        sop_of_source = {s["ID"]: sop for s, sop in zip(sources, sops, strict=True)}
        original = pydicom.dcmread(io.BytesIO(files[0]))
        answer = _ok(client.post(f"/series/{sources[0]['ParentSeries']}/anonymize", json={}))
        assert answer["Type"] == "Series"
        new_ids = _ok(client.get(f"/series/{answer['ID']}"))["Instances"]
        assert len(new_ids) == 3
        datasets = {i: _dataset(client, i) for i in new_ids}
        new_sop_of = {  # source SOPInstanceUID -> the new one made from it
            sop_of_source[_metadata(client, "instances", i, "AnonymizedFrom")]: ds.SOPInstanceUID
            for i, ds in datasets.items()
        }
        assert set(new_sop_of) == set(sops)
        assert len(set(new_sop_of.values())) == 3
        assert not set(new_sop_of.values()) & set(sops)
        assert len({ds.StudyInstanceUID for ds in datasets.values()}) == 1
        assert len({ds.SeriesInstanceUID for ds in datasets.values()}) == 1
        assert len({ds.PatientID for ds in datasets.values()}) == 1
        for ds in datasets.values():
            assert ds.StudyInstanceUID != original.StudyInstanceUID
            assert ds.SeriesInstanceUID != original.SeriesInstanceUID
            assert ds.PatientID != original.PatientID
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        for source_sop, new_sop in new_sop_of.items():
            ds = next(d for d in datasets.values() if d.SOPInstanceUID == new_sop)
            (item,) = ds.ReferencedImageSequence
            referenced = sops[(sops.index(source_sop) + 1) % 3]
            assert item.ReferencedSOPInstanceUID == new_sop_of[referenced]
            assert item.ReferencedSOPClassUID == CTImageStorage


def test_a_modify_leaves_references_as_they_were(archive: ChronicleProcess) -> None:
    """DicomModification::Apply remaps references only for an anonymization: a series modify
    makes new SOPInstanceUIDs and keeps the ReferencedSOPInstanceUIDs of the sources."""
    files, sops = _referencing_series("MODREFS", 3)
    with archive.client() as client:
        sources = _upload(client, files)
        body = {"Replace": {"SeriesDescription": "refs"}}
        answer = _ok(client.post(f"/series/{sources[0]['ParentSeries']}/modify", json=body))
        new_ids = _ok(client.get(f"/series/{answer['ID']}"))["Instances"]
        datasets = [_dataset(client, i) for i in new_ids]
        assert not {ds.SOPInstanceUID for ds in datasets} & set(sops)
        assert {ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID for ds in datasets} == set(
            sops
        )
        assert {ds.StudyInstanceUID for ds in datasets} == {
            pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID
        }


def test_successive_anonymizations_count_up(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("COUNTER", 2)[0])
        study = sources[0]["ParentStudy"]
        numbers = []
        for _ in range(2):
            answer = _ok(client.post(f"/studies/{study}/anonymize", json={}))
            tags = _ok(client.get(f"/studies/{answer['ID']}"))["PatientMainDicomTags"]
            name = tags["PatientName"]
            assert name.startswith("Anonymized") and name[len("Anonymized") :].isdigit(), name
            numbers.append(int(name[len("Anonymized") :]))
            for instance in _ok(client.get(f"/studies/{answer['ID']}/instances")):
                assert str(_dataset(client, instance["ID"]).PatientName) == name
        assert numbers[1] == numbers[0] + 1 and numbers[0] >= 1
        # a name given in Replace is used as given, and takes no number from the sequence
        given = {"Replace": {"PatientName": "Given^Name"}}
        answer = _ok(client.post(f"/studies/{study}/anonymize", json=given))
        tags = _ok(client.get(f"/studies/{answer['ID']}"))["PatientMainDicomTags"]
        assert tags["PatientName"] == "Given^Name"
        after = _ok(client.post(f"/studies/{study}/anonymize", json={}))
        name = _ok(client.get(f"/studies/{after['ID']}"))["PatientMainDicomTags"]["PatientName"]
        assert name == f"Anonymized{numbers[1] + 1}"


# --- bulk ------------------------------------------------------------------------------------


def test_bulk_modify_answers_every_resource_it_touched(archive: ChronicleProcess) -> None:
    """Orthanc's MultipleOutputs: the new instances and every series, study and patient they
    are in, whether new or not, each level sorted."""
    with archive.client() as client:
        first = _upload(client, _referencing_series("BULK-MOD", 2)[0])
        second = _upload(client, _referencing_series("BULK-MOD", 1)[0])
        before = set(_ok(client.get("/instances")))
        body = {"Resources": [first[0]["ID"], second[0]["ID"]], "Replace": {"InstitutionName": "B"}}
        answer = _ok(client.post("/tools/bulk-modify", json=body))
        made = set(_ok(client.get("/instances"))) - before
        assert len(made) == 2
        assert answer == {
            "Description": "REST API",
            "FailedInstancesCount": 0,
            "InstancesCount": 2,
            "IsAnonymization": False,
            "Resources": _resources_of(client, made),
        }
        series = {_ok(client.get(f"/instances/{i}"))["ParentSeries"] for i in made}
        assert series == {first[0]["ParentSeries"], second[0]["ParentSeries"]}  # Instance level
        for instance in made:
            assert _dataset(client, instance).InstitutionName == "B"


def test_bulk_anonymize_answers_every_new_resource(archive: ChronicleProcess) -> None:
    """One UID map for the whole call: a series and an instance of another series of the same
    study become two series of one new study of one new patient."""
    with archive.client() as client:
        first = _upload(client, _referencing_series("BULK-ANON", 2)[0])
        study_uid = _ok(client.get(f"/studies/{first[0]['ParentStudy']}"))["MainDicomTags"][
            "StudyInstanceUID"
        ]
        lone = upload_accepted(client, make_instance("BULK-ANON", study_uid))
        before = set(_ok(client.get("/instances")))
        body = {"Resources": [first[0]["ParentSeries"], lone["ID"]]}
        answer = _ok(client.post("/tools/bulk-anonymize", json=body))
        made = set(_ok(client.get("/instances"))) - before
        assert len(made) == 3
        resources = _resources_of(client, made)
        assert [r["Type"] for r in resources] == [
            *["Instance"] * 3,
            *["Series"] * 2,
            "Study",
            "Patient",
        ]
        assert answer == {
            "Description": "REST API",
            "FailedInstancesCount": 0,
            "InstancesCount": 3,
            "IsAnonymization": True,
            "Resources": resources,
        }
        (new_study,) = (r["ID"] for r in resources if r["Type"] == "Study")
        assert _ok(client.get(f"/studies/{new_study}"))["AnonymizedFrom"] == first[0]["ParentStudy"]

        submitted = _ok(client.post("/tools/bulk-anonymize", json={**body, "Asynchronous": True}))
        assert set(submitted) == {"ID", "Path"}
        content = _finished_job(client, submitted["ID"])["Content"]
        made_async = set(_ok(client.get("/instances"))) - before - made
        assert content["Resources"] == _resources_of(client, made_async)
        assert content["IsAnonymization"] is True


@pytest.mark.parametrize("verb", ["modify", "anonymize"])
def test_a_bulk_call_naming_an_unknown_resource_is_refused_and_stores_nothing(
    archive: ChronicleProcess, verb: str
) -> None:
    """ServerContext::AddChildInstances throws UnknownResource before the job is submitted."""
    with archive.client() as client:
        known = _upload(client, _referencing_series(f"BULK-404-{verb}", 2)[0])
        before = _state(archive, client)
        for resources in ([known[0]["ID"], UNKNOWN], [UNKNOWN], [known[0]["ParentStudy"], "nope"]):
            body = {"Resources": resources, "Replace": {"InstitutionName": "X"}}
            _refused(client.post(f"/tools/bulk-{verb}", json=body), 404, 17)
            _refused(
                client.post(f"/tools/bulk-{verb}", json={**body, "Asynchronous": True}), 404, 17
            )
        assert _state(archive, client) == before


# --- refusals that store nothing -------------------------------------------------------------


def test_transcode_writes_the_new_files_in_the_asked_syntax(archive: ChronicleProcess) -> None:
    """An instance's modified file comes back in the asked syntax with the same pixels; a
    study's new instances are stored in it."""
    with archive.client() as client:
        sources = _upload(client, _referencing_series("TRANSCODE", 2)[0])
        original = pydicom.dcmread(
            io.BytesIO(client.get(f"/instances/{sources[0]['ID']}/file").content)
        )
        body = {"Replace": {"InstitutionName": "T"}, "Transcode": RLE_LOSSLESS}
        answer = client.post(f"/instances/{sources[0]['ID']}/modify", json=body)
        assert answer.status_code == 200, answer.text
        modified = pydicom.dcmread(io.BytesIO(answer.content))
        assert modified.file_meta.TransferSyntaxUID == RLE_LOSSLESS
        assert np.array_equal(modified.pixel_array, original.pixel_array)
        study = sources[0]["ParentStudy"]
        made = _ok(client.post(f"/studies/{study}/anonymize", json={"Transcode": RLE_LOSSLESS}))
        for instance in _ok(client.get(f"/studies/{made['ID']}/instances")):
            syntax = client.get(f"/instances/{instance['ID']}/metadata/TransferSyntax").text
            assert syntax == RLE_LOSSLESS


def test_a_transcode_that_cannot_be_done_stores_nothing(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("NO-TRANSCODE", 2)[0])
        study, series = sources[0]["ParentStudy"], sources[0]["ParentSeries"]
        before = _state(archive, client)
        refusals = [("1.2.3", 400, 3), (3, 400, 15), ("1.2.840.10008.1.2.2", 501, 2)]
        calls: list[tuple[str, dict[str, Any]]] = [
            (f"/studies/{study}/modify", {"Replace": {"StudyDescription": "T"}}),
            (f"/series/{series}/modify", {"Asynchronous": True}),
            ("/tools/bulk-anonymize", {"Resources": [study]}),
            (f"/instances/{sources[0]['ID']}/anonymize", {}),
        ]
        for target, status, code in refusals:
            for path, body in calls:
                _refused(client.post(path, json={**body, "Transcode": target}), status, code)
        assert _state(archive, client) == before


def test_a_refused_modification_stores_nothing(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("REFUSED", 2)[0])
        study, series = sources[0]["ParentStudy"], sources[0]["ParentSeries"]
        before = _state(archive, client)
        calls: list[tuple[str, dict[str, Any]]] = [  # identifiers without Force: 400, Bad request
            (f"/studies/{study}/modify", {"Replace": {"SeriesInstanceUID": "1.2.3"}}),
            (f"/series/{series}/modify", {"Replace": {"SOPInstanceUID": "1.2.3"}}),
            (f"/studies/{study}/anonymize", {"Replace": {"StudyInstanceUID": "1.2.3"}}),
            (f"/series/{series}/anonymize", {"Keep": ["SeriesInstanceUID"]}),
            (f"/studies/{study}/modify", {"Remove": ["PatientID"], "Asynchronous": True}),
            ("/tools/bulk-modify", {"Resources": [study], "Replace": {"StudyInstanceUID": "1"}}),
        ]
        for path, body in calls:
            _refused(client.post(path, json=body), 400, 8)
        malformed: list[tuple[str, dict[str, Any], int, int]] = [
            (f"/series/{series}/anonymize", {"Remove": "PatientName"}, 400, 8),  # ParseListOfTags
            ("/tools/bulk-anonymize", {"Resources": study}, 400, 15),  # ReadArrayOfStrings
            ("/tools/bulk-modify", {"Resources": [study, 3]}, 400, 15),
            (f"/studies/{study}/modify", {"Replace": {"NoSuchTag": "x"}}, 500, 27),  # ParseTag
        ]
        for path, body, status, orthanc_status in malformed:
            _refused(client.post(path, json=body), status, orthanc_status)
        assert _state(archive, client) == before


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_job_failing_on_its_first_instance_stores_nothing_and_says_why(
    archive: ChronicleProcess, asynchronous: bool
) -> None:
    """A Replace value of the wrong type passes ParseModifyRequest and fails in the job
    (ParsedDicomFile::Replace, BadParameterType, as the instance route answers it): the job is
    submitted and fails; a synchronous call answers its error, 400 with OrthancStatus 5."""
    with archive.client() as client:
        sources = _upload(client, _referencing_series(f"JOB-FAILS-{asynchronous}", 2)[0])
        before = _state(archive, client)
        jobs_before = set(_ok(client.get("/jobs")))
        body = {"Replace": {"StudyDescription": 3}, "Asynchronous": asynchronous}
        answer = client.post(f"/studies/{sources[0]['ParentStudy']}/modify", json=body)
        if asynchronous:
            assert set(_ok(answer)) == {"ID", "Path"}
        else:
            _refused(answer, 400, 5)
            assert answer.json()["OrthancError"] == "Bad type for a parameter"

        def failures() -> list[dict[str, Any]]:
            return [
                job
                for job in _ok(client.get("/jobs", params={"expand": ""}))
                if job["ID"] not in jobs_before and job["State"] == "Failure"
            ]

        assert eventually(lambda: len(failures()) > 0)
        (job,) = failures()
        if asynchronous:
            assert job["ID"] == answer.json()["ID"]
        assert (job["Type"], job["ErrorCode"]) == ("ResourceModification", 5), job
        assert job["ErrorDescription"] == "Bad type for a parameter"
        assert "0008,1030" in job["ErrorDetails"]
        assert _state(archive, client) == before


def test_a_synchronous_job_is_finished_in_jobs_when_it_answers(archive: ChronicleProcess) -> None:
    """OrthancRestApi::SubmitCommandsJob answers once JobsRegistry::SubmitAndWait saw the
    job succeed: a client listing /jobs right after the answer finds it finished."""
    with archive.client() as client:
        sources = _upload(client, _referencing_series("SYNC-JOB", 1)[0])
        body = {"Replace": {"SeriesDescription": "sync"}}
        answer = _ok(client.post(f"/series/{sources[0]['ParentSeries']}/modify", json=body))
        listed = _ok(client.get("/jobs", params={"expand": ""}))
        mine = [job for job in listed if job.get("Content") == answer]
        assert [(job["State"], job["Progress"]) for job in mine] == [("Success", 100)], listed


def test_an_instance_modify_answers_the_file_and_stores_nothing(archive: ChronicleProcess) -> None:
    files, sops = _referencing_series("INSTANCE", 1)
    original = pydicom.dcmread(io.BytesIO(files[0]))
    with archive.client() as client:
        (source,) = _upload(client, files)
        before = _state(archive, client)
        body = {"Replace": {"InstitutionName": "Elsewhere"}, "Remove": ["AccessionNumber"]}
        answer = client.post(f"/instances/{source['ID']}/modify", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/dicom"
        ds = pydicom.dcmread(io.BytesIO(answer.content))
        assert ds.InstitutionName == "Elsewhere"
        assert "AccessionNumber" not in ds
        assert ds.SOPInstanceUID != sops[0]  # a new instance, in the same series and study
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert (ds.StudyInstanceUID, ds.SeriesInstanceUID) == (
            original.StudyInstanceUID,
            original.SeriesInstanceUID,
        )
        assert (ds.PatientID, str(ds.PatientName)) == ("INSTANCE", "Doe^John")
        assert ds.PixelData == original.PixelData

        anonymized = client.post(f"/instances/{source['ID']}/anonymize", json={})
        assert anonymized.status_code == 200, anonymized.text
        assert anonymized.headers["content-type"] == "application/dicom"
        assert pydicom.dcmread(io.BytesIO(anonymized.content)).PatientID != "INSTANCE"
        assert _state(archive, client) == before
        assert "InstitutionName" not in _dataset(client, source["ID"])


# --- roles -----------------------------------------------------------------------------------


def test_a_user_may_anonymize_an_instance_but_not_store_a_new_study(
    secured: ChronicleProcess,
) -> None:
    with secured.client(auth=ADMIN) as admin, secured.client(auth=READER) as reader:
        (source,) = _upload(admin, _referencing_series("ROLES", 1)[0])
        study = source["ParentStudy"]
        before = _state(secured, admin)

        copy = reader.post(f"/instances/{source['ID']}/anonymize", json={})
        assert copy.status_code == 200, copy.text
        assert copy.headers["content-type"] == "application/dicom"
        assert pydicom.dcmread(io.BytesIO(copy.content)).PatientID != "ROLES"
        assert reader.post(f"/instances/{source['ID']}/modify", json={}).status_code == 200
        for path, body in [
            (f"/studies/{study}/anonymize", {}),
            (f"/studies/{study}/modify", {"Replace": {"StudyDescription": "R"}}),
            (f"/series/{source['ParentSeries']}/anonymize", {"Asynchronous": True}),
            ("/tools/bulk-anonymize", {"Resources": [study]}),
        ]:
            assert reader.post(path, json=body).status_code == 403, path
        assert _state(secured, admin) == before

        answer = admin.post(f"/studies/{study}/anonymize", json={})
        assert answer.status_code == 200, answer.text
        assert _ok(admin.get(f"/studies/{answer.json()['ID']}"))["AnonymizedFrom"] == study
        anonymous = secured.client()
        with anonymous:
            assert (
                anonymous.post(f"/instances/{source['ID']}/anonymize", json={}).status_code == 401
            )


# --- rebuild (last: it replays everything the module did) -----------------------------------


def _browse(client: httpx.Client) -> dict[str, Any]:
    return {
        "changes": _ok(client.get("/changes", params={"limit": 10000})),
        **{
            level: _ok(client.get(f"/{level}", params={"expand": ""}))
            for level in ("patients", "studies", "series", "instances")
        },
    }


def test_a_rebuild_gives_back_the_same_changes_and_resources(archive: ChronicleProcess) -> None:
    with archive.client() as client:
        sources = _upload(client, _referencing_series("REBUILD", 2)[0])
        anonymized = _ok(client.post(f"/studies/{sources[0]['ParentStudy']}/anonymize", json={}))
        body = {"Replace": {"SeriesDescription": "rebuilt"}, "KeepSource": False}
        modified = _ok(client.post(f"/series/{sources[0]['ParentSeries']}/modify", json=body))
        before = _browse(client)
        change_types = {c["ChangeType"] for c in before["changes"]["Changes"]}
        assert {"AnonymizedStudy", "ModifiedSeries"} <= change_types
        assert before["changes"]["Done"] is True

        rebuilt = archive.rebuild()
        assert rebuilt.returncode == 0, rebuilt.stderr
        after = _browse(client)
        assert after == before
        assert (
            _ok(client.get(f"/studies/{anonymized['ID']}"))["AnonymizedFrom"]
            == (sources[0]["ParentStudy"])
        )
        assert (
            _ok(client.get(f"/series/{modified['ID']}"))["ModifiedFrom"]
            == (sources[0]["ParentSeries"])
        )


# --- a job run again ------------------------------------------------------------------------

REFUSE_THIRD = """
anonymized = 0
refusing = true
function ReceivedInstanceFilter(dicom, origin, info)
   if string.sub(dicom.PatientName or '', 1, 10) == 'Anonymized' then
      anonymized = anonymized + 1
      if refusing and anonymized == 3 then
         return false
      end
   end
   return true
end
"""


def test_a_resubmitted_job_finishes_without_copying_twice(
    tmp_path: Path, database_url: str
) -> None:
    """A study anonymization refused at its third instance keeps the two it stored; run
    again, it makes the same instances (its UIDs derive from the job), so the two are not
    stored twice and the new study ends whole."""
    with (
        scripted_server(
            tmp_path, database_url, REFUSE_THIRD, "execute_lua_enabled = true\n"
        ) as server,
        server.client() as client,
    ):
        sources = _upload(client, _referencing_series("RESUBMIT", 5)[0])
        study = sources[0]["ParentStudy"]
        failed = client.post(f"/studies/{study}/anonymize", json={})
        assert failed.status_code == 500, failed.text
        assert failed.json()["OrthancStatus"] == 2018
        assert len(_ok(client.get("/instances"))) == 5 + 2
        allowed = client.post("/tools/execute-script", content=b"refusing = false")
        assert allowed.status_code == 200, allowed.text
        jobs = _ok(client.get("/jobs", params={"expand": ""}))
        job = next(j for j in jobs if j["Type"] == "ResourceModification")
        assert job["State"] == "Failure"
        assert client.post(f"/jobs/{job['ID']}/resubmit", json={}).status_code == 200
        assert eventually(lambda: _ok(client.get(f"/jobs/{job['ID']}"))["State"] == "Success")
        new_study = _ok(client.get(f"/jobs/{job['ID']}"))["Content"]["ID"]
        assert len(_ok(client.get(f"/studies/{new_study}/instances"))) == 5
        assert len(_ok(client.get("/studies"))) == 2
        assert len(_ok(client.get("/instances"))) == 10
