"""Chronicle's DICOM server, used through its port as modalities use it (pynetdicom and DCMTK)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from adapters.database import DatabaseAddress
from domain.main_tags import orthanc_id
from tests.support.corpus import corpus_dir, corpus_path
from tests.support.dicom_factory import ROOT, make_instance
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, free_port
from tests.support.storage_scp import StorageSCP

CALLING = "TESTSCU"
CHRONICLE = "CHRONICLE"
CORPUS_FILES = [
    "ColorTestMalaterre.dcm",
    "Encodings/ISO_IR13.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.1.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.4.50.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.4.70.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.5.dcm",
    "MarekLatin2.dcm",
    "sample-pdf.dcm",
]
STUDY_A, STUDY_B, STUDY_C = (generate_uid(ROOT) for _ in range(3))
SERIES_A1, SERIES_A2, SERIES_B1, SERIES_C1 = (generate_uid(ROOT) for _ in range(4))


def _dataset(data: bytes, **changes: Any) -> Dataset:
    ds = dcmread(io.BytesIO(data))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return ds


def synthetic_instances() -> list[Dataset]:
    """Two patients, three studies, four series (CT, MR), seven instances."""
    a = dict(patient_id="P-A", patient_name="Qwertz^John", study_uid=STUDY_A)
    b = dict(patient_id="P-B", patient_name="Müller^Jürgen", study_uid=STUDY_B)
    made = [
        _dataset(make_instance(**a, series_uid=SERIES_A1, instance_number=n)) for n in (1, 2, 3)
    ]
    made += [
        _dataset(make_instance(**a, series_uid=SERIES_A2, modality="MR"), StudyDate="20240115")
    ]
    made += [
        _dataset(
            make_instance(**b, series_uid=SERIES_B1, instance_number=n),
            StudyDate="20230610",
            SpecificCharacterSet="ISO_IR 192",
        )
        for n in (1, 2)
    ]
    made += [
        _dataset(
            make_instance(patient_id="P-A", study_uid=STUDY_C, series_uid=SERIES_C1),
            StudyDate="20240301",
            StudyDescription="third",
        )
    ]
    return made


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def destination() -> Iterator[StorageSCP]:
    scp = StorageSCP("DEST").start()
    yield scp
    scp.stop()


@pytest.fixture(scope="module")
def refusing() -> Iterator[StorageSCP]:
    scp = StorageSCP("REFUSER", status=0xA700).start()
    yield scp
    scp.stop()


def _module_database(postgres: DatabaseAddress) -> str:
    return fresh_database(postgres, f"chronicle_test_dicom_scp_{os.getpid()}")


@pytest.fixture(scope="module")
def chronicle(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: DatabaseAddress,
    destination: StorageSCP,
    refusing: StorageSCP,
) -> Iterator[ChronicleProcess]:
    root = tmp_path_factory.mktemp("dicom-scp")
    config = {
        "DicomAet": CHRONICLE,
        "DicomModalities": {
            "tester": {"AET": CALLING, "Host": "127.0.0.1", "Port": 104},
            "dest": destination.modality(),
            "refuser": refusing.modality(),
            "nofind": {"AET": "NOFIND", "Host": "127.0.0.1", "Port": 104, "AllowFind": False},
        },
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    port = free_port()
    process = ChronicleProcess(
        root / "data",
        _module_database(postgres),
        "--config",
        str(root / "orthanc.json"),
        "--dicom-port",
        str(port),
    )
    process.dicom_port = port  # type: ignore[attr-defined]
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def stored(chronicle: ChronicleProcess) -> list[Dataset]:
    instances = synthetic_instances()
    assoc = _associate(chronicle, [CTImageStorage])
    try:
        for ds in instances:
            assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    return instances


def _ae(aet: str = CALLING) -> AE:
    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    return ae


def _associate(
    chronicle: ChronicleProcess,
    contexts: list[str],
    aet: str = CALLING,
    called: str = CHRONICLE,
    **kwargs: Any,
) -> Any:
    ae = _ae(aet)
    for context in contexts:
        ae.add_requested_context(context)
    return ae.associate("127.0.0.1", chronicle.dicom_port, ae_title=called, **kwargs)  # type: ignore[attr-defined]


def _instance_id(ds: Dataset) -> str:
    return orthanc_id(
        ds.get("PatientID", ""), ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    )


def _find(chronicle: ChronicleProcess, query: Dataset, model: str = "study") -> list[Dataset]:
    context = {
        "study": StudyRootQueryRetrieveInformationModelFind,
        "patient": PatientRootQueryRetrieveInformationModelFind,
    }[model]
    assoc = _associate(chronicle, [context])
    assert assoc.is_established
    try:
        answers, final = [], None
        for status, identifier in assoc.send_c_find(query, context):
            if status.Status in (0xFF00, 0xFF01):
                answers.append(identifier)
            else:
                final = status.Status
        assert final == 0x0000
        return answers
    finally:
        assoc.release()


def _query(level: str, **keys: Any) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


# --- echo, security ---------------------------------------------------------------------------


def test_echo_from_known_and_unknown_aets(chronicle: ChronicleProcess) -> None:
    for aet in (CALLING, "STRANGER"):
        assoc = _associate(chronicle, [Verification], aet=aet)
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()


def test_wrong_called_aet_is_rejected(chronicle: ChronicleProcess) -> None:
    assoc = _associate(chronicle, [Verification], called="SOMEONEELSE")
    assert assoc.is_rejected


def test_unknown_calling_aet_cannot_store_or_find(chronicle: ChronicleProcess) -> None:
    for context in (CTImageStorage, StudyRootQueryRetrieveInformationModelFind):
        assoc = _associate(chronicle, [context], aet="STRANGER")
        assert assoc.is_rejected


def test_modality_without_allow_find_cannot_query(chronicle: ChronicleProcess) -> None:
    assoc = _associate(chronicle, [StudyRootQueryRetrieveInformationModelFind], aet="NOFIND")
    assert assoc.is_rejected
    assoc = _associate(
        chronicle, [CTImageStorage, StudyRootQueryRetrieveInformationModelFind], aet="NOFIND"
    )
    assert assoc.is_established
    assert [cx.abstract_syntax for cx in assoc.accepted_contexts] == [CTImageStorage]
    assoc.release()


# --- C-STORE ----------------------------------------------------------------------------------


def test_store_corpus_files_records_the_dicom_origin(chronicle: ChronicleProcess) -> None:
    corpus_dir()
    datasets = [dcmread(corpus_path(name)) for name in CORPUS_FILES]
    ae = _ae()
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", chronicle.dicom_port, ae_title=CHRONICLE)  # type: ignore[attr-defined]
    try:
        statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()
    assert statuses == [0x0000] * len(datasets)
    with chronicle.client() as http:
        for ds in datasets:
            instance = _instance_id(ds)
            assert http.get(f"/instances/{instance}").status_code == 200
            metadata = http.get(f"/instances/{instance}/metadata?expand").json()
            assert metadata["RemoteAET"] == CALLING
            assert metadata["CalledAET"] == CHRONICLE
            assert metadata["Origin"] == "DicomProtocol"
            assert metadata["TransferSyntax"] == ds.file_meta.TransferSyntaxUID


def test_store_is_idempotent_and_invalid_files_store_nothing(chronicle: ChronicleProcess) -> None:
    ds = _dataset(make_instance(patient_id="P-INVALID"))
    del ds.StudyInstanceUID  # Orthanc's identifiers are mandatory
    good = _dataset(make_instance(patient_id="P-TWICE"))
    assoc = _associate(chronicle, [CTImageStorage])
    try:
        assert assoc.send_c_store(good).Status == 0x0000
        assert assoc.send_c_store(good).Status == 0x0000
        status = assoc.send_c_store(ds).Status
    finally:
        assoc.release()
    assert status >= 0xA000
    with chronicle.client() as http:
        patients = [p["MainDicomTags"]["PatientID"] for p in http.get("/patients?expand").json()]
    assert "P-INVALID" not in patients
    assert patients.count("P-TWICE") == 1


def test_a_dataset_nested_too_deep_is_refused_and_the_association_goes_on(
    chronicle: ChronicleProcess,
) -> None:
    deep = _dataset(make_instance(patient_id="P-DEEP"))
    item = Dataset()
    for _ in range(200):  # beyond max_sequence_depth (64)
        outer = Dataset()
        outer.ContentSequence = [item]
        item = outer
    deep.ContentSequence = [item]
    after = _dataset(make_instance(patient_id="P-AFTER-DEEP"))
    assoc = _associate(chronicle, [CTImageStorage])
    try:
        assert assoc.send_c_store(deep).Status == 0xC000  # cannot understand
        assert assoc.send_c_store(after).Status == 0x0000
    finally:
        assoc.release()
    with chronicle.client() as http:
        patients = [p["MainDicomTags"]["PatientID"] for p in http.get("/patients?expand").json()]
    assert "P-DEEP" not in patients and "P-AFTER-DEEP" in patients


def test_unknown_sop_class_is_refused_by_default(chronicle: ChronicleProcess) -> None:
    corpus_dir()
    ds = dcmread(corpus_path("UnknownSopClassUid.dcm"))
    assoc = _associate(chronicle, [ds.SOPClassUID])
    assert assoc.is_rejected or not assoc.accepted_contexts
    if assoc.is_established:
        assoc.release()


# --- C-FIND -----------------------------------------------------------------------------------


def test_find_patients_with_wildcards_and_counters(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    query = _query(
        "PATIENT",
        PatientName="qwertz*",
        PatientID="",
        NumberOfPatientRelatedStudies="",
        NumberOfPatientRelatedSeries="",
        NumberOfPatientRelatedInstances="",
        PatientBirthDate="",
    )
    answers = _find(chronicle, query, "patient")
    assert len(answers) == 1
    answer = answers[0]
    assert answer.PatientID == "P-A"
    assert str(answer.PatientName) == "Qwertz^John"
    assert answer.QueryRetrieveLevel == "PATIENT"
    assert answer.RetrieveAETitle == CHRONICLE
    assert (
        answer.NumberOfPatientRelatedStudies,
        answer.NumberOfPatientRelatedSeries,
        answer.NumberOfPatientRelatedInstances,
    ) == (2, 3, 5)
    assert answer.PatientBirthDate == "19800102"


def test_find_patient_with_question_mark_answered_in_the_default_encoding(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    """As Orthanc 1.10.1: every answer is in DefaultEncoding (Latin1 here), whatever the
    stored file's character set (UTF-8 for P-B)."""
    answers = _find(chronicle, _query("PATIENT", PatientID="P-?", PatientName=""), "patient")
    names = {a.PatientID: a for a in answers}
    assert set(names) == {"P-A", "P-B"}
    assert str(names["P-B"].PatientName) == "Müller^Jürgen"
    assert {a.SpecificCharacterSet for a in answers} == {"ISO_IR 100"}


