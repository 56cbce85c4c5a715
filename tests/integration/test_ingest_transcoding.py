"""IngestTranscoding: new instances stored in the configured transfer syntax whichever way
they come (REST, C-STORE), with the same pixels; the options that leave compressed or
uncompressed files as they came; a file that cannot be transcoded is stored as it came."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pydicom

from tests.support.scu import c_store
from tests.support.server import ChronicleProcess, upload_accepted

RLE = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


def _server(tmp_path: Path, database_url: str, extra: str = "") -> ChronicleProcess:
    config = tmp_path / "chronicle.toml"
    config.write_text(f'ingest_transcoding = "{RLE}"\n{extra}')
    return ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))


def _stored(client: httpx.Client, instance: str) -> pydicom.Dataset:
    answer = client.get(f"/instances/{instance}/file")
    return pydicom.dcmread(io.BytesIO(answer.content))


def test_uploads_and_c_stores_are_stored_in_the_configured_syntax(
    tmp_path: Path, database_url: str, corpus: Path
) -> None:
    modality = '[dicom_modalities]\nscu = ["LUASCU", "127.0.0.1", 4242]\n'
    with _server(tmp_path, database_url, modality) as server, server.client() as client:
        signed = (corpus / "SignedCT.dcm").read_bytes()
        instance = upload_accepted(client, signed)["ID"]
        stored = _stored(client, instance)
        assert stored.file_meta.TransferSyntaxUID == RLE
        original = pydicom.dcmread(io.BytesIO(signed))
        assert np.array_equal(stored.pixel_array, original.pixel_array)
        assert stored.SOPInstanceUID == original.SOPInstanceUID
        syntax = client.get(f"/instances/{instance}/metadata/TransferSyntax").text
        assert syntax == RLE
        client.delete(f"/instances/{instance}")
        assert c_store(server, signed) == 0
        found = client.post(
            "/tools/find",
            json={"Level": "Instance", "Query": {"SOPInstanceUID": original.SOPInstanceUID}},
        ).json()
        assert _stored(client, found[0]).file_meta.TransferSyntaxUID == RLE


def test_compressed_files_may_be_left_as_they_came(
    tmp_path: Path, database_url: str, corpus: Path
) -> None:
    extra = "ingest_transcoding_of_compressed = false\n"
    with _server(tmp_path, database_url, extra) as server, server.client() as client:
        jpeg = (corpus / "TransferSyntaxes" / f"{JPEG_BASELINE}.dcm").read_bytes()
        kept = upload_accepted(client, jpeg)["ID"]
        assert client.get(f"/instances/{kept}/file").content == jpeg
        pdf = (corpus / "sample-pdf.dcm").read_bytes()  # no pixels: nothing to transcode
        document = upload_accepted(client, pdf)["ID"]
        assert client.get(f"/instances/{document}/pdf").status_code == 200
