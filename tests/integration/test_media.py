"""DICOMDIR media through HTTP: the answers Orthanc 1.10.1 gave to the same requests on the
same files (tests/fixtures/orthanc/media_cases.json, captured by capture_media.py) replayed
against Chronicle and recorded with the capture's own record(): the ZIP's entries and their
bytes, every record of the DICOMDIR (offsets and the writer's names aside), the errors and the
asynchronous job. Then what the capture cannot show: the DICOMDIR's offsets and file
references hold, read back as a file set by pydicom."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.fileset import FileSet

from adapters.database import DatabaseAddress
from tests.support.capture_scripts import CAPTURES, capture_script
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, upload_accepted

CASES = json.loads((CAPTURES / "media_cases.json").read_text())["cases"]
media = capture_script("capture_media")
SIZES = ("ArchiveSize", "ArchiveSizeMB")  # the DICOMDIRs differ in their writer's names


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    url = fresh_database(postgres, f"chronicle_test_media_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("media") / "data", url)
    with server, server.client() as client:
        for data in media.files().values():
            upload_accepted(client, data)
        yield server


def _comparable(case: dict[str, Any]) -> dict[str, Any]:
    case = dict(case)
    if case["job"] is not None:
        content = {k: v for k, v in case["job"]["Content"].items() if k not in SIZES}
        case["job"] = {**case["job"], "Content": content}
    if case["error"] is not None or case["job"] is not None:
        case.pop("content_type")  # Orthanc's errors have no type; its JSON names a charset
    return case


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(map(str, case["request"])))
def test_media_answers_as_orthanc(stored: ChronicleProcess, case: dict[str, Any]) -> None:
    with stored.client() as client:
        answer = media.record(client, *case["request"])
    if case["error"] is not None or case["job"] is not None:
        assert answer["content_type"] == "application/json"
    assert _comparable(answer) == _comparable(case)


def test_a_media_reads_back_as_a_file_set(stored: ChronicleProcess, tmp_path: Path) -> None:
    """Unzipped, the DICOMDIR loads as a pydicom FileSet (which follows every offset): one
    instance per file, each naming the file that holds it."""
    ids = media.ids()
    body = [ids["ct1_patient"], ids["german"], ids["nodate_study"]]
    with stored.client() as client:
        answer = client.post("/tools/create-media-extended", json=body)
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        archive.extractall(tmp_path)
    file_set = FileSet(tmp_path / "DICOMDIR")
    assert len(file_set) == 7
    assert {str(p) for p in file_set.find_values("PatientID")} == {"MOD-1", "SCSGERM", "MEDIA-2"}
    for instance in file_set:
        ds = instance.load()
        assert ds.SOPInstanceUID == instance.ReferencedSOPInstanceUIDInFile
        assert Path(instance.path).relative_to(tmp_path).parts[0] == "IMAGES"
    series = [r for r in pydicom.dcmread(tmp_path / "DICOMDIR").DirectoryRecordSequence]
    described = {r.SeriesInstanceUID: r.get("SeriesDescription") for r in series if "Modality" in r}
    assert described[pydicom.dcmread(io.BytesIO(media.files()["mr1"])).SeriesInstanceUID] == "T1"
