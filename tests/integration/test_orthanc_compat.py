"""Orthanc compatibility, through HTTP, against the responses captured from a real Orthanc.

`tests/fixtures/orthanc/` holds one request/response per file, captured from Orthanc 1.10.1 by
`capture.py`. The tests here rebuild the same DICOM files with capture.py's own builders, send
them to a real `chronicle serve`, replay the captured requests and compare the answers. Only
what legitimately varies is normalised: timestamps (LastUpdate, ReceptionDate, Date), FileUuid,
ports, and Seq numbers (Chronicle's Seq is log position x 10 + rank, so /changes is compared by
order, change type and resource, never by number).

Where Chronicle differs from Orthanc 1.10.1 on purpose, the tests assert Chronicle's behaviour:
* GET/DELETE of an unknown /{level}/{id} is a 404 with Orthanc's JSON error body (Orthanc sends
  an empty body);
* /changes with a malformed or negative since/limit is a 400 (Orthanc silently restarts at 0);
* `requestedTags` (an Orthanc 1.11 feature, ignored by 1.10.1) is implemented;
* /system reports the API version Chronicle implements, "1.11.3".
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pyorthanc
import pytest

from api.dicom_dictionary import private_dictionary
from tests.support.capture_scripts import capture_script
from tests.support.corpus import corpus_dir as shared_corpus
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "orthanc"
RESPONSES = FIXTURES / "responses"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CAPTURES: list[str] = MANIFEST["captures"]
IDS = MANIFEST["ids"]
SYNTHETIC = IDS["synthetic"]
P = SYNTHETIC["patient"]
S1, S2 = SYNTHETIC["studies"]
SE1, SE2, SE3 = SYNTHETIC["series"]
I1, I2, I3, I4, I5 = (SYNTHETIC["instances"][f"syn_i{n}"] for n in range(1, 6))
UNKNOWN_ID = "00000000-00000000-00000000-00000000-00000000"
LEVELS = ("patients", "studies", "series", "instances")
TIME = re.compile(r"^\d{8}T\d{6}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
POLL_TIMEOUT = 30.0


capture = capture_script("capture")  # make_dicom, synthetic_patient, zip_bytes, uid, ...
uid = capture.uid


# --- Captured responses ----------------------------------------------------------------------


@cache
def fixture(slug: str) -> dict[str, Any]:
    return json.loads((RESPONSES / f"{slug}.json").read_text())


def captured_body(slug: str) -> Any:
    return fixture(slug)["body"]


def normalise(value: Any, key: str | None = None) -> Any:
    """Replaces what legitimately differs between two servers (times, file UUIDs), and leaves
    out Labels (Orthanc 1.12's field of every resource, which 1.10.1 lacks)."""
    if isinstance(value, dict):
        if isinstance(value.get("Labels"), list) and "Type" in value:
            value = {k: v for k, v in value.items() if k != "Labels"}
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if key in ("LastUpdate", "ReceptionDate", "Date") and isinstance(value, str):
        assert TIME.match(value), f"{key} is not YYYYMMDDTHHMMSS: {value!r}"
        return "<time>"
    if key in ("FileUuid", "Uuid") and isinstance(value, str):
        assert UUID.match(value), f"{key} is not a UUID: {value!r}"
        return "<uuid>"
    return value


def request_like(client: httpx.Client, slug: str, **kwargs: Any) -> httpx.Response:
    """Sends the captured request (method, path and raw query string) to Chronicle."""
    captured = fixture(slug)
    url = captured["path"] + ("?" + captured["query"] if captured["query"] else "")
    return client.request(captured["method"], url, **kwargs)


def assert_error(response: httpx.Response, status: int, message: str, code: int, **extra: Any):
    assert response.status_code == status, response.text
    body = response.json()
    expected = {
        "HttpError": httpx.codes.get_reason_phrase(status),
        "HttpStatus": status,
        "Message": message,
        "Method": response.request.method,
        "OrthancError": message,
        "OrthancStatus": code,
        "Uri": response.request.url.path.rstrip("/") or "/",
        **extra,
    }
    assert body == expected


def assert_like(response: httpx.Response, slug: str) -> None:
    """Status, body (normalised) and content type as Orthanc answered."""
    captured = fixture(slug)
    context = f"{slug}: {response.request.method} {response.request.url} -> {response.text[:300]}"
    assert response.status_code == captured["status"], context
    kind = captured["body_kind"]
    content_type = response.headers.get("content-type", "")
    if kind == "json":
        if response.status_code < 400:
            assert content_type.startswith("application/json"), context
        assert normalise(response.json()) == normalise(captured["body"]), context
    elif kind == "text":
        assert content_type.startswith("text/plain"), context
        text = response.text
        if TIME.match(captured["body"]):
            assert TIME.match(text), context
            etag = hashlib.md5(text.encode()).hexdigest()
            assert response.headers.get("etag") == f'"0-{etag}"', context
        else:
            assert text == captured["body"], context
            if "etag" in captured["headers"]:
                assert response.headers.get("etag") == captured["headers"]["etag"], context
    elif kind == "binary":
        assert hashlib.sha1(response.content).hexdigest() == captured["body"]["sha1"], context
        assert content_type == captured["headers"]["content-type"], context
    else:
        assert kind == "empty"
        assert response.content == b"", context
    if response.status_code == 405:
        assert response.headers.get("allow") == captured["headers"]["allow"], context


def assert_unknown_resource(response: httpx.Response) -> None:
    """Chronicle's intentional difference: Orthanc's JSON error body where Orthanc sends none."""
    assert_error(response, 404, "Unknown resource", 17)


def slugs_between(first: str, last: str) -> list[str]:
    return CAPTURES[CAPTURES.index(first) : CAPTURES.index(last) + 1]


# --- Servers ---------------------------------------------------------------------------------

_databases = itertools.count(1)


def _new_database(postgres: Any) -> str:
    return fresh_database(postgres, f"chronicle_compat_{os.getpid()}_{next(_databases)}")


@pytest.fixture(scope="module")
def start_server(
    tmp_path_factory: pytest.TempPathFactory, postgres: Any
) -> Iterator[Callable[..., ChronicleProcess]]:
    started: list[ChronicleProcess] = []

    def start(stable_age: float = 3600) -> ChronicleProcess:
        data_dir = tmp_path_factory.mktemp("chronicle") / "data"
        process = ChronicleProcess(data_dir, _new_database(postgres), stable_age=stable_age)
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def corpus_dir() -> Path:
    """The shared corpus (the `corpus` fixture of conftest, for module-scoped servers)."""
    return shared_corpus()


def upload(client: httpx.Client, data: bytes, **headers: str) -> httpx.Response:
    return client.post(
        "/instances", content=data, headers={"Content-Type": "application/dicom", **headers}
    )


def all_changes(client: httpx.Client) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    since = 0
    while True:
        page = client.get("/changes", params={"since": since, "limit": 1000}).json()
        changes += page["Changes"]
        if page["Done"]:
            return changes
        since = page["Last"]


def change_keys(changes: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """What two servers must agree on in /changes: order, type and resource, not Seq numbers."""
    return [(c["ChangeType"], c["ResourceType"], c["ID"], c["Path"]) for c in changes]


def poll(predicate: Callable[[], Any], what: str, timeout: float = POLL_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def everything_stable(client: httpx.Client) -> bool:
    return all(
        resource["IsStable"]
        for level in ("patients", "studies", "series")
        for resource in client.get(f"/{level}", params={"expand": ""}).json()
    )


def stored_files(process: ChronicleProcess) -> list[Path]:
    storage = process.data_dir / "storage"
    return sorted(p for p in storage.rglob("*") if p.is_file() and not p.name.startswith("."))


def synthetic_files() -> dict[str, bytes]:
    return dict(capture.synthetic_patient())


# --- The synthetic patient, uploaded as the capture did -------------------------------------


@dataclass
class Scenario:
    process: ChronicleProcess
    client: httpx.Client
    recorded: dict[str, httpx.Response] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def record(self, slug: str, response: httpx.Response) -> httpx.Response:
        self.recorded[slug] = response
        return response

    def replay(self, slug: str, **kwargs: Any) -> httpx.Response:
        return self.record(slug, request_like(self.client, slug, **kwargs))


EMPTY_SERVER_SLUGS = slugs_between("system", "system_gzip")
BEFORE_STABLE_SLUGS = slugs_between("patient_before_stable", "statistics_after_synthetic")
AFTER_STABLE_SLUGS = ["patient_after_stable", "study_after_stable", "series_after_stable"]


@pytest.fixture(scope="module")
def synthetic(start_server: Callable[..., ChronicleProcess]) -> Iterator[Scenario]:
    """Phases A-C of the capture: an empty server, then the synthetic patient (5 instances)."""
    process = start_server(stable_age=1)
    with process.client() as client:
        scenario = Scenario(process, client)
        for slug in EMPTY_SERVER_SLUGS:
            headers = fixture(slug).get("request_headers")
            scenario.replay(slug, headers=headers)
        files = synthetic_files()
        for name, data in files.items():
            scenario.record(f"upload_{name}", upload(client, data))
            if name == "syn_i1":
                scenario.replay("changes_after_first_upload")
        scenario.replay("changes_after_synthetic_uploads")
        before_stable = client.get("/changes", params={"last": ""}).json()["Last"]
        for slug in BEFORE_STABLE_SLUGS:
            scenario.replay(slug)
        poll(
            lambda: sum(c["ChangeType"].startswith("Stable") for c in all_changes(client)) >= 6,
            "StableSeries/StableStudy/StablePatient of the synthetic patient",
        )
        scenario.record("changes_after_stable", client.get(f"/changes?since={before_stable}"))
        for slug in AFTER_STABLE_SLUGS:
            scenario.replay(slug)
        before_again = client.get("/changes", params={"last": ""}).json()["Last"]
        scenario.record("upload_syn_i1_again", upload(client, files["syn_i1"]))
        scenario.record(
            "changes_after_already_stored", client.get(f"/changes?since={before_again}")
        )
        yield scenario


# --- Everything the capture uploaded, in the same order --------------------------------------


def capture_uploads(corpus: Path) -> list[tuple[str, bytes, dict[str, str]]]:
    """(slug, body, headers) of every POST /instances of capture.py, in its order."""
    capture.CORPUS = corpus
    dicom = {"Content-Type": "application/dicom"}
    make = capture.make_dicom
    files = synthetic_files()
    uploads = [(f"upload_{name}", data, dicom) for name, data in files.items()]
    uploads.append(("upload_syn_i1_again", files["syn_i1"], dicom))
    for path in capture.corpus_files():
        uploads.append((f"upload_{capture.corpus_slug(path)}", path.read_bytes(), dicom))
    ts1 = (corpus / "TransferSyntaxes/1.2.840.10008.1.2.1.dcm").read_bytes()
    probe = dict(patient_name="Probe^Patient", study_uid=uid(3, 1), series_uid=uid(3, 1, 1))
    zpat = dict(
        patient_id="ZIP-PAT",
        patient_name="Zip^Patient",
        study_uid=uid(2, 1),
        series_uid=uid(2, 1, 1),
    )
    z1 = [
        (f"dir/zip{k}.dcm", make(**zpat, sop_uid=uid(2, 1, 1, k), instance_number=k))
        for k in (1, 2, 3)
    ]
    z2 = [
        ("a_truncated.dcm", ts1[:200]),
        ("b_new.dcm", make(**zpat, sop_uid=uid(2, 1, 1, 4), instance_number=4)),
        ("c_already.dcm", z1[0][1]),
    ]
    zip_dir = [
        ("sub/", b""),
        ("sub/zip5.dcm", make(**zpat, sop_uid=uid(2, 1, 1, 5), instance_number=5)),
    ]
    multipart = (
        b'--XyZ\r\nContent-Disposition: form-data; name="files[]"; filename="a.dcm"\r\n'
        b"Content-Type: application/dicom\r\n\r\n"
        + make(**zpat, sop_uid=uid(2, 1, 1, 7), instance_number=7)
        + b"\r\n--XyZ--\r\n"
    )
    uploads += [
        ("upload_ts_1_2_840_10008_1_2_1_again", ts1, dicom),
        ("upload_empty_body", b"", dicom),
        ("upload_hello", b"hello", dicom),
        ("upload_truncated_200", ts1[:200], dicom),
        ("upload_truncated_1000", ts1[:1000], dicom),
        ("upload_truncated_half", ts1[: len(ts1) // 2], dicom),
        (
            "upload_missing_sopinstanceuid",
            make(patient_id="PROBE", **probe, sop_uid=None, meta_sop_uid=uid(3, 1, 1, 1)),
            dicom,
        ),
        (
            "upload_missing_studyuid",
            make(patient_id="PROBE", series_uid=uid(3, 1, 2), sop_uid=uid(3, 1, 2, 1)),
            dicom,
        ),
        (
            "upload_missing_seriesuid",
            make(patient_id="PROBE", study_uid=uid(3, 1), sop_uid=uid(3, 1, 3, 1)),
            dicom,
        ),
        (
            "upload_missing_patientid",
            make(
                patient_id=None,
                study_uid=uid(3, 2),
                series_uid=uid(3, 2, 1),
                sop_uid=uid(3, 2, 1, 1),
            ),
            dicom,
        ),
        (
            "upload_empty_patientid",
            make(
                patient_id="", study_uid=uid(3, 3), series_uid=uid(3, 3, 1), sop_uid=uid(3, 3, 1, 1)
            ),
            dicom,
        ),
        (
            "upload_spaced_patientid",
            make(
                patient_id=" SPACED ",
                study_uid=uid(3, 4),
                series_uid=uid(3, 4, 1),
                sop_uid=uid(3, 4, 1, 1),
            ),
            dicom,
        ),
        (
            "upload_latin1_patientid",
            make(
                patient_id="M\u00fcller",
                charset="ISO_IR 100",
                study_uid=uid(3, 5),
                series_uid=uid(3, 5, 1),
                sop_uid=uid(3, 5, 1, 1),
            ),
            dicom,
        ),
        (
            "upload_sop_uid_conflict_other_patient",
            make(
                patient_id="OTHER-PAT",
                study_uid=uid(1, 1),
                series_uid=uid(1, 1, 1),
                sop_uid=uid(1, 1, 1, 2),
            ),
            dicom,
        ),
        (
            "upload_zip_3dicom_1text",
            capture.zip_bytes([*z1, ("dir/readme.txt", b"not a dicom file\n")]),
            dicom,
        ),
        ("upload_zip_truncated_new_already", capture.zip_bytes(z2), dicom),
        ("upload_zip_with_dir_entry", capture.zip_bytes(zip_dir), dicom),
        ("upload_zip_only_text", capture.zip_bytes([("readme.txt", b"not a dicom file\n")]), dicom),
        ("upload_zip_empty", capture.zip_bytes([]), dicom),
        ("upload_zip_corrupt", b"PK\x03\x04" + b"\x00" * 60, dicom),
        (
            "upload_zip_contenttype",
            capture.zip_bytes(
                [("zip6.dcm", make(**zpat, sop_uid=uid(2, 1, 1, 6), instance_number=6))]
            ),
            dicom,
        ),
        ("upload_multipart", multipart, {"Content-Type": "multipart/form-data; boundary=XyZ"}),
    ]
    mp = dict(patient_id="MODULE-PROBE", study_uid=uid(5, 1), series_uid=uid(5, 1, 1))
    for k, letter in enumerate("ABC", start=1):
        extra = {
            0x00081070: ("PN", f"Operator{letter}"),
            0x00081048: ("PN", f"Physician{letter}"),
            0x00104000: ("LT", f"Comment {letter}"),
        }
        data = make(
            **mp,
            sop_uid=uid(5, 1, 1, k),
            instance_number=k,
            series_desc=f"Desc {letter}",
            study_desc=f"Study {letter}",
            patient_name=f"Probe^{letter}",
            extra=extra,
        )
        uploads.append((f"upload_module_probe_{letter}", data, dicom))
    no_number = make(**mp, sop_uid=uid(5, 1, 1, 9), instance_number=None, series_desc="Desc D")
    uploads.append(("upload_module_probe_no_instancenumber", no_number, dicom))
    return uploads


CORPUS_ROUTE_SLUGS = slugs_between(
    "tags_ts_1_2_840_10008_1_2_1_99", "ColorTestMalaterre_metadata_indexinseries_numeric"
)
FULL_LIST_SLUGS = slugs_between("full_patients", "patient_empty_patientid_studies")
PROBE_SLUGS = slugs_between("probe_series", "probe_no_instancenumber_metadata")
ERROR_SLUGS = slugs_between("error_patients_nope", "error_delete_series_unknown")


@pytest.fixture(scope="module")
def archive(start_server: Callable[..., ChronicleProcess], corpus_dir: Path) -> Iterator[Scenario]:
    """Phases B and D of the capture: every upload, then (as the capture did) quiet time."""
    process = start_server(stable_age=1)
    with process.client() as client:
        scenario = Scenario(process, client)
        for slug, data, headers in capture_uploads(corpus_dir):
            scenario.record(slug, client.post("/instances", content=data, headers=headers))
        poll(lambda: everything_stable(client), "every resource to become stable")
        yield scenario


# The deletes of the capture (phase H): (slug, path, what Chronicle logs as Deleted changes).
NM1_PATIENT = capture.orthanc_hash("8NM1")
NM1_RLE_STUDY = IDS["corpus"]["TransferSyntaxes/1.2.840.10008.1.2.5.dcm"]["ParentStudy"]
NM1_RLE_SERIES = IDS["corpus"]["TransferSyntaxes/1.2.840.10008.1.2.5.dcm"]["ParentSeries"]
NM1_RLE_INSTANCE = IDS["corpus"]["TransferSyntaxes/1.2.840.10008.1.2.5.dcm"]["ID"]
NM1_OTHER = IDS["corpus"]["TransferSyntaxes/1.2.840.10008.1.2.4.80.dcm"]
NM1_OTHER_INSTANCE = IDS["corpus"]["TransferSyntaxes/1.2.840.10008.1.2.4.90.dcm"]["ID"]
ZIP_SERIES = capture.orthanc_hash("ZIP-PAT|" + uid(2, 1) + "|" + uid(2, 1, 1))
ZIP_STUDY = capture.orthanc_hash("ZIP-PAT|" + uid(2, 1))
ZIP_PATIENT = IDS["zip_patient"]
ZIP_INSTANCES = [
    capture.orthanc_hash(f"ZIP-PAT|{uid(2, 1)}|{uid(2, 1, 1)}|{uid(2, 1, 1, k)}")
    for k in (1, 2, 3, 4, 5, 6, 7)
]
DELETES = [
    ("delete_instance_series_has_others", [("Instance", I1)]),
    ("delete_last_instance_of_series", [("Instance", I2), ("Series", SE1)]),
    ("delete_series", [("Instance", I3), ("Series", SE2), ("Study", S1)]),
    (
        "delete_study_last_of_patient",
        [("Instance", I4), ("Instance", I5), ("Series", SE3), ("Study", S2), ("Patient", P)],
    ),
    (
        "delete_study_patient_has_others",
        [("Instance", NM1_RLE_INSTANCE), ("Series", NM1_RLE_SERIES), ("Study", NM1_RLE_STUDY)],
    ),
    (
        "delete_patient",
        [
            ("Instance", NM1_OTHER["ID"]),
            ("Instance", NM1_OTHER_INSTANCE),
            ("Series", NM1_OTHER["ParentSeries"]),
            ("Study", NM1_OTHER["ParentStudy"]),
            ("Patient", NM1_PATIENT),
        ],
    ),
    (
        "delete_series_multi_instances",
        [
            *(("Instance", instance) for instance in ZIP_INSTANCES),
            ("Series", ZIP_SERIES),
            ("Study", ZIP_STUDY),
            ("Patient", ZIP_PATIENT),
        ],
    ),
]


def last_seq(client: httpx.Client) -> int:
    """The newest Seq of the whole log (the default view leaves deleted resources out)."""
    return client.get("/changes", params={"last": "", "history": ""}).json()["Last"]


@pytest.fixture(scope="module")
def deletions(
    start_server: Callable[..., ChronicleProcess], corpus_dir: Path
) -> Iterator[Scenario]:
    """Phases H and I of the capture (deletes, DELETE /changes) after the same uploads.

    StableAge is long here, so that no Stable* change lands between the steps.
    """
    process = start_server()
    with process.client() as client:
        scenario = Scenario(process, client)
        for _slug, data, headers in capture_uploads(corpus_dir):
            client.post("/instances", content=data, headers=headers)
        scenario.record("files_before_deletes", client.get("/statistics"))
        scenario.record("changes_before_deletes", client.get("/changes?limit=10000"))
        for slug, _deleted in DELETES:
            before = last_seq(client)
            scenario.replay(slug)
            scenario.record(f"changes_after_{slug}", client.get(f"/changes?since={before}"))
            scenario.record(f"history_after_{slug}", client.get(f"/changes?since={before}&history"))
            if slug == "delete_instance_series_has_others":
                scenario.replay("error_get_deleted_instance")
            if slug == "delete_series":
                scenario.replay("patient_after_series_delete")
            if slug == "delete_study_last_of_patient":
                scenario.replay("error_get_deleted_patient")
        before = last_seq(client)
        scenario.replay("delete_instance_unknown_after")
        scenario.record(
            "changes_after_delete_instance_unknown_after", client.get(f"/changes?since={before}")
        )
        scenario.replay("statistics_after_deletes")
        scenario.record("changes_after_all_deletes_full", client.get("/changes?limit=10000"))
        scenario.record(
            "history_after_all_deletes", client.get("/changes?limit=10000&history=true")
        )
        remaining = scenario.recorded["statistics_after_deletes"].json()["CountInstances"]
        poll(
            lambda: len(stored_files(process)) == remaining,
            "the reaper to remove the deleted files",
        )
        scenario.facts["files_after_deletes"] = len(stored_files(process))
        scenario.replay("changes_before_clear_last")
        scenario.record("history_before_clear_last", client.get("/changes?last&history"))
        for slug in slugs_between("delete_changes", "statistics_after_clear"):
            scenario.replay(slug)
        files = synthetic_files()
        post_clear = capture.make_dicom(
            patient_id="POST-CLEAR",
            study_uid=uid(4, 1),
            series_uid=uid(4, 1, 1),
            sop_uid=uid(4, 1, 1, 1),
        )
        scenario.record("upload_after_clear", upload(client, post_clear))
        scenario.replay("changes_after_clear_and_upload")
        scenario.replay("changes_after_clear_and_upload_last")
        scenario.record("upload_syn_i1_after_delete", upload(client, files["syn_i1"]))
        scenario.replay("changes_after_reupload_deleted")
        scenario.replay("statistics_final")
        yield scenario


# --- Tests -------------------------------------------------------------------------------------


def test_empty_server_answers_as_orthanc(synthetic: Scenario) -> None:
    for slug in EMPTY_SERVER_SLUGS:
        response = synthetic.recorded[slug]
        if slug.startswith("system"):
            continue
        if slug.startswith("changes"):
            assert response.json() == captured_body(slug), slug
            continue
        assert_like(response, slug)


def test_system_reports_the_api_version_chronicle_implements(synthetic: Scenario) -> None:
    for slug in ("system", "system_gzip"):
        response = synthetic.recorded[slug]
        assert response.status_code == 200
        body = response.json()
        captured = captured_body(slug)
        assert body["Version"] == "1.11.3"
        assert body["Implementation"] == "Chronicle"
        assert body["HttpPort"] == synthetic.process.port
        assert isinstance(body["DicomPort"], int)
        assert set(captured) <= set(body)
        same = set(captured) - {
            "Version",
            "HttpPort",
            "DicomPort",
            "Name",
            "DicomAet",
            "ApiVersion",
            "PluginsEnabled",
        }
        assert {k: body[k] for k in same} == {k: captured[k] for k in same}


def test_uploads_answer_as_orthanc_with_the_same_ids(synthetic: Scenario) -> None:
    for name, instance_id in SYNTHETIC["instances"].items():
        response = synthetic.recorded[f"upload_{name}"]
        assert_like(response, f"upload_{name}")
        assert response.json()["ID"] == instance_id


def test_an_upload_logs_new_instance_series_study_patient(synthetic: Scenario) -> None:
    for slug in ("changes_after_first_upload", "changes_after_synthetic_uploads"):
        body = synthetic.recorded[slug].json()
        captured = captured_body(slug)
        assert change_keys(body["Changes"]) == change_keys(captured["Changes"]), slug
        seqs = [change["Seq"] for change in body["Changes"]]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert body["Done"] is True
        assert body["Last"] == seqs[-1]
        for change in body["Changes"]:
            assert TIME.match(change["Date"])


def test_resources_before_they_are_stable(synthetic: Scenario) -> None:
    """IsStable is left out here: with StableAge=1 it may already have turned true."""
    for slug in BEFORE_STABLE_SLUGS:
        response = synthetic.recorded[slug]
        assert response.status_code == 200
        body, captured = response.json(), captured_body(slug)
        body.pop("IsStable", None)
        captured.pop("IsStable", None)
        assert normalise(body) == normalise(captured), slug


def test_stable_changes_fire_for_every_resource_children_first(synthetic: Scenario) -> None:
    changes = synthetic.recorded["changes_after_stable"].json()["Changes"]
    stable = [(c["ChangeType"], c["ID"]) for c in changes if c["ChangeType"].startswith("Stable")]
    captured = [
        (c["ChangeType"], c["ID"]) for c in captured_body("changes_after_stable")["Changes"]
    ]
    assert sorted(set(stable)) == sorted(captured)
    assert len(stable) == len(set(stable))
    # Orthanc logs them in order of last activity, so a resource is stable after its children
    # (Orthanc's order for this patient: SE1, SE2, S1, SE3, S2, P).
    position = {key: index for index, key in enumerate(stable)}
    for child, parent in (
        (("StableSeries", SE1), ("StableStudy", S1)),
        (("StableSeries", SE2), ("StableStudy", S1)),
        (("StableSeries", SE3), ("StableStudy", S2)),
        (("StableStudy", S1), ("StablePatient", P)),
        (("StableStudy", S2), ("StablePatient", P)),
    ):
        assert position[child] < position[parent], (child, parent, stable)
    for slug in AFTER_STABLE_SLUGS:
        assert_like(synthetic.recorded[slug], slug)
        assert synthetic.recorded[slug].json()["IsStable"] is True


def test_already_stored_adds_no_change_and_keeps_stability(synthetic: Scenario) -> None:
    response = synthetic.recorded["upload_syn_i1_again"]
    assert_like(response, "upload_syn_i1_again")
    assert response.json()["Status"] == "AlreadyStored"
    after = synthetic.recorded["changes_after_already_stored"].json()
    assert after["Changes"] == [] and after["Done"] is True
    assert after["Last"] == last_seq(synthetic.client)
    for level, resource_id in (("patients", P), ("studies", S1), ("series", SE1)):
        assert synthetic.client.get(f"/{level}/{resource_id}").json()["IsStable"] is True


BROWSE_SLUGS = slugs_between("patients", "patient_attachments")
REQUESTED_TAGS_SLUGS = [slug for slug in BROWSE_SLUGS if slug.endswith("requestedtags")]


@pytest.mark.parametrize(
    "slug", [slug for slug in BROWSE_SLUGS if slug not in REQUESTED_TAGS_SLUGS]
)
def test_browse_the_synthetic_patient_as_orthanc(synthetic: Scenario, slug: str) -> None:
    """Lists (expand, since/limit, short, full), resources, children and parents, statistics,
    shared-tags, module, instances-tags, and the instance's tags, header, content, file,
    metadata and attachments, compared with Orthanc's answers."""
    assert_like(request_like(synthetic.client, slug), slug)


@pytest.mark.parametrize("slug", REQUESTED_TAGS_SLUGS)
def test_requested_tags_add_only_the_requested_tags_field(synthetic: Scenario, slug: str) -> None:
    """Orthanc 1.10.1 ignores requestedTags; Chronicle implements it (Orthanc 1.11): the
    answer is Orthanc's with a RequestedTags object added to each expanded resource."""
    response = request_like(synthetic.client, slug)
    assert response.status_code == 200
    body, captured = response.json(), captured_body(slug)
    resources = body if isinstance(body, list) else [body]
    for resource in resources:
        if isinstance(resource, dict):
            assert isinstance(resource.pop("RequestedTags"), dict)
    assert normalise(body) == normalise(captured)


def requested(client: httpx.Client, path: str, tags: str, *flags: str) -> Any:
    query = "&".join([f"requestedTags={tags}", *flags])
    response = client.get(f"{path}?{query}")
    assert response.status_code == 200, response.text
    return response.json()


def test_requested_tags_values(synthetic: Scenario) -> None:
    client = synthetic.client
    name = "Chronicle^Test=\u30af\u30ed\u30cb\u30af\u30eb^\u30c6\u30b9\u30c8"
    # main tags of the resource and its ancestors, other tags read from a file of the resource
    patient = requested(client, f"/patients/{P}", "PatientName;PatientBirthDate;0008,0020")
    assert patient["RequestedTags"] == {
        "PatientBirthDate": "19800102",
        "PatientName": name,
        "StudyDate": "20240115",
    }
    instance = requested(client, f"/instances/{I1}", "ImageType;InstanceNumber;PatientName")
    assert instance["RequestedTags"] == {
        "ImageType": "ORIGINAL\\PRIMARY\\AXIAL",  # not a main tag: read from the file
        "InstanceNumber": "1",
        "PatientName": name,
    }
    # the tags Orthanc computes
    study = requested(
        client,
        f"/studies/{S1}",
        "ModalitiesInStudy;NumberOfStudyRelatedSeries;NumberOfStudyRelatedInstances;"
        "SOPClassesInStudy;StudyDescription",
    )
    assert study["RequestedTags"] == {
        "ModalitiesInStudy": "CT",
        "NumberOfStudyRelatedInstances": "3",
        "NumberOfStudyRelatedSeries": "2",
        "SOPClassesInStudy": "1.2.840.10008.5.1.4.1.1.2",
        "StudyDescription": "Chest CT",
    }
    tags = (
        "NumberOfPatientRelatedStudies;NumberOfPatientRelatedSeries;NumberOfPatientRelatedInstances"
    )
    assert requested(client, f"/patients/{P}", tags)["RequestedTags"] == {
        "NumberOfPatientRelatedInstances": "5",
        "NumberOfPatientRelatedSeries": "3",
        "NumberOfPatientRelatedStudies": "2",
    }
    series = requested(client, "/series", "NumberOfSeriesRelatedInstances;Modality", "expand")
    assert [s["RequestedTags"] for s in series] == [
        {"Modality": "CT", "NumberOfSeriesRelatedInstances": "2"},
        {"Modality": "CT", "NumberOfSeriesRelatedInstances": "1"},
        {"Modality": "MR", "NumberOfSeriesRelatedInstances": "2"},
    ]
    # on child routes too, and in the short and full formats
    studies = requested(client, f"/patients/{P}/studies", "ModalitiesInStudy", "short")
    assert [s["RequestedTags"] for s in studies] == [{"0008,0061": "CT"}, {"0008,0061": "MR"}]
    full = requested(client, f"/instances/{I1}", "ReferencedImageSequence;ImageComments", "full")
    assert full["RequestedTags"]["0020,4000"] == {
        "Name": "ImageComments",
        "Type": "TooLong",
        "Value": None,
    }
    assert full["RequestedTags"]["0008,1140"]["Type"] == "Sequence"
    assert len(full["RequestedTags"]["0008,1140"]["Value"]) == 2
    # absent tags are left out; without the argument there is no RequestedTags at all
    assert requested(client, f"/series/{SE2}", "PatientWeight")["RequestedTags"] == {}
    assert "RequestedTags" not in client.get(f"/series/{SE2}").json()
    assert_error(client.get(f"/patients/{P}?requestedTags=NotATag"), 500, "Unknown DICOM tag", 27)


# --- Everything uploaded: corpus files, rejected files, ZIP archives, probes -----------------


UPLOAD_SLUGS = [
    slug
    for slug in slugs_between(
        "upload_ts_1_2_840_10008_1_2_1_99", "upload_module_probe_no_instancenumber"
    )
    if slug.startswith("upload_")
]


@pytest.mark.parametrize("slug", UPLOAD_SLUGS)
def test_uploads_answer_as_orthanc(archive: Scenario, slug: str) -> None:
    """Transfer syntaxes, charsets, PDF, unknown SOP class, AlreadyStored, empty / non-DICOM /
    truncated bodies, missing identifiers, DICOMDIR, ZIP archives (mixed content, directory
    entries, already stored members, empty or corrupt archives) and a multipart form."""
    assert_like(archive.recorded[slug], slug)


def test_multipart_upload_stores_its_file(archive: Scenario) -> None:
    multipart_instance = ZIP_INSTANCES[6]
    response = archive.client.get(f"/instances/{multipart_instance}")
    assert response.status_code == 200
    assert response.json()["IndexInSeries"] == 7


@pytest.mark.parametrize("slug", PROBE_SLUGS)
def test_main_dicom_tags_come_from_the_first_instance(archive: Scenario, slug: str) -> None:
    """The capture read these right after the uploads (IsStable false); here they are stable."""
    response = request_like(archive.client, slug)
    assert response.status_code == 200
    body, captured = response.json(), captured_body(slug)
    if isinstance(body, dict) and "IsStable" in body:
        assert body.pop("IsStable") is True
        captured.pop("IsStable")
    assert normalise(body) == normalise(captured), slug


def test_statistics_after_every_upload(archive: Scenario) -> None:
    assert_like(archive.client.get("/statistics"), "statistics_after_uploads")


def _private_names_need_dcmtk(slug: str) -> bool:
    """Whether the file of this answer has private tags that Orthanc names from DCMTK's
    private dictionary (or leaves unknown where pydicom's dictionary knows a name)."""
    match = re.match(r"^(?:tags_(?:simplify_)?)?(.*?)(?:_tags.*|_simplified_tags)?$", slug)
    assert match is not None
    path = RESPONSES / f"tags_{match.group(1)}.json"
    if not path.exists():
        return False
    full = json.loads(path.read_text())["body"]
    return any(
        int(key[:4], 16) % 2 == 1 and "PrivateCreator" in node and node["Name"] != "PrivateCreator"
        for key, node in full.items()
    )


HAVE_DCMTK_PRIVATE_DICTIONARY = private_dictionary() is not None


@pytest.mark.parametrize("slug", CORPUS_ROUTE_SLUGS)
def test_corpus_instance_routes_as_orthanc(archive: Scenario, slug: str) -> None:
    """/tags (full, simplify, short), /simplified-tags, /header, /content/..., /file and
    /metadata of real files: transfer syntaxes, SCSGERM / SCSGREEK / SCSH31 / SCSX2 /
    ISO_IR13 / MarekLatin2 charsets, a PDF, an unknown SOP class, JPEG, signed pixels."""
    if "tags" in slug and not HAVE_DCMTK_PRIVATE_DICTIONARY and _private_names_need_dcmtk(slug):
        pytest.skip("Orthanc names these private tags from DCMTK's private.dic, not installed")
    assert_like(request_like(archive.client, slug), slug)


@pytest.mark.parametrize("slug", FULL_LIST_SLUGS)
def test_full_lists_as_orthanc(archive: Scenario, slug: str) -> None:
    assert_like(request_like(archive.client, slug), slug)


UNKNOWN_RESOURCE_SLUGS = [
    slug
    for slug in ERROR_SLUGS
    if re.fullmatch(
        r"error_(patients|studies|series|instances)_(nope|unknown_wellformed|wrong_level)", slug
    )
    or (slug.startswith("error_delete_") and slug != "error_delete_patients_collection")
]


@pytest.mark.parametrize("slug", [s for s in ERROR_SLUGS if s not in UNKNOWN_RESOURCE_SLUGS])
def test_errors_as_orthanc(archive: Scenario, slug: str) -> None:
    """Unknown sub-routes and routes, wrong methods (405 with Orthanc's Allow header)."""
    assert_like(request_like(archive.client, slug), slug)


@pytest.mark.parametrize("slug", UNKNOWN_RESOURCE_SLUGS)
def test_unknown_resource_is_404_with_a_json_body(archive: Scenario, slug: str) -> None:
    """Intentional difference: Orthanc 1.10.1 answers these 404s with an empty body."""
    assert fixture(slug)["status"] == 404
    assert_unknown_resource(request_like(archive.client, slug))


@pytest.mark.parametrize("level", LEVELS)
def test_list_arguments_errors(archive: Scenario, level: str) -> None:
    client = archive.client
    for slug in (
        f"{level}_limit_abc",
        f"{level}_since1",
        f"{level}_since_abc",
        f"{level}_since2_limit_abc",
    ):
        assert_like(request_like(client, slug), slug)
    assert client.get(f"/{level}/").json() == client.get(f"/{level}").json()


@pytest.mark.parametrize("level", LEVELS)
def test_sub_routes_of_an_unknown_resource(archive: Scenario, level: str) -> None:
    """As Orthanc: 404 with the JSON "Unknown resource" body (status 17)."""
    routes = ["statistics", "metadata", "metadata/LastUpdate", "attachments", "module"]
    if level == "instances":
        routes += ["file", "tags", "simplified-tags", "header", "content", "frames", "series"]
    else:
        routes += ["shared-tags", "instances-tags", "instances"]
    for route in routes:
        for resource_id in (UNKNOWN_ID, "nope"):
            response = archive.client.get(f"/{level}/{resource_id}/{route}")
            assert_unknown_resource(response)


# --- /changes ---------------------------------------------------------------------------------


def test_changes_log_has_orthancs_entries_in_orthancs_order(archive: Scenario) -> None:
    ours = all_changes(archive.client)
    theirs = captured_body("changes_limit100000")["Changes"]

    def new(changes: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return change_keys([c for c in changes if not c["ChangeType"].startswith("Stable")])

    def stable(changes: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(c["ChangeType"], c["ID"]) for c in changes if c["ChangeType"].startswith("Stable")}

    assert new(ours) == new(theirs)
    # when each Stable* lands depends on timing; which resources get one does not
    assert stable(ours) == stable(theirs)
    seqs = [change["Seq"] for change in ours]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_changes_paging(archive: Scenario) -> None:
    client = archive.client
    everything = all_changes(client)
    seqs = [change["Seq"] for change in everything]
    top = seqs[-1]

    page = client.get("/changes").json()  # default limit: 100
    assert page["Changes"] == everything[:100] and page["Done"] is False
    assert page["Last"] == seqs[99]
    page = client.get(f"/changes?since={seqs[4]}&limit=3").json()  # since is exclusive
    assert page == {"Changes": everything[5:8], "Done": False, "Last": seqs[7]}
    page = client.get(f"/changes?since={seqs[-2]}").json()
    assert page == {"Changes": everything[-1:], "Done": True, "Last": top}
    assert client.get(f"/changes?since={top}").json() == {"Changes": [], "Done": True, "Last": top}
    for query in ("since=100000000", "since=0&limit=0", f"since={seqs[4]}&limit=0"):
        body = client.get(f"/changes?{query}").json()
        assert body["Changes"] == [] and body["Last"] == top, query
    assert client.get("/changes?limit=0").json()["Done"] is False  # as Orthanc
    for query in ("last", "last=true", "last&since=3&limit=2"):
        assert client.get(f"/changes?{query}").json() == {
            "Changes": everything[-1:],
            "Done": True,
            "Last": top,
        }


@pytest.mark.parametrize(
    "query, code, message",
    [
        ("since=abc", 5, "Bad type for a parameter"),
        ("limit=abc", 5, "Bad type for a parameter"),
        ("since=", 5, "Bad type for a parameter"),
        ("limit=1.5", 5, "Bad type for a parameter"),
        ("since=5&limit=abc", 5, "Bad type for a parameter"),
        ("since=abc&limit=3", 5, "Bad type for a parameter"),
        ("since=-5", 3, "Parameter out of range"),
        ("limit=-1", 3, "Parameter out of range"),
        ("since=5&limit=-1", 3, "Parameter out of range"),
    ],
)
def test_malformed_changes_arguments_are_400(
    archive: Scenario, query: str, code: int, message: str
) -> None:
    """Intentional difference: Orthanc silently restarts from 0, replaying history to a router."""
    assert fixture(f"changes_{query_slug(query)}")["status"] == 200  # what Orthanc does
    response = archive.client.get(f"/changes?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["Details"]
    assert_error(response, 400, message, code, Details=body["Details"])


def query_slug(query: str) -> str:
    return {
        "since=abc": "since_abc",
        "limit=abc": "limit_abc",
        "since=": "since_empty",
        "limit=1.5": "limit_float",
        "since=5&limit=abc": "since5_limit_abc",
        "since=abc&limit=3": "since_abc_limit3",
        "since=-5": "since_minus5",
        "limit=-1": "limit_minus1",
        "since=5&limit=-1": "since5_limit_minus1",
    }[query]


# --- DELETE --------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", [slug for slug, _ in DELETES])
def test_delete_answers_the_remaining_ancestor_as_orthanc(deletions: Scenario, slug: str) -> None:
    assert_like(deletions.recorded[slug], slug)


@pytest.mark.parametrize("slug, deleted", DELETES)
def test_a_delete_adds_no_change_and_the_history_has_its_deleted_changes(
    deletions: Scenario, slug: str, deleted: list[tuple[str, str]]
) -> None:
    """As Orthanc 1.10.1, GET /changes shows nothing for a delete; ?history (Chronicle) lists
    the Deleted change of each resource removed."""
    assert captured_body(f"changes_after_{slug}")["Changes"] == []
    assert deletions.recorded[f"changes_after_{slug}"].json()["Changes"] == []
    changes = deletions.recorded[f"history_after_{slug}"].json()["Changes"]
    paths = {"Patient": "patients", "Study": "studies", "Series": "series", "Instance": "instances"}
    assert change_keys(changes) == [
        ("Deleted", level, resource_id, f"/{paths[level]}/{resource_id}")
        for level, resource_id in deleted
    ]


def test_deleted_resources_are_gone(deletions: Scenario) -> None:
    assert_unknown_resource(deletions.recorded["error_get_deleted_instance"])
    assert_unknown_resource(deletions.recorded["error_get_deleted_patient"])
    body = deletions.recorded["patient_after_series_delete"].json()
    captured = captured_body("patient_after_series_delete")
    body.pop("IsStable"), captured.pop("IsStable")  # StableAge is long on this server
    assert normalise(body) == normalise(captured)
    unknown = deletions.recorded["delete_instance_unknown_after"]
    assert_unknown_resource(unknown)
    assert deletions.recorded["changes_after_delete_instance_unknown_after"].json()["Changes"] == []
    assert_like(deletions.recorded["statistics_after_deletes"], "statistics_after_deletes")
    count = deletions.recorded["statistics_after_deletes"].json()["CountInstances"]
    assert deletions.facts["files_after_deletes"] == count  # the reaper removed the files


def test_deleted_resources_leave_the_changes_but_not_the_history(deletions: Scenario) -> None:
    """As Orthanc 1.10.1, the changes of a deleted resource leave GET /changes (with the same Seq
    values for the others); the log keeps them, and ?history lists them."""
    before = deletions.recorded["changes_before_deletes"].json()["Changes"]
    after = deletions.recorded["changes_after_all_deletes_full"].json()["Changes"]
    deleted = {resource_id for _, removed in DELETES for _, resource_id in removed}
    assert after == [c for c in before if c["ID"] not in deleted]
    assert ("NewInstance", I1) not in {(c["ChangeType"], c["ID"]) for c in after}
    history = deletions.recorded["history_after_all_deletes"].json()["Changes"]
    assert history[: len(before)] == before
    assert {c["ChangeType"] for c in history[len(before) :]} == {"Deleted"}


def test_delete_changes_hides_the_log_and_seq_goes_on(deletions: Scenario) -> None:
    recorded = deletions.recorded
    newest_visible = recorded["changes_before_clear_last"].json()
    assert newest_visible["Changes"][0]["Seq"] == newest_visible["Last"]
    # A cleared log answers the highest Seq ever allocated (a Deleted change may hold it).
    old_last = recorded["history_before_clear_last"].json()["Last"]
    assert old_last >= newest_visible["Last"]
    cleared = recorded["delete_changes"]
    assert cleared.status_code == 200 and cleared.content == b""
    assert cleared.headers["content-type"].startswith("text/plain")
    for slug in ("changes_after_clear", "changes_after_clear_last", "changes_after_clear_since0"):
        assert recorded[slug].json() == {"Changes": [], "Done": True, "Last": old_last}, slug
    assert_like(recorded["statistics_after_clear"], "statistics_after_clear")
    assert_like(recorded["upload_after_clear"], "upload_after_clear")
    for slug in ("changes_after_clear_and_upload", "changes_after_reupload_deleted"):
        body = recorded[slug].json()
        assert change_keys(body["Changes"]) == change_keys(captured_body(slug)["Changes"]), slug
        assert all(change["Seq"] > old_last for change in body["Changes"])
        assert body["Done"] is True and body["Last"] == body["Changes"][-1]["Seq"]
    newest = recorded["changes_after_clear_and_upload_last"].json()
    assert change_keys(newest["Changes"]) == change_keys(
        captured_body("changes_after_clear_and_upload_last")["Changes"]
    )
    assert_like(recorded["upload_syn_i1_after_delete"], "upload_syn_i1_after_delete")
    assert_like(recorded["statistics_final"], "statistics_final")


# --- Rejected uploads leave nothing behind ---------------------------------------------------

REJECTED = [
    "upload_empty_body",
    "upload_hello",
    "upload_truncated_200",
    "upload_truncated_1000",
    "upload_truncated_half",
    "upload_missing_sopinstanceuid",
    "upload_missing_studyuid",
    "upload_missing_seriesuid",
    "upload_enc_DICOMDIR",
    "upload_zip_empty",
    "upload_zip_corrupt",
]


def test_rejected_uploads_leave_no_change_no_file_and_same_statistics(
    server: ChronicleProcess, corpus: Path
) -> None:
    bodies = {slug: (data, headers) for slug, data, headers in capture_uploads(corpus)}
    with server.client() as client:
        ts1, dicom = bodies["upload_ts_1_2_840_10008_1_2_1"]
        assert client.post("/instances", content=ts1, headers=dicom).status_code == 200

        def state() -> tuple[Any, ...]:
            return all_changes(client), stored_files(server), client.get("/statistics").json()

        before = state()
        assert len(before[1]) == 1
        for slug in REJECTED:
            data, headers = bodies[slug]
            response = client.post("/instances", content=data, headers=headers)
            assert response.status_code >= 400
            assert_like(response, slug)  # Orthanc's status and error body, Details included
            assert state() == before, slug
        # answered 200, yet nothing new: an already stored file, a ZIP with no DICOM file
        for slug in ("upload_ts_1_2_840_10008_1_2_1_again", "upload_zip_only_text"):
            data, headers = bodies[slug]
            assert_like(client.post("/instances", content=data, headers=headers), slug)
            assert state() == before, slug


# --- Stability ------------------------------------------------------------------------------


def stable_changes_since(client: httpx.Client, since: int) -> list[tuple[str, str]]:
    changes = client.get(f"/changes?since={since}&limit=1000").json()["Changes"]
    return [(c["ChangeType"], c["ID"]) for c in changes if c["ChangeType"].startswith("Stable")]


def test_stable_after_quiet_time_and_unstable_after_a_new_instance(
    start_server: Callable[..., ChronicleProcess],
) -> None:
    process = start_server(stable_age=1)
    ids = dict(patient_id="STABLE-PAT", study_uid=uid(6, 1), series_uid=uid(6, 1, 1))
    first = capture.make_dicom(**ids, sop_uid=uid(6, 1, 1, 1), instance_number=1)
    second = capture.make_dicom(**ids, sop_uid=uid(6, 1, 1, 2), instance_number=2)
    with process.client() as client:
        stored = upload(client, first).json()
        resources = [
            ("StableSeries", "series", stored["ParentSeries"]),
            ("StableStudy", "studies", stored["ParentStudy"]),
            ("StablePatient", "patients", stored["ParentPatient"]),
        ]
        expected = [(change, resource_id) for change, _, resource_id in resources]
        assert poll(
            lambda: stable_changes_since(client, 0) == expected, "the first Stable* changes"
        )
        for _, level, resource_id in resources:
            assert client.get(f"/{level}/{resource_id}").json()["IsStable"] is True

        mark = last_seq(client)
        assert upload(client, second).json()["Status"] == "Success"
        # Unstable again until StableAge passes (tests/integration/test_consumers.py checks the
        # unstable state itself, step by step): the Stable* changes come after the new instance.
        assert poll(lambda: stable_changes_since(client, mark) == expected, "Stable* changes again")
        changes = client.get(f"/changes?since={mark}").json()["Changes"]
        assert [c["ChangeType"] for c in changes] == [
            "NewInstance",
            "StableSeries",
            "StableStudy",
            "StablePatient",
        ]
        for _, level, resource_id in resources:
            assert client.get(f"/{level}/{resource_id}").json()["IsStable"] is True


# --- A real Orthanc client ------------------------------------------------------------------


def test_pyorthanc_client(server: ChronicleProcess, corpus: Path) -> None:
    path = corpus / "Encodings" / "DavidClunie" / "SCSGERM"
    orthanc = pyorthanc.Orthanc(server.url)
    assert orthanc.get_system()["Version"] == "1.11.3"
    answer = orthanc.post_instances(path.read_bytes())
    assert answer == captured_body("upload_enc_SCSGERM")
    [instance] = pyorthanc.upload(orthanc, corpus / "SignedCT.dcm")
    assert instance.id_ == IDS["corpus"]["SignedCT.dcm"]["ID"]
    assert sorted(orthanc.get_patients()) == sorted(
        [answer["ParentPatient"], IDS["corpus"]["SignedCT.dcm"]["ParentPatient"]]
    )

    patient = pyorthanc.Patient(answer["ParentPatient"], orthanc)
    assert patient.name == "\u00c4neas^R\u00fcdiger"
    [study] = patient.studies
    [series] = study.series
    [german] = series.instances
    assert german.id_ == answer["ID"]
    assert german.simplified_tags == captured_body("tags_simplify_enc_SCSGERM")
    assert german.tags == captured_body("tags_enc_SCSGERM")
    assert german.get_pydicom().PatientName == "\u00c4neas^R\u00fcdiger"
    assert orthanc.get_statistics()["CountInstances"] == 2

    assert orthanc.delete_patients_id(patient.id_) == {"RemainingAncestor": None}
    assert orthanc.get_patients() == [IDS["corpus"]["SignedCT.dcm"]["ParentPatient"]]
    changes = orthanc.get_changes(params={"limit": 1000})["Changes"]
    assert patient.id_ not in {c["ID"] for c in changes}
    history = orthanc.get_changes(params={"limit": 1000, "history": "true"})["Changes"]
    assert ("Deleted", patient.id_) in {(c["ChangeType"], c["ID"]) for c in history}
    with pytest.raises(httpx.HTTPError, match="HTTP code: 404") as error:
        orthanc.get_patients_id(patient.id_)
    assert '"Message":"Unknown resource"' in str(error.value)