def test_find_studies_by_date_range_and_computed_attributes(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    query = _query(
        "STUDY",
        StudyDate="20240101-20241231",
        StudyInstanceUID="",
        PatientID="P-A",
        ModalitiesInStudy="",
        NumberOfStudyRelatedSeries="",
        NumberOfStudyRelatedInstances="",
        SOPClassesInStudy="",
        StudyDescription="",
        InstitutionName="",
    )
    answers = {a.StudyInstanceUID: a for a in _find(chronicle, query)}
    assert set(answers) == {STUDY_A, STUDY_C}
    study = answers[STUDY_A]
    assert list(study.ModalitiesInStudy) == ["CT", "MR"]
    assert (study.NumberOfStudyRelatedSeries, study.NumberOfStudyRelatedInstances) == (2, 4)
    assert study.SOPClassesInStudy == CTImageStorage
    assert study.InstitutionName == ""
    assert answers[STUDY_C].StudyDescription == "third"
    assert study.SpecificCharacterSet == "ISO_IR 100"
    open_ended = _query("STUDY", StudyDate="20240201-", StudyInstanceUID="")
    assert [a.StudyInstanceUID for a in _find(chronicle, open_ended)] == [STUDY_C]
    until = _query("STUDY", StudyDate="-20231231", PatientID="P-?", StudyInstanceUID="")
    assert [a.StudyInstanceUID for a in _find(chronicle, until)] == [STUDY_B]


def test_find_studies_by_modalities_in_study(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    query = _query("STUDY", ModalitiesInStudy="MR", PatientID="P-*", StudyInstanceUID="")
    answers = _find(chronicle, query)
    assert [a.StudyInstanceUID for a in answers] == [STUDY_A]
    assert list(answers[0].ModalitiesInStudy) == ["CT", "MR"]
    listed = _query("STUDY", ModalitiesInStudy=["MR", "US"], PatientID="P-A", StudyInstanceUID="")
    assert [a.StudyInstanceUID for a in _find(chronicle, listed)] == [STUDY_A]


def test_find_series_with_uid_list_and_wildcard(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    query = _query(
        "SERIES",
        StudyInstanceUID=[STUDY_A, STUDY_B],
        Modality="C?",
        SeriesInstanceUID="",
        NumberOfSeriesRelatedInstances="",
    )
    answers = {a.SeriesInstanceUID: a for a in _find(chronicle, query)}
    assert set(answers) == {SERIES_A1, SERIES_B1}
    assert answers[SERIES_A1].NumberOfSeriesRelatedInstances == 3
    assert answers[SERIES_B1].NumberOfSeriesRelatedInstances == 2
    case_sensitive = _query("SERIES", StudyInstanceUID=STUDY_A, Modality="ct", SeriesInstanceUID="")
    assert _find(chronicle, case_sensitive) == []


def test_find_instances(chronicle: ChronicleProcess, stored: list[Dataset]) -> None:
    wanted = [ds.SOPInstanceUID for ds in stored[:2]]
    query = _query(
        "IMAGE",
        StudyInstanceUID=STUDY_A,
        SeriesInstanceUID=SERIES_A1,
        SOPInstanceUID=wanted,
        InstanceNumber="",
        SOPClassUID="",
        PatientName="",
    )
    answers = _find(chronicle, query)
    assert [a.SOPInstanceUID for a in answers] == wanted
    assert [a.InstanceNumber for a in answers] == [1, 2]
    assert {a.SOPClassUID for a in answers} == {CTImageStorage}
    assert {str(a.PatientName) for a in answers} == {"Qwertz^John"}
    everything = _query("IMAGE", SeriesInstanceUID=SERIES_A1, SOPInstanceUID="")
    assert len(_find(chronicle, everything)) == 3


def test_find_refuses_a_missing_level(chronicle: ChronicleProcess, stored: list[Dataset]) -> None:
    assoc = _associate(chronicle, [StudyRootQueryRetrieveInformationModelFind])
    query = Dataset()
    query.PatientID = ""
    statuses = [
        s.Status for s, _ in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind)
    ]
    assoc.release()
    assert statuses == [0xC000]  # as Orthanc: unable to process


def test_find_levels_as_orthanc_accepts_them_and_echoes_them(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    for level in ("IMAGES", "image", "Instances"):
        query = _query(level, SeriesInstanceUID=SERIES_A1, SOPInstanceUID="")
        answers = _find(chronicle, query)
        assert len(answers) == 3, level
        assert {a.QueryRetrieveLevel for a in answers} == {level}
    studies = _find(chronicle, _query("studies", PatientID="P-A", StudyInstanceUID=""))
    assert {a.StudyInstanceUID for a in studies} == {STUDY_A, STUDY_C}
    assert _find_statuses(chronicle, _query("FOO", PatientID="P-A")) == [0xC000]


def test_find_counters_of_another_level_are_answered_empty(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    query = _query(
        "SERIES",
        SeriesInstanceUID=SERIES_A1,
        NumberOfPatientRelatedStudies="",
        NumberOfStudyRelatedInstances="",
        ModalitiesInStudy="",
        NumberOfSeriesRelatedInstances="",
    )
    (answer,) = _find(chronicle, query)
    assert answer.NumberOfSeriesRelatedInstances == 3
    for keyword in ("NumberOfPatientRelatedStudies", "NumberOfStudyRelatedInstances",
                    "ModalitiesInStudy"):  # fmt: skip
        assert keyword in answer and answer[keyword].value in (None, ""), keyword


def test_find_refuses_wildcards_where_orthanc_does(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    for constraint in ({"StudyDate": "*"}, {"StudyDate": "2024*"}, {"StudyInstanceUID": "1.2*"}):
        assert _find_statuses(chronicle, _query("STUDY", **constraint)) == [0xC000], constraint
    assert _find(chronicle, _query("STUDY", StudyDate="20240101-", StudyInstanceUID=""))


def test_find_on_attributes_that_are_not_main_tags(chronicle: ChronicleProcess) -> None:
    """As Orthanc 1.10.1 (StorageAccessOnFind "Always"): an attribute that is not a main tag
    (Rows) is matched and answered from one instance's tags at every level; without one, a
    lower level's main tag (StationName at STUDY level) is answered empty and matches nothing."""
    study, series = "1.2.840.99.7.1", "1.2.840.99.7.1.1"
    made = [
        _dataset(
            make_instance("NONMAIN", study, series, f"{series}.{n}", size=16), StationName="NP"
        )
        for n in (1, 2)
    ]
    assoc = _associate(chronicle, [CTImageStorage])
    try:
        assert all(assoc.send_c_store(ds).Status == 0x0000 for ds in made)
    finally:
        assoc.release()

    images = _find(chronicle, _query("IMAGE", PatientID="NONMAIN", Rows="", StationName=""))
    assert [(a.Rows, a.StationName) for a in images] == [(16, "NP"), (16, "NP")]
    assert len(_find(chronicle, _query("IMAGE", PatientID="NONMAIN", Rows=16))) == 2
    assert _find(chronicle, _query("IMAGE", PatientID="NONMAIN", Rows=42)) == []
    (series_answer,) = _find(chronicle, _query("SERIES", PatientID="NONMAIN", Rows=""))
    assert series_answer.Rows == 16
    (study_answer,) = _find(chronicle, _query("STUDY", PatientID="NONMAIN", StationName=""))
    assert study_answer.StationName in (None, "")
    assert _find(chronicle, _query("STUDY", PatientID="NONMAIN", StationName="NP")) == []
    (read,) = _find(chronicle, _query("STUDY", PatientID="NONMAIN", StationName="", Rows=""))
    assert (read.StationName, read.Rows) == ("NP", 16)  # answered from an instance's tags
    still = _query("STUDY", PatientID="NONMAIN", StationName="NP", Rows="")
    assert _find(chronicle, still) == []  # only main tags constrained: Orthanc's "case 1"
    (matched,) = _find(chronicle, _query("STUDY", PatientID="NONMAIN", StationName="NP", Rows=16))
    assert matched.StationName == "NP"


def _find_statuses(chronicle: ChronicleProcess, query: Dataset) -> list[int]:
    assoc = _associate(chronicle, [StudyRootQueryRetrieveInformationModelFind])
    try:
        found = assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind)
        return [s.Status for s, _ in found if s.Status not in (0xFF00, 0xFF01)]
    finally:
        assoc.release()


# --- C-MOVE, C-GET ----------------------------------------------------------------------------


def _move(
    chronicle: ChronicleProcess, query: Dataset, destination: str, model: str = "study"
) -> list[Dataset]:
    context = {
        "study": StudyRootQueryRetrieveInformationModelMove,
        "patient": PatientRootQueryRetrieveInformationModelMove,
    }[model]
    assoc = _associate(chronicle, [context])
    assert assoc.is_established
    try:
        return [status for status, _ in assoc.send_c_move(query, destination, context)]
    finally:
        assoc.release()


def test_move_a_study_to_a_known_modality(
    chronicle: ChronicleProcess, stored: list[Dataset], destination: StorageSCP
) -> None:
    destination.received.clear()
    responses = _move(chronicle, _query("STUDY", StudyInstanceUID=STUDY_A), "DEST")
    final = responses[-1]
    assert final.Status == 0x0000
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (4, 0)
    assert [r.Status for r in responses[:-1]] == [0xFF00] * 4
    sent = {ds.SOPInstanceUID: ds for ds in stored if ds.StudyInstanceUID == STUDY_A}
    assert set(destination.received) == set(sent)
    with chronicle.client() as http:
        for uid, data in destination.received.items():
            original = http.get(f"/instances/{_instance_id(sent[uid])}/file").content
            assert _dataset_bytes(data) == _dataset_bytes(original)
        audit = http.get("/exports/audit").json()
        listed = http.get("/exports").json()["Exports"]
    moved = [e for e in audit if e["SOPInstanceUID"] in sent]
    assert len(moved) == 4
    assert {(e["Destination"], e["Status"], e["Channel"]) for e in moved} == {
        ("dest", "Success", "DICOM")
    }
    assert not [e for e in listed if e["RemoteModality"] == "dest"]  # Orthanc logs no C-MOVE


def _dataset_bytes(file_bytes: bytes) -> bytes:
    """The dataset after the file meta information."""
    stream = io.BytesIO(file_bytes)
    read_preamble(stream, False)
    _read_file_meta_info(stream)
    return file_bytes[stream.tell() :]


def test_move_to_an_unknown_destination_fails_with_a801(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    responses = _move(chronicle, _query("STUDY", StudyInstanceUID=STUDY_A), "NOWHERE")
    assert responses[-1].Status == 0xA801


def test_move_to_a_refusing_destination_reports_every_failure(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    query = _query("SERIES", StudyInstanceUID=STUDY_B, SeriesInstanceUID=SERIES_B1)
    context = PatientRootQueryRetrieveInformationModelMove
    assoc = _associate(chronicle, [context])
    try:
        responses = list(assoc.send_c_move(query, "REFUSER", context))
    finally:
        assoc.release()
    final, identifier = responses[-1]
    assert final.Status == 0xA702
    assert final.NumberOfFailedSuboperations == 2
    expected = {ds.SOPInstanceUID for ds in stored if ds.SeriesInstanceUID == SERIES_B1}
    assert set(identifier.FailedSOPInstanceUIDList) == expected
    with chronicle.client() as http:
        audit = http.get("/exports/audit").json()
    failed = [e for e in audit if e["Destination"] == "refuser"]
    assert len(failed) == 2
    assert {e["Status"] for e in failed} == {"Failure"}


def test_get_a_series(chronicle: ChronicleProcess, stored: list[Dataset]) -> None:
    received: dict[str, Dataset] = {}

    def on_store(event: Any) -> int:
        received[event.request.AffectedSOPInstanceUID] = event.dataset
        return 0x0000

    ae = _ae()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
    roles = [build_role(CTImageStorage, scp_role=True)]
    assoc = ae.associate(
        "127.0.0.1",
        chronicle.dicom_port,  # type: ignore[attr-defined]
        ae_title=CHRONICLE,
        ext_neg=roles,
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established
    try:
        query = _query("SERIES", StudyInstanceUID=STUDY_A, SeriesInstanceUID=SERIES_A1)
        responses = [
            s for s, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet)
        ]
    finally:
        assoc.release()
    final = responses[-1]
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == 3
    expected = {ds.SOPInstanceUID: ds for ds in stored if ds.SeriesInstanceUID == SERIES_A1}
    assert set(received) == set(expected)
    for uid, ds in received.items():
        assert ds.PixelData == expected[uid].PixelData
        assert ds.PatientName == expected[uid].PatientName


# --- DCMTK ------------------------------------------------------------------------------------


def _dcmtk(tool: str) -> str:
    path = f"/usr/bin/{tool}"
    if not os.path.exists(path) or shutil.which(path) is None:
        pytest.skip(f"DCMTK {tool} is not installed")
    return path


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TCP_NODELAY": "1"},
        check=False,
    )


def _endpoint(chronicle: ChronicleProcess) -> list[str]:
    return ["-aet", CALLING, "-aec", CHRONICLE, "127.0.0.1", str(chronicle.dicom_port)]  # type: ignore[attr-defined]


def _getscu(
    chronicle: ChronicleProcess, output: Path, ds: Dataset
) -> subprocess.CompletedProcess[str]:
    """DCMTK getscu (its default contexts) for one instance, into `output`."""
    return _run(
        _dcmtk("getscu"), "-S", "-od", str(output), "-k", "QueryRetrieveLevel=IMAGE",
        "-k", f"StudyInstanceUID={ds.StudyInstanceUID}",
        "-k", f"SeriesInstanceUID={ds.SeriesInstanceUID}",
        "-k", f"SOPInstanceUID={ds.SOPInstanceUID}", *_endpoint(chronicle),
    )  # fmt: skip


def test_dcmtk_echo_store_find_move_get(
    chronicle: ChronicleProcess,
    stored: list[Dataset],
    destination: StorageSCP,
    tmp_path: Path,
) -> None:
    echo = _run(_dcmtk("echoscu"), *_endpoint(chronicle))
    assert echo.returncode == 0, echo.stderr

    path = tmp_path / "one.dcm"
    path.write_bytes(make_instance(patient_id="P-DCMTK", patient_name="Dcmtk^Test"))
    store = _run(_dcmtk("storescu"), *_endpoint(chronicle), str(path))
    assert store.returncode == 0, store.stderr
    uid = dcmread(path).SOPInstanceUID

    find = _run(
        _dcmtk("findscu"), "-S", "+sr", "-k", "QueryRetrieveLevel=IMAGE", "-k", "PatientID=P-DCMTK",
        "-k", "SOPInstanceUID", *_endpoint(chronicle),
    )  # fmt: skip
    assert find.returncode == 0, find.stderr
    assert uid in find.stderr + find.stdout

    destination.received.clear()
    move = _run(
        _dcmtk("movescu"), "-S", "-aem", "DEST", "-k", "QueryRetrieveLevel=STUDY",
        "-k", f"StudyInstanceUID={dcmread(path).StudyInstanceUID}", *_endpoint(chronicle),
    )  # fmt: skip
    assert move.returncode == 0, move.stderr
    assert set(destination.received) == {uid}

    output = tmp_path / "got"
    output.mkdir()
    get = _getscu(chronicle, output, dcmread(path))
    assert get.returncode == 0, get.stderr
    files = list(output.iterdir())
    assert len(files) == 1
    assert dcmread(files[0]).SOPInstanceUID == uid


def test_getscu_receives_explicit_little_endian_as_from_orthanc(
    chronicle: ChronicleProcess, tmp_path: Path
) -> None:
    """getscu proposes Explicit LE, Big Endian and Implicit LE in one context; Orthanc accepts
    Explicit LE first, so even a file stored as Implicit VR arrives as Explicit VR."""
    implicit = corpus_path("TransferSyntaxes/1.2.840.10008.1.2.dcm")
    with chronicle.client() as http:
        assert http.post("/instances", content=implicit.read_bytes()).status_code == 200
    ds = dcmread(implicit, force=True)
    output = tmp_path / "got-explicit"
    output.mkdir()
    get = _getscu(chronicle, output, ds)
    assert get.returncode == 0, get.stderr
    (received,) = [dcmread(path) for path in output.iterdir()]
    assert received.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert received.SOPInstanceUID == ds.SOPInstanceUID
    assert received.PixelData == ds.PixelData


def test_a_c_stored_instance_has_orthancs_metadata(
    chronicle: ChronicleProcess, stored: list[Dataset]
) -> None:
    """As Orthanc 1.10.1 for a C-STORE: CalledAET and RemoteAET, no HttpUsername at all."""
    with chronicle.client() as http:
        instance = _instance_id(stored[0])
        names = http.get(f"/instances/{instance}/metadata").json()
        assert names == [
            "IndexInSeries", "ReceptionDate", "RemoteAET", "Origin", "TransferSyntax",
            "SopClassUid", "RemoteIP", "CalledAET", "PixelDataOffset",
        ]  # fmt: skip
        values = http.get(f"/instances/{instance}/metadata", params={"expand": ""}).json()
        assert (values["RemoteAET"], values["CalledAET"]) == (CALLING, CHRONICLE)
        assert values["Origin"] == "DicomProtocol" and values["RemoteIP"] == "127.0.0.1"
        absent = http.get(f"/instances/{instance}/metadata/HttpUsername")
        assert (absent.status_code, absent.content) == (404, b"")


def test_asynchronous_c_move_runs_as_a_job_clients_can_follow(
    tmp_path: Path, database_url: str, destination: StorageSCP
) -> None:
    """Orthanc 1.10.1 with SynchronousCMove false: the SCU gets a final Success at once, and a
    DicomModalityStore job (Description "C-MOVE") sends the instances."""
    config = tmp_path / "orthanc.json"
    config.write_text(
        json.dumps(
            {
                "DicomAet": CHRONICLE,
                "SynchronousCMove": False,
                "DicomModalities": {
                    "tester": {"AET": CALLING, "Host": "127.0.0.1", "Port": 104},
                    "dest": destination.modality(),
                },
            }
        )
    )
    port = free_port()
    process = ChronicleProcess(
        tmp_path / "data", database_url, "--config", str(config), "--dicom-port", str(port)
    )
    process.dicom_port = port  # type: ignore[attr-defined]
    process.start()
    try:
        instances = [ds for ds in synthetic_instances() if ds.StudyInstanceUID == STUDY_A]
        assoc = _associate(process, [CTImageStorage])
        for ds in instances:
            assert assoc.send_c_store(ds).Status == 0x0000
        assoc.release()
        destination.received.clear()
        responses = _move(process, _query("STUDY", StudyInstanceUID=STUDY_A), "DEST")
        assert [r.Status for r in responses] == [0x0000]  # no Pending: the job does the work
        with process.client() as http:
            (job,) = http.get("/jobs", params={"expand": ""}).json()
            for _ in range(600):
                if job["State"] in ("Success", "Failure"):
                    break
                time.sleep(0.05)
                job = http.get(f"/jobs/{job['ID']}").json()
            assert (job["Type"], job["State"]) == ("DicomModalityStore", "Success")
            assert job["Content"] == {
                "Description": "C-MOVE",
                "FailedInstancesCount": 0,
                "InstancesCount": len(instances),
                "LocalAet": CHRONICLE,
                "MoveOriginatorAET": CALLING,
                "MoveOriginatorID": 1,
                "RemoteAet": "DEST",
            }
            assert http.get("/exports").json()["Exports"] == []  # Orthanc logs no C-MOVE
        assert set(destination.received) == {ds.SOPInstanceUID for ds in instances}
    finally:
        process.stop()


def test_unknown_sop_classes_and_unknown_aets_when_configured(
    tmp_path: Path, database_url: str
) -> None:
    corpus_dir()
    config = tmp_path / "orthanc.json"
    config.write_text(json.dumps({"UnknownSopClassAccepted": True, "DicomAlwaysAllowStore": True}))
    port = free_port()
    process = ChronicleProcess(
        tmp_path / "data", database_url, "--config", str(config), "--dicom-port", str(port)
    )
    process.dicom_port = port  # type: ignore[attr-defined]
    process.start()
    try:
        ds = dcmread(corpus_path("UnknownSopClassUid.dcm"))
        assoc = _associate(process, [ds.SOPClassUID], aet="ANYONE")
        assert assoc.is_established
        assert assoc.send_c_store(ds).Status == 0x0000
        assoc.release()
        with process.client() as http:
            instance = http.get(f"/instances/{_instance_id(ds)}/metadata?expand").json()
        assert instance["SopClassUid"] == ds.SOPClassUID
        assert instance["RemoteAET"] == "ANYONE"
    finally:
        process.stop()


def test_find_wildcard_matches_only_present_tags_and_never_answers_file_meta(
    chronicle: ChronicleProcess,
) -> None:
    """As Orthanc: `PatientSex=*` leaves out a patient without PatientSex, and (0002,xxxx)
    keys in an identifier are not answered."""
    with_sex = _dataset(make_instance(patient_id="WILD-1"))
    without_sex = _dataset(make_instance(patient_id="WILD-2"))
    del without_sex.PatientSex
    assoc = _associate(chronicle, [CTImageStorage])
    try:
        assert assoc.send_c_store(with_sex).Status == 0x0000
        assert assoc.send_c_store(without_sex).Status == 0x0000
    finally:
        assoc.release()
    query = _query("PATIENT", PatientID="WILD-*", PatientSex="*")
    answers = _find(chronicle, query, "patient")
    assert [(a.PatientID, a.PatientSex) for a in answers] == [("WILD-1", "O")]
    everyone = _find(chronicle, _query("PATIENT", PatientID="WILD-*", PatientSex=""), "patient")
    assert sorted(a.PatientID for a in everyone) == ["WILD-1", "WILD-2"]
    query = _query("PATIENT", PatientID="WILD-1")
    query.add_new(0x00020010, "UI", "")  # TransferSyntaxUID
    [answer] = _find(chronicle, query, "patient")
    assert not [element for element in answer if element.tag.group == 0x0002]


def test_move_sends_compressed_files_as_received(
    chronicle: ChronicleProcess, stored: list[Dataset], destination: StorageSCP
) -> None:
    """Files stored compressed (POST .../attachments/dicom/compress) are sent decompressed."""
    sent = {ds.SOPInstanceUID: ds for ds in stored if ds.StudyInstanceUID == STUDY_A}
    with chronicle.client() as http:
        originals = {
            uid: http.get(f"/instances/{_instance_id(ds)}/file").content for uid, ds in sent.items()
        }
        for ds in sent.values():
            url = f"/instances/{_instance_id(ds)}/attachments/dicom/compress"
            assert http.post(url).status_code == 200
    destination.received.clear()
    responses = _move(chronicle, _query("STUDY", StudyInstanceUID=STUDY_A), "DEST")
    assert responses[-1].Status == 0x0000
    assert responses[-1].NumberOfCompletedSuboperations == len(sent)
    assert set(destination.received) == set(sent)
    for uid, data in destination.received.items():
        assert _dataset_bytes(data) == _dataset_bytes(originals[uid])
