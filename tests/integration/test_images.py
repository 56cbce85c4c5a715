"""Images and frames through HTTP: the answers Orthanc 1.10.1 gave to the same requests on the
shared corpus (tests/fixtures/orthanc/image_cases.json, captured by capture_images.py)
replayed against Chronicle and recorded with the capture's own record().

Decoded images are compared pixel for pixel (the sha1 of their pixels) where both servers
decode the same way; where they may not, within a stated tolerance: JPEG answers (Pillow's and
Orthanc's libjpeg encoders) and the lossy syntaxes (each server has its own JPEG decoder) may
differ by TOLERANCE grey levels in the mean of each of the 8 x 8 blocks the capture keeps.
Orthanc 1.10.1 (Debian's build) cannot decode JPEG 2000; Chronicle can: those answers are
compared with Orthanc's answers for the same image stored losslessly (RLE)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from adapters.database import DatabaseAddress
from tests.support.capture_scripts import CAPTURES, capture_script
from tests.support.dicom_factory import make_instance
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, upload_accepted

CASES = json.loads((CAPTURES / "image_cases.json").read_text())["cases"]
images = capture_script("capture_images")
TOLERANCE = 3.0
LOSSY = {"1_2_840_10008_1_2_4_50", "1_2_840_10008_1_2_4_51"}
# Same pixels as the RLE file, in JPEG 2000 lossless: Orthanc 1.10.1 cannot decode these.
SAME_AS = {"1_2_840_10008_1_2_4_90": "1_2_840_10008_1_2_5"}
UNDECODED_BY_ORTHANC = {"1_2_840_10008_1_2_4_91", "jp2k91ybr-ict"}
BY_REQUEST = {tuple(case["request"]): case for case in CASES}


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    url = fresh_database(postgres, f"chronicle_test_images_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("images") / "data", url)
    with server, server.client() as client:
        for data in images.files().values():
            upload_accepted(client, data)
        yield server


def _file_of(path: str) -> str:
    return path.split("{", 1)[1].split("}", 1)[0] if "{" in path else ""


def _close(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    if ours["sha1"] == theirs["sha1"]:
        return True
    if (ours["mode"], ours["size"]) != (theirs["mode"], theirs["size"]):
        return False
    scale = 256.0 if "16" in ours["mode"] else 1.0
    pairs = zip(_flat(ours["grid"]), _flat(theirs["grid"]), strict=True)
    return all(abs(a - b) <= TOLERANCE * scale for a, b in pairs)


def _flat(grid: list[Any]) -> list[float]:
    return [value for row in grid for cell in row for value in cell]


def _expected(case: dict[str, Any]) -> dict[str, Any]:
    path, accept = case["request"]
    name = _file_of(path)
    if name in SAME_AS and case["status"] != 200:
        twin = BY_REQUEST[(path.replace(name, SAME_AS[name]), accept)]
        return {**twin, "request": case["request"]}
    return case


def _is_json(content_type: str | None) -> bool:
    return bool(content_type and content_type.startswith("application/json"))


def _exact(case: dict[str, Any]) -> bool:
    """Whether the answer must be the same bytes (no lossy decoder, no JPEG encoder)."""
    name = _file_of(case["request"][0])
    return name not in LOSSY and case["content_type"] != images.JPEG


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(map(str, case["request"])))
def test_images_answer_as_orthanc(stored: ChronicleProcess, case: dict[str, Any]) -> None:
    with stored.client() as client:
        answer = images.record(client, *case["request"])
    name = _file_of(case["request"][0])
    if name in UNDECODED_BY_ORTHANC and case["status"] in (415, 500):
        # Chronicle decodes JPEG 2000; a colour image still has no grayscale values
        grayscale_of_colour = name == "jp2k91ybr-ict" and "/image-" in case["request"][0]
        assert answer["status"] == (415 if grayscale_of_colour else 200), answer
        return
    expected = _expected(case)
    exact = _exact(expected)
    if expected["error"] is not None or _is_json(expected["content_type"]):
        assert answer.pop("content_type") == "application/json"
        expected = {k: v for k, v in expected.items() if k != "content_type"}
    elif expected["content_type"] in (None, "text/plain"):
        # Orthanc's bare answers and text; Litestar names a type and a charset
        assert answer.pop("content_type").startswith("text/plain")
        expected = {k: v for k, v in expected.items() if k != "content_type"}
    if expected["image"] is not None and answer["image"] is not None:
        ours, theirs = answer.pop("image"), expected["image"]
        expected = {k: v for k, v in expected.items() if k != "image"}
        if exact:
            assert ours == theirs
        else:
            assert _close(ours, theirs), (ours, theirs)
    elif not exact and expected["sha1"] is not None:
        assert answer["sha1"] is not None  # a lossy image decoded by another decoder
        answer["sha1"] = expected["sha1"]
    assert answer == expected


def _pixels(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image).astype(np.int64)


def test_renderings_match_the_corpus_references(stored: ChronicleProcess, corpus: Path) -> None:
    """The corpus's reference renderings: SignedCT's int16 values exactly, the JPEG baseline
    file's preview within a grey level per channel on average (another JPEG decoder)."""
    ids = images.ids()
    with stored.client() as client:
        signed = client.get(f"/instances/{ids['signedct']}/image-int16").content
        colour = client.get(f"/instances/{ids['1_2_840_10008_1_2_4_50']}/preview").content
    reference = _pixels((corpus / "Formats" / "SignedCT.png").read_bytes())
    assert np.array_equal(_pixels(signed), reference)
    jpeg_reference = (corpus / "TransferSyntaxes" / "1.2.840.10008.1.2.4.50.png").read_bytes()
    difference = np.abs(_pixels(colour) - _pixels(jpeg_reference))
    assert difference.mean() <= 1.0 and difference.max() <= 16


def _liar(rows: int, columns: int, frames: int = 1) -> bytes:
    """A CT whose Rows, Columns and NumberOfFrames promise far more than its 8 x 8 pixels."""
    data = make_instance("LIAR", size=8)
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("rows", "columns", "frames"),
    [(4096, 4096, 1), (8, 8, 50), (65535, 65535, 1)],
    ids=["larger", "more frames", "beyond the ceiling"],
)
def test_pixel_data_that_lies_about_its_size_is_refused(
    stored: ChronicleProcess, rows: int, columns: int, frames: int
) -> None:
    """Refused with a message that says why, before anything is decoded or allocated: a 415
    for an image, Orthanc's 400 (bad file format) for the pixel data as data."""
    with stored.client() as client:
        instance = upload_accepted(client, _liar(rows, columns, frames))["ID"]
        routes = {"preview": 415, "rendered": 415, "numpy": 400, "matlab": 400}
        routes["frames/0/raw"] = 400
        try:
            for route, status in routes.items():
                answer = client.get(f"/instances/{instance}/{route}")
                assert answer.status_code == status, (route, answer.text)
                assert answer.json()["OrthancStatus"] == 15, route
                assert "bytes" in answer.json()["Details"], route
        finally:
            client.delete(f"/instances/{instance}")
