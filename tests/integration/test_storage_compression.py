"""StorageCompression: new DICOM files are stored zlib-compressed (Orthanc's format) and read
back as they were received."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess


def test_files_are_stored_compressed_and_read_back_whole(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "orthanc.json"
    config.write_text(json.dumps({"StorageCompression": True}))
    process = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    process.start()
    data = make_instance("P-COMPRESSED", size=64)
    try:
        with process.client() as http:
            instance = http.post("/instances", content=data).json()["ID"]
            base = f"/instances/{instance}/attachments/dicom"
            assert http.get(f"{base}/is-compressed").text == "1"
            stored = int(http.get(f"{base}/compressed-size").text)
            assert int(http.get(f"{base}/size").text) == len(data) > stored
            assert http.get(f"/instances/{instance}/file").content == data
            tags = http.get(f"/instances/{instance}/simplified-tags").json()
            assert tags["PatientID"] == "P-COMPRESSED"
    finally:
        process.stop()
