"""POST /tools/create-dicom through HTTP: the answers Orthanc 1.10.1 gave to the same requests
(tests/fixtures/orthanc/create_dicom_cases.json, captured by capture_create_dicom.py) replayed
against Chronicle and recorded with the capture's own record(): each created file element by
element (new UIDs and IDs labelled, the times of creation as "<now>"), the answers and the
errors. Then what the capture cannot show: a series whose last image is bad stores nothing."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from typing import Any

import pydicom
import pytest

from adapters.database import DatabaseAddress
from tests.support.capture_scripts import CAPTURES, capture_script
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, upload_accepted

CASES = json.loads((CAPTURES / "create_dicom_cases.json").read_text())["cases"]
creating = capture_script("capture_create_dicom")


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    url = fresh_database(postgres, f"chronicle_test_create_dicom_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("create-dicom") / "data", url)
    with server, server.client() as client:
        for data in creating.files().values():
            upload_accepted(client, data)
        yield server


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["request"][0][:80])
def test_create_dicom_answers_as_orthanc(stored: ChronicleProcess, case: dict[str, Any]) -> None:
    with stored.client() as client:
        answer = creating.record(client, *case["request"])
    assert answer == case


def test_a_series_with_a_bad_image_stores_nothing(stored: ChronicleProcess) -> None:
    images = creating.contents()
    body = {"Tags": {"PatientName": "Half^Made"}, "Content": [images["gray"], images["text"]]}
    with stored.client() as client:
        before = sorted(client.get("/instances").json())
        last = client.get("/changes", params={"last": ""}).json()["Last"]
        answer = client.post("/tools/create-dicom", json=body)
        assert answer.status_code == 500, answer.text
        assert answer.json()["Details"].endswith("text/plain")
        assert sorted(client.get("/instances").json()) == before
        assert client.get("/changes", params={"last": ""}).json()["Last"] == last


@pytest.mark.parametrize(
    ("mime", "sop_class"),
    [
        ("model/stl", "1.2.840.10008.5.1.4.1.1.104.3"),
        ("model/obj", "1.2.840.10008.5.1.4.1.1.104.4"),
        ("model/mtl", "1.2.840.10008.5.1.4.1.1.104.5"),
    ],
)
def test_3d_models_are_encapsulated_as_orthanc_1_12_does(
    stored: ChronicleProcess, mime: str, sop_class: str
) -> None:
    """Orthanc 1.12's Encapsulated STL, OBJ and MTL: the document as it was given (padded to
    an even length), its MIME type, the SOP class and the M3D modality unless the tags say."""
    model = b"solid cube\nendsolid cube\n"  # an odd length: 25 bytes
    body = {"Tags": {"PatientName": "Model^3D"}, "Content": f"data:{mime};base64,"}
    body["Content"] += base64.b64encode(model).decode("ascii")
    with stored.client() as client:
        answer = client.post("/tools/create-dicom", json=body)
        assert answer.status_code == 200, answer.text
        instance = answer.json()["ID"]
        ds = pydicom.dcmread(io.BytesIO(client.get(f"/instances/{instance}/file").content))
        client.delete(f"/instances/{instance}")
    assert (ds.SOPClassUID, ds.MIMETypeOfEncapsulatedDocument) == (sop_class, mime)
    assert ds.Modality == "M3D"
    assert bytes(ds.EncapsulatedDocument) == model + b"\0"
