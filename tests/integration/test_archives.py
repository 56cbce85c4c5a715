"""ZIP archives through HTTP: the answers Orthanc 1.10.1 gave to the same requests on the same
files (tests/fixtures/orthanc/archive_cases.json, captured by capture_archives.py) replayed
against Chronicle, then what the capture cannot show: the archive streams (its first bytes
come before the last file is read), a large study's archive is complete and readable, and what
Chronicle does not do yet is refused."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from adapters.database import DatabaseAddress
from tests.support.capture_scripts import CAPTURES, capture_script
from tests.support.dicom_factory import make_series
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, upload_accepted
from tests.support.waiting import eventually

RLE = "1.2.840.10008.1.2.5"
CASES = json.loads((CAPTURES / "archive_cases.json").read_text())["cases"]
archives = capture_script("capture_archives")


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress) -> Any:
    url = fresh_database(postgres, f"chronicle_test_archives_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("archives") / "data", url)
    with server, server.client() as client:
        for data in archives.files().values():
            upload_accepted(client, data)
        yield server


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(map(str, case["request"])))
def test_archives_answer_as_orthanc(archived: ChronicleProcess, case: dict[str, Any]) -> None:
    with archived.client() as client:
        answer = archives.record(client, *case["request"])
    if case["entries"] is None and case["status"] == 200:
        case = {**case, "entries": []}  # an empty archive: the capture lists no entries
    if case["error"] is not None:  # Orthanc 1.10.1 sends its JSON errors without a type
        assert answer.pop("content_type") == "application/json"
        case = {key: value for key, value in case.items() if key != "content_type"}
    assert answer == case


def test_an_archive_streams_and_holds_every_file(tmp_path: Path, database_url: str) -> None:
    """A study of 60 files of 512 KB (30 MB): the answer has no Content-Length (it is sent
    as it is made), and the archive holds each file byte for byte."""
    files = make_series(60, "ARCHIVE-BIG", size=512)
    with ChronicleProcess(tmp_path / "data", database_url) as server, server.client() as client:
        study = upload_accepted(client, files[0])["ParentStudy"]
        for data in files[1:]:
            upload_accepted(client, data)
        with client.stream("GET", f"/studies/{study}/archive") as answer:
            assert answer.status_code == 200
            assert "content-length" not in answer.headers
            assert answer.headers.get("transfer-encoding") == "chunked"
            content = b"".join(answer.iter_bytes())
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        stored = sorted(archive.read(item) for item in archive.infolist())
        assert all(item.compress_type == zipfile.ZIP_DEFLATED for item in archive.infolist())
    assert stored == sorted(files)


def test_archives_transcode_and_what_cannot_be_is_refused(archived: ChronicleProcess) -> None:
    """`Transcode` and `transcode` write each file in the asked syntax; a syntax that is no
    transfer syntax is Orthanc's 400, one Chronicle does not write a 501."""
    series = archives.ids()["series1"]
    with archived.client() as client:
        for answer in (
            client.post(f"/series/{series}/archive", json={"Transcode": RLE}),
            client.get(f"/series/{series}/archive", params={"transcode": RLE}),
            client.get(f"/series/{series}/media", params={"transcode": RLE}),
        ):
            assert answer.status_code == 200, answer.text
            with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
                files = [archive.read(i) for i in archive.infolist() if i.filename != "DICOMDIR"]
            syntaxes = {
                pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID for data in files
            }
            assert syntaxes == {RLE}
        answer = client.post(f"/series/{series}/archive", content='{"Transcode": "1.2"}')
        assert (answer.status_code, answer.json()["OrthancStatus"]) == (400, 3)
        big_endian = client.get(f"/series/{series}/archive?transcode=1.2.840.10008.1.2.2")
        assert big_endian.status_code == 501
        empty = client.post(f"/series/{series}/archive", content=b"")  # as Orthanc 1.10.1
        assert (empty.status_code, empty.json()["OrthancStatus"]) == (400, 15)
        named = client.get(f"/series/{series}/archive", params={"filename": "scan.zip"})
        assert named.headers["content-disposition"] == 'filename="scan.zip"'


def _finished(client: httpx.Client, job: str) -> dict[str, Any]:
    assert eventually(lambda: client.get(f"/jobs/{job}").json()["State"] == "Success")
    return dict(client.get(f"/jobs/{job}").json())


def _names(content: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return [item.filename for item in archive.infolist()]


def test_an_asynchronous_archive_is_a_job_whose_output_is_the_zip(
    archived: ChronicleProcess,
) -> None:
    """As Orthanc 1.10.1 answered the same calls: the job's ID and path, its content, the
    output under /jobs/{id}/archive, and only the newest kept (MediaArchiveSize 1)."""
    i = archives.ids()
    with archived.client() as client:
        submitted = client.post(f"/series/{i['series1']}/archive", json={"Asynchronous": True})
        assert submitted.status_code == 200
        job = submitted.json()["ID"]
        assert submitted.json() == {"ID": job, "Path": f"/jobs/{job}"}
        body = _finished(client, job)
        output = client.get(f"/jobs/{job}/archive")
        assert output.status_code == 200
        assert output.headers["content-type"] == "application/zip"
        assert output.headers["content-disposition"] == 'filename="archive.zip"'
        direct = client.get(f"/series/{i['series1']}/archive")
        assert _names(output.content) == _names(direct.content)
        sizes = sum(len(d) for k, d in archives.files().items() if k.startswith("ct"))
        assert (body["Type"], body["Progress"]) == ("Archive", 100)
        assert body["Content"] == {
            "ArchiveSize": str(len(output.content)),
            "ArchiveSizeMB": 0,
            "Description": "REST API",
            "InstancesCount": 3,
            "UncompressedSize": str(sizes),
            "UncompressedSizeMB": 0,
        }
        missing = client.get(f"/jobs/{job}/nope")
        assert (missing.status_code, missing.json()["Details"]) == (
            404,
            "Job has no such output: nope",
        )
        newer = client.post(
            "/tools/create-archive", json={"Resources": [i["patient2"]], "Asynchronous": True}
        ).json()["ID"]
        _finished(client, newer)
        assert _names(client.get(f"/jobs/{newer}/archive").content) == [
            "ARC2/Unknown Study/CT Srie/CT000000.dcm"
        ]
        gone = client.get(f"/jobs/{job}/archive")
        assert (gone.status_code, gone.json()["OrthancStatus"]) == (404, 7)
        assert client.get("/jobs/nope/archive").status_code == 404
        unknown = client.post(
            "/tools/create-archive", json={"Resources": ["nope"], "Asynchronous": True}
        )
        assert (unknown.status_code, unknown.json()["OrthancStatus"]) == (404, 17)
