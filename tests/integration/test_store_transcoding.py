"""Transcoding on the way out: a modality that takes no compressed syntax gets compressed
files decoded (Orthanc proposes the uncompressed syntaxes beside the stored one), and
`Transcode` sends every file in the asked syntax; a syntax that is none is refused and
nothing is sent."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from domain.pixel_frames import decode_frame
from tests.support.server import ChronicleProcess, upload_accepted
from tests.support.storage_scp import StorageSCP

JPEG = "TransferSyntaxes/1.2.840.10008.1.2.4.50.dcm"
RLE_FILE = "TransferSyntaxes/1.2.840.10008.1.2.5.dcm"


@pytest.fixture
def peers() -> Iterator[tuple[StorageSCP, StorageSCP]]:
    plain = StorageSCP("PLAIN").start()  # pynetdicom's uncompressed syntaxes only
    syntaxes = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless]
    rle = StorageSCP("RLE", transfer_syntaxes=syntaxes).start()
    try:
        yield plain, rle
    finally:
        plain.stop()
        rle.stop()


@pytest.fixture
def archive(
    tmp_path: Path, database_url: str, peers: tuple[StorageSCP, StorageSCP]
) -> Iterator[ChronicleProcess]:
    plain, rle = peers
    config = tmp_path / "orthanc.json"
    modalities = {"plain": plain.modality(), "rle": rle.modality()}
    config.write_text(json.dumps({"DicomModalities": modalities}))
    with ChronicleProcess(tmp_path / "data", database_url, "--config", str(config)) as server:
        yield server


def _pixels(data: bytes) -> np.ndarray:
    ds = pydicom.dcmread(io.BytesIO(data))
    return np.asarray(decode_frame(ds, 0).pixels)


def test_a_peer_without_compressed_syntaxes_gets_the_files_decoded(
    archive: ChronicleProcess, peers: tuple[StorageSCP, StorageSCP], corpus: Path
) -> None:
    plain, _ = peers
    with archive.client() as client:
        sent = [(corpus / name).read_bytes() for name in (JPEG, RLE_FILE)]
        ids = [upload_accepted(client, data)["ID"] for data in sent]
        answer = client.post("/modalities/plain/store", json={"Resources": ids})
        assert answer.status_code == 200, answer.text
    assert len(plain.received) == 2
    for data in sent:
        uid = pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
        received = plain.received[uid]
        syntax = pydicom.dcmread(io.BytesIO(received)).file_meta.TransferSyntaxUID
        assert not syntax.is_compressed
        assert np.array_equal(_pixels(received), _pixels(data))


def test_transcode_sends_every_file_in_the_asked_syntax(
    archive: ChronicleProcess, peers: tuple[StorageSCP, StorageSCP], corpus: Path
) -> None:
    _, rle = peers
    with archive.client() as client:
        data = (corpus / "SignedCT.dcm").read_bytes()
        instance = upload_accepted(client, data)["ID"]
        body = {"Resources": [instance], "Transcode": str(RLELossless)}
        assert client.post("/modalities/rle/store", json=body).status_code == 200
        received = next(iter(rle.received.values()))
        assert pydicom.dcmread(io.BytesIO(received)).file_meta.TransferSyntaxUID == RLELossless
        assert np.array_equal(_pixels(received), _pixels(data))
        refused = client.post("/modalities/rle/store", json={**body, "Transcode": "1.2.3"})
        assert (refused.status_code, refused.json()["OrthancStatus"]) == (400, 3)
    assert len(rle.received) == 1
