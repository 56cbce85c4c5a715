"""GET /instances/{id}/file with `Accept: application/dicom+json`, compared with what Orthanc
1.10.1 answered for the same corpus files (tests/fixtures/orthanc/dicomweb_json.json: digests
of its answers, captured on this machine)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.corpus import corpus_path
from tests.support.server import ChronicleProcess

CAPTURED = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "orthanc" / "dicomweb_json.json").read_text()
)["answers"]


def canonical_digest(body: dict) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_dicom_json_of_the_corpus_files_is_orthancs(server: ChronicleProcess) -> None:
    with server.client() as client:
        for relative, expected in CAPTURED.items():
            data = corpus_path(relative).read_bytes()
            instance = client.post("/instances", content=data).json()["ID"]
            answer = client.get(
                f"/instances/{instance}/file", headers={"Accept": "application/dicom+json"}
            )
            assert answer.status_code == 200, relative
            assert answer.headers["content-type"].startswith("application/dicom+json")
            body = answer.json()
            assert sorted(body) == expected["keys"], relative
            assert canonical_digest(body) == expected["sha256"], relative


def test_only_the_exact_accept_value_converts(server: ChronicleProcess) -> None:
    data = corpus_path("ColorTestMalaterre.dcm").read_bytes()
    with server.client() as client:
        instance = client.post("/instances", content=data).json()["ID"]
        for accept in ("application/dicom+json; charset=utf-8", "application/json", "*/*"):
            raw = client.get(f"/instances/{instance}/file", headers={"Accept": accept})
            assert raw.content == data, accept
            assert raw.headers["content-type"] == "application/dicom"
