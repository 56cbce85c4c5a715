"""Private tags named as Orthanc 1.10.1 names them (captured on this machine with the same two
files): by DCMTK's dictionary, and by the `Dictionary` configuration option, which also types
an implicit-VR element; `DefaultPrivateCreator` changes nothing in /tags."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, SecondaryCaptureImageStorage

from domain.dicom_text import configured_private_entries
from tests.support.server import ChronicleProcess

PET_CT_NAME = {"00e1,10c2": ["UI", "PET-CT Multi Modality Name", 1, 1, "ELSCINT1"]}


def private_file(syntax: str, series: str) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = f"1.2.3.4.5.800.{series}.1"
    ds.Modality = "OT"
    ds.PatientName = "Private^Tags"
    ds.PatientID = "PPRIV"
    ds.StudyInstanceUID = "1.2.3.4.5.800"
    ds.SeriesInstanceUID = f"1.2.3.4.5.800.{series}"
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291008, "CS", "IMAGE NUM 4")
    ds.add_new(0x00E10010, "LO", "ELSCINT1")
    ds.add_new(0x00E110C2, "LO", "abc")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def private_tags(client: httpx.Client, data: bytes) -> dict[str, Any]:
    instance = client.post("/instances", content=data).json()["ID"]
    tags = client.get(f"/instances/{instance}/tags").json()
    return {key: value for key, value in tags.items() if key[:4] in ("0029", "00e1")}


def creators(value: str) -> dict[str, Any]:
    return {"Name": "PrivateCreator", "Type": "String", "Value": value}


CSA = {
    "Name": "CSAImageHeaderType",
    "PrivateCreator": "SIEMENS CSA HEADER",
    "Type": "String",
    "Value": "IMAGE NUM 4",
}


@pytest.fixture
def configured(tmp_path: Path, database_url: str) -> Iterator[httpx.Client]:
    config = tmp_path / "orthanc.json"
    config.write_text(json.dumps({"Dictionary": PET_CT_NAME, "DefaultPrivateCreator": "ELSCINT1"}))
    process = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    process.start()
    try:
        with process.client() as client:
            yield client
    finally:
        process.stop()


def test_configured_private_tags_are_named_and_typed(configured: httpx.Client) -> None:
    named = {
        "Name": "PET-CT Multi Modality Name",
        "PrivateCreator": "ELSCINT1",
        "Type": "String",
        "Value": "abc",
    }
    for syntax, series in ((ExplicitVRLittleEndian, "1"), (ImplicitVRLittleEndian, "2")):
        assert private_tags(configured, private_file(syntax, series)) == {
            "0029,0010": creators("SIEMENS CSA HEADER"),
            "0029,1008": CSA,
            "00e1,0010": creators("ELSCINT1"),
            "00e1,10c2": named,
        }, syntax
    instance = configured.get("/instances").json()[-1]
    simplified = configured.get(f"/instances/{instance}/tags", params={"simplify": ""}).json()
    assert simplified["PET-CT Multi Modality Name"] == "abc"
    assert simplified["PrivateCreator"] == "ELSCINT1"  # the last creator, as in Orthanc


def test_without_the_option_an_implicit_unknown_private_tag_is_null(
    server: ChronicleProcess,
) -> None:
    with server.client() as client:
        tags = private_tags(client, private_file(ImplicitVRLittleEndian, "2"))
    assert tags["00e1,10c2"] == {
        "Name": "Unknown Tag & Data",
        "PrivateCreator": "ELSCINT1",
        "Type": "Null",
        "Value": None,
    }
    assert tags["0029,1008"] == CSA


def test_dictionary_entries_orthanc_refuses() -> None:
    with pytest.raises(ValueError, match="public group"):
        configured_private_entries({"0010,1234": ["LO", "Mine", 1, 1, "ME"]})
    with pytest.raises(ValueError, match="expected"):
        configured_private_entries({"00e1,10c2": "UI"})
    assert configured_private_entries({"0010,1234": ["LO", "Public"]}) == {}
