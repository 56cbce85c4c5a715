"""The settings REST changes while the server runs (/tools/default-encoding,
/tools/accepted-transfer-syntaxes, /tools/unknown-sop-class-accepted): the DICOM server and the
reads honour them at once, every process of the archive sees them, and they outlive a restart
until the configuration file changes them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from tests.support.corpus import corpus_path
from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess, free_port
from tests.support.waiting import eventually

CHRONICLE = "CHRONICLE"
CALLING = "TESTER"


def _config(path: Path, **options: Any) -> Path:
    config = {
        "DicomAet": CHRONICLE,
        "DicomModalities": {"tester": {"AET": CALLING, "Host": "127.0.0.1", "Port": 104}},
        **options,
    }
    path.write_text(json.dumps(config))
    return path


def _process(root: Path, database_url: str, config: Path) -> ChronicleProcess:
    port = free_port()
    process = ChronicleProcess(
        root / "data", database_url, "--config", str(config), "--dicom-port", str(port)
    )
    process.dicom_port = port
    return process


@pytest.fixture
def chronicle(tmp_path: Path, database_url: str) -> Iterator[ChronicleProcess]:
    process = _process(tmp_path, database_url, _config(tmp_path / "orthanc.json"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _associate(chronicle: ChronicleProcess, sop_class: str, syntax: str) -> Any:
    ae = AE(ae_title=CALLING)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(sop_class, [syntax])
    return ae.associate("127.0.0.1", chronicle.dicom_port, ae_title=CHRONICLE)


def _accepts(chronicle: ChronicleProcess, sop_class: str, syntax: str) -> bool:
    assoc = _associate(chronicle, sop_class, syntax)
    accepted = assoc.is_established and bool(assoc.accepted_contexts)
    if assoc.is_established:
        assoc.release()
    return accepted


def test_accepted_transfer_syntaxes_apply_to_the_next_association(
    chronicle: ChronicleProcess,
) -> None:
    with chronicle.client() as http:
        assert _accepts(chronicle, CTImageStorage, ExplicitVRLittleEndian)
        answer = http.put("/tools/accepted-transfer-syntaxes", json=[ImplicitVRLittleEndian])
        assert answer.json() == [ImplicitVRLittleEndian]
        assert not _accepts(chronicle, CTImageStorage, ExplicitVRLittleEndian)
        assert _accepts(chronicle, CTImageStorage, ImplicitVRLittleEndian)
        assert http.put("/tools/accepted-transfer-syntaxes", content=b"*").status_code == 200
        assert _accepts(chronicle, CTImageStorage, ExplicitVRLittleEndian)


def test_unknown_sop_classes_are_stored_once_accepted(chronicle: ChronicleProcess) -> None:
    ds = dcmread(corpus_path("UnknownSopClassUid.dcm"))
    syntax = ds.file_meta.TransferSyntaxUID
    assert not _accepts(chronicle, ds.SOPClassUID, syntax)
    with chronicle.client() as http:
        assert http.put("/tools/unknown-sop-class-accepted", content=b"1").status_code == 200
        assoc = _associate(chronicle, ds.SOPClassUID, syntax)
        try:
            assert assoc.send_c_store(ds).Status == 0x0000
        finally:
            assoc.release()
        assert http.get("/instances").json() != []
        assert http.put("/tools/unknown-sop-class-accepted", content=b"false").status_code == 200
        assert http.get("/tools/unknown-sop-class-accepted").text == "0"
    assert not _accepts(chronicle, ds.SOPClassUID, syntax)


def _without_character_set(name: bytes, patient_id: str = "P-ENC") -> bytes:
    """An instance without SpecificCharacterSet whose PatientName holds raw bytes."""
    ds = dcmread(io.BytesIO(make_instance(patient_id)))
    del ds.SpecificCharacterSet
    ds.PatientName = name.decode("latin-1")  # stored byte for byte
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _patient_name(http: httpx.Client, instance_id: str) -> str:
    tags = http.get(f"/instances/{instance_id}/simplified-tags").json()
    return str(tags["PatientName"])


def test_default_encoding_decodes_files_without_a_character_set(
    chronicle: ChronicleProcess,
) -> None:
    with chronicle.client() as http:
        stored = http.post("/instances", content=_without_character_set("Müller".encode()))
        instance = stored.json()["ID"]
        assert _patient_name(http, instance) == "MÃ¼ller"  # UTF-8 bytes read as Latin1
        assert http.put("/tools/default-encoding", content=b"utf8").text == "Utf8"
        assert _patient_name(http, instance) == "Müller"
        refused = http.put("/tools/default-encoding", content=b"Klingon")
        assert refused.status_code == 400
        assert http.get("/tools/default-encoding").text == "Utf8"
        # Files stored from now on are indexed with it too (the earlier one keeps its tags
        # until /reconstruct reads it again).
        later = http.post("/instances", content=_without_character_set("Zoë".encode(), "P-ENC2"))
        patient = http.get(f"/patients/{later.json()['ParentPatient']}").json()
        assert patient["MainDicomTags"]["PatientName"] == "Zoë"


def test_every_process_sees_a_change_and_it_outlives_a_restart(
    tmp_path: Path, database_url: str
) -> None:
    config = _config(tmp_path / "orthanc.json")
    first = _process(tmp_path / "first", database_url, config)
    second = _process(tmp_path / "second", database_url, config)
    first.start()
    second.start()
    try:
        with first.client() as a, second.client() as b:
            assert a.put("/tools/default-encoding", content=b"Latin2").status_code == 200
            assert eventually(lambda: b.get("/tools/default-encoding").text == "Latin2")
        second.stop()
        second.start()  # the file still says what it said: REST's value stays
        with second.client() as b:
            assert b.get("/tools/default-encoding").text == "Latin2"
        second.stop()
        _config(config, DefaultEncoding="Utf8")
        second.start()  # the file changed: its value applies, in every process
        with first.client() as a, second.client() as b:
            assert b.get("/tools/default-encoding").text == "Utf8"
            assert eventually(lambda: a.get("/tools/default-encoding").text == "Utf8")
    finally:
        second.stop()
        first.stop()


def test_prometheus_metrics_count_the_archive_and_can_be_switched_off(
    chronicle: ChronicleProcess,
) -> None:
    with chronicle.client() as http:
        http.post("/instances", content=make_instance("P-METRICS"))
        lines = http.get("/tools/metrics-prometheus").text.splitlines()
        values = {line.split()[0]: line.split()[1] for line in lines}
        statistics = http.get("/statistics").json()
        assert values["orthanc_count_instances"] == str(statistics["CountInstances"]) == "1"
        assert values["orthanc_count_patients"] == "1"
        assert float(values["orthanc_disk_size_mb"]) * 1024 * 1024 == pytest.approx(
            int(statistics["TotalDiskSize"]), abs=1
        )
        assert int(values["orthanc_last_change"]) > 0
        assert http.put("/tools/metrics", content=b"0").status_code == 200
        assert http.get("/tools/metrics-prometheus").content == b""
        assert http.get("/tools/metrics").text == "0"


def test_the_conformance_statement_lists_what_the_server_accepts(
    chronicle: ChronicleProcess,
) -> None:
    with chronicle.client() as http:
        before = http.get("/tools/dicom-conformance").text
        assert f"| {CTImageStorage}" in before and f"| {ExplicitVRLittleEndian}" in before
        http.put("/tools/accepted-transfer-syntaxes", json=[ImplicitVRLittleEndian])
        after = http.get("/tools/dicom-conformance").text
    assert f"| {ExplicitVRLittleEndian}" not in after and f"| {ImplicitVRLittleEndian}" in after


def test_log_levels_per_category(chronicle: ChronicleProcess) -> None:
    with chronicle.client() as http:
        assert http.put("/tools/log-level-dicom", content=b"trace").status_code == 200
        assert http.get("/tools/log-level-dicom").text == "trace"
        assert http.get("/tools/log-level").text == "default"
        assert http.put("/tools/log-level", content=b"verbose").status_code == 200
        assert http.get("/tools/log-level-dicom").text == "verbose"
        assert http.get("/tools/log-level-nope").status_code == 404


def test_reset_reads_the_configuration_again_and_shutdown_stops(
    tmp_path: Path, database_url: str
) -> None:
    config = _config(tmp_path / "orthanc.json", Name="before")
    process = _process(tmp_path, database_url, config)
    process.start()
    try:
        with process.client() as http:
            assert http.get("/system").json()["Name"] == "before"
            _config(config, Name="after")
            assert http.post("/tools/reset").json() == {}
        with process.client() as http:

            def renamed() -> bool:
                try:
                    return bool(http.get("/system").json()["Name"] == "after")
                except httpx.TransportError:  # between the stop and the start
                    return False

            assert eventually(renamed)
            assert http.post("/tools/shutdown").json() == {}
        assert process.process is not None
        assert process.process.wait(timeout=60) == 0
    finally:
        process.stop()
