"""Storage quotas (MaximumStorageSize, MaximumPatientCount, MaximumStorageMode), through HTTP
uploads and C-STORE, as Orthanc keeps them.

Recycle mode is replayed against the answers captured from a real Orthanc 1.10.1
(tests/fixtures/orthanc/capture_recycling.py: the same files, the same steps). Reject mode is
new in Orthanc 1.11.2, which the installed Orthanc predates: its answers are asserted from the
1.11.3 source (StatelessDatabaseOperations::Store: ErrorCode_FullStorage with HTTP status 507,
"Maximum storage size reached" or "Maximum patient count reached"; a C-STORE that fails with an
exception is answered 0xA700 by StoreScp.cpp).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from adapters.config import ConfigError, load_settings
from adapters.database import DatabaseAddress
from adapters.event_store import event_store_env
from domain.aggregates import Instance
from domain.archive import Archive
from domain.main_tags import orthanc_id
from domain.origin import RECYCLING
from tests.support.capture_scripts import CAPTURES, capture_script
from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess
from tests.support.waiting import eventually

OUT_OF_RESOURCES = 0xA700
AET = "CHRONICLE"
CASES = json.loads((CAPTURES / "recycling_cases.json").read_text(encoding="utf-8"))
KB = 1024


def recycling() -> Any:
    return capture_script("capture_recycling")


@contextmanager
def quota_server(
    tmp_path: Path, database_url: str, options: dict[str, Any], *extra: str
) -> Iterator[ChronicleProcess]:
    config = {"DicomAet": AET, "DicomAlwaysAllowStore": True, **options}
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(config))
    server = ChronicleProcess(tmp_path / "data", database_url, "--config", str(path), *extra)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def c_store(server: ChronicleProcess, data: bytes) -> int:
    store = recycling().c_store(server.dicom_port, AET, "TESTSCU")
    status: int = store(data)
    return status


def upload(client: httpx.Client, data: bytes) -> httpx.Response:
    return client.post("/instances", content=data, headers={"Content-Type": "application/dicom"})


def patient(key: str, number: int = 1, padding: int = 0) -> bytes:
    """Instance `number` of patient `key`, `padding` bytes larger than a small file."""
    extra = {"EncapsulatedDocument": bytes(padding)} if padding else None
    return make_instance(
        f"QUOTA-{key}",
        f"1.2.826.0.1.3680043.8.498.77.{len(key)}.{sum(map(ord, key))}",
        f"1.2.826.0.1.3680043.8.498.77.{len(key)}.{sum(map(ord, key))}.1",
        f"1.2.826.0.1.3680043.8.498.77.{len(key)}.{sum(map(ord, key))}.1.{number}",
        instance_number=number,
        extra=extra,
    )


def stored_files(server: ChronicleProcess) -> set[str]:
    root = server.data_dir / "storage"
    return {path.name for path in root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*")}


def log_archive(database_url: str) -> Archive:
    return Archive(env=event_store_env(DatabaseAddress.from_url(database_url), 1))


def log_head(database_url: str) -> int:
    archive = log_archive(database_url)
    try:
        head: int = archive.recorder.max_notification_id() or 0
        return head
    finally:
        archive.close()


def deleted_events(database_url: str) -> list[Any]:
    archive = log_archive(database_url)
    try:
        notifications = archive.recorder.select_notifications(1, 100_000)
        events = [archive.mapper.to_domain_event(n) for n in notifications]
        return [event for event in events if isinstance(event, Instance.Deleted)]
    finally:
        archive.close()


def totals(database_url: str) -> tuple[int, int, int, int]:
    """The totals row beside what it sums: patients, stored bytes; counted, summed."""
    with psycopg.connect(DatabaseAddress.from_url(database_url).conninfo()) as conn:
        row = conn.execute(
            "SELECT t.patients, t.stored_bytes, "
            "(SELECT count(*) FROM hierarchy.resources WHERE level = 0), "
            "(SELECT coalesce(sum(coalesce(file_compressed_size, file_size)), 0) "
            "FROM hierarchy.resources WHERE level = 3) "
            "+ (SELECT coalesce(sum(coalesce(compressed_size, size)), 0) "
            "FROM hierarchy.attachments) FROM hierarchy.totals t"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


# --- Recycle mode, replayed against Orthanc 1.10.1 --------------------------------------------


@pytest.mark.parametrize("scenario", sorted(CASES["scenarios"]))
def test_recycling_answers_as_orthanc(tmp_path: Path, database_url: str, scenario: str) -> None:
    """Every step's status and answer, and the patients left after it, as Orthanc 1.10.1 gave
    them: the oldest unprotected patient (by its last stored instance) goes first, never the
    patient receiving the instance; when no candidate is left, HTTP 500 FullStorage and
    C-STORE 0xA700, nothing recycled; an instance larger than the whole area is refused."""
    captured = CASES["scenarios"][scenario]
    module = recycling()
    steps = [tuple(step) for step in module.SCENARIOS[scenario]["steps"]]
    assert [tuple(record["step"]) for record in captured["steps"]] == steps
    with (
        quota_server(tmp_path, database_url, captured["config"]) as server,
        server.client() as client,
    ):
        replayed = module.run_steps(
            client, lambda data: c_store(server, data), steps, module.files()
        )
        for mine, orthanc in zip(replayed, captured["steps"], strict=True):
            assert mine == orthanc, mine["step"]
        counted = totals(database_url)
        assert counted[:2] == counted[2:]


# --- Recycling through the log ----------------------------------------------------------------


def test_recycled_patient_is_an_ordinary_delete(tmp_path: Path, database_url: str) -> None:
    """The recycled patient's Deleted changes are in /changes?history (Orthanc's view drops
    them with the rest of its changes), its events say the delete was recycling and who caused
    it, and the file reaper removes its files."""
    with (
        quota_server(tmp_path, database_url, {"MaximumPatientCount": 2}) as server,
        server.client() as client,
    ):
        old = upload(client, patient("old")).json()
        kept = upload(client, patient("kept")).json()
        before = stored_files(server)
        assert c_store(server, patient("new")) == 0x0000
        assert client.get("/patients").json() == [kept["ParentPatient"], orthanc_id("QUOTA-new")]
        history = client.get("/changes", params={"limit": 1000, "history": ""}).json()
        deleted = [
            (c["ResourceType"], c["ID"]) for c in history["Changes"] if c["ChangeType"] == "Deleted"
        ]
        assert deleted == [
            ("Instance", old["ID"]),
            ("Series", old["ParentSeries"]),
            ("Study", old["ParentStudy"]),
            ("Patient", old["ParentPatient"]),
        ]
        view = client.get("/changes", params={"limit": 1000}).json()["Changes"]
        assert old["ParentPatient"] not in {c["ID"] for c in view}
        # The old patient's file goes (the reaper follows the log), the new one's stays.
        assert eventually(lambda: len(before - stored_files(server)) == 1)
        assert len(stored_files(server) - before) == 1
    (recycled,) = deleted_events(database_url)
    assert recycled.instance_id == old["ID"]
    assert recycled.origin["reason"] == RECYCLING
    assert recycled.origin["channel"] == "DICOM"  # the store that made it, with its caller
    assert recycled.origin["remote_aet"] == "TESTSCU"


def test_overwriting_an_instance_counts_the_new_file_only(
    tmp_path: Path, database_url: str
) -> None:
    """With OverwriteInstances, the copy replaced frees its bytes: storing it again never
    recycles a patient it would fit beside."""
    a, b = patient("a", padding=400 * KB), patient("b", padding=400 * KB)
    options = {"MaximumStorageSize": 1, "OverwriteInstances": True}
    with quota_server(tmp_path, database_url, options) as server, server.client() as client:
        ids = [upload(client, data).json()["ParentPatient"] for data in (a, b)]
        assert upload(client, b).json()["Status"] == "Success"
        assert client.get("/patients").json() == ids
        counted = totals(database_url)
        assert counted[:2] == counted[2:]


# --- Reject mode (Orthanc 1.11.2+) ------------------------------------------------------------


def full_storage(details: str, status: int) -> dict[str, Any]:
    phrase = {500: "Internal Server Error", 507: "Insufficient Storage"}[status]
    return {
        "Details": details,
        "HttpError": phrase,
        "HttpStatus": status,
        "Message": "The file storage is full",
        "Method": "POST",
        "OrthancError": "The file storage is full",
        "OrthancStatus": 19,
        "Uri": "/instances",
    }


def test_reject_mode_refuses_a_patient_beyond_the_count(tmp_path: Path, database_url: str) -> None:
    """507 over REST, 0xA700 over DICOM, and nothing of the instance left: no event, no file,
    no change; the patients already stored still take instances."""
    options = {"MaximumPatientCount": 1, "MaximumStorageMode": "Reject"}
    with quota_server(tmp_path, database_url, options) as server, server.client() as client:
        kept = upload(client, patient("kept")).json()
        head, files = log_head(database_url), stored_files(server)
        changes = client.get("/changes", params={"history": ""}).json()
        refused = upload(client, patient("refused"))
        assert (refused.status_code, refused.json()) == (
            507,
            full_storage("Maximum patient count reached", 507),
        )
        assert c_store(server, patient("refused", 2)) == OUT_OF_RESOURCES
        assert log_head(database_url) == head
        assert stored_files(server) == files
        assert client.get("/changes", params={"history": ""}).json() == changes
        assert client.get("/patients").json() == [kept["ParentPatient"]]
        assert upload(client, patient("kept", 2)).json()["Status"] == "Success"
        assert c_store(server, patient("kept", 3)) == 0x0000
        assert len(client.get(f"/patients/{kept['ParentPatient']}/instances").json()) == 3


def test_reject_mode_refuses_an_instance_beyond_the_size(tmp_path: Path, database_url: str) -> None:
    options = {"MaximumStorageSize": 1, "MaximumStorageMode": "Reject"}
    with quota_server(tmp_path, database_url, options) as server, server.client() as client:
        first = upload(client, patient("one", padding=600 * KB))
        assert first.status_code == 200
        refused = upload(client, patient("two", padding=600 * KB))
        assert (refused.status_code, refused.json()) == (
            507,
            full_storage("Maximum storage size reached", 507),
        )
        # The same patient is no exception: the size is what is exceeded.
        again = upload(client, patient("one", 2, padding=600 * KB))
        assert again.status_code == 507
        huge = patient("huge", padding=1100 * KB)
        alone = upload(client, huge)
        details = (
            f"Cannot store an instance of size {len(huge)} bytes in a storage area "
            f"limited to {1024 * 1024}"
        )
        assert (alone.status_code, alone.json()) == (500, full_storage(details, 500))
        assert client.get("/patients").json() == [first.json()["ParentPatient"]]
        assert len(stored_files(server)) == 1


# --- Concurrency, start-up ---------------------------------------------------------------------


def test_concurrent_stores_never_exceed_the_patient_count(
    tmp_path: Path, database_url: str
) -> None:
    """Two processes, eight clients at once, each storing new patients: every store succeeds
    and the archive never ends with more patients than allowed."""
    per_client, clients = 4, 8
    with quota_server(
        tmp_path, database_url, {"MaximumPatientCount": 3}, "--workers", "2"
    ) as server:
        statuses: list[int] = []

        def send(worker: int) -> None:
            with server.client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
                for n in range(per_client):
                    data = patient(f"w{worker}-{n}")
                    statuses.append(upload(client, data).status_code)

        threads = [threading.Thread(target=send, args=(w,)) for w in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * (per_client * clients)
        with server.client() as client:
            assert len(client.get("/patients").json()) == 3
            assert client.get("/statistics").json()["CountPatients"] == 3
        counted = totals(database_url)
        assert counted[:2] == counted[2:]
        assert counted[0] == 3
        assert len(deleted_events(database_url)) == per_client * clients - 3


def test_start_up_recycles_down_to_lowered_limits(tmp_path: Path, database_url: str) -> None:
    """As Orthanc at start-up: limits lowered since the last run recycle the oldest
    unprotected patients before anything is served."""
    with quota_server(tmp_path, database_url, {}) as server, server.client() as client:
        ids = [upload(client, patient(key)).json()["ParentPatient"] for key in "abcd"]
        assert client.put(f"/patients/{ids[0]}/protected", content=b"1").status_code == 200
    with (
        quota_server(tmp_path, database_url, {"MaximumPatientCount": 2}) as server,
        server.client() as client,
    ):
        assert client.get("/patients").json() == [ids[0], ids[3]]


# --- Configuration ---------------------------------------------------------------------------


def orthanc_config(tmp_path: Path, options: dict[str, Any]) -> Path:
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(options))
    return path


def test_quota_options_are_read_from_the_orthanc_configuration(tmp_path: Path) -> None:
    options = {"MaximumStorageSize": 20, "MaximumPatientCount": 7, "MaximumStorageMode": "Reject"}
    settings = load_settings(orthanc_config(tmp_path, options), environ={})
    assert settings.maximum_storage_bytes == 20 * 1024 * 1024
    assert settings.maximum_patient_count == 7
    assert settings.maximum_storage_mode == "Reject"
    defaults = load_settings(orthanc_config(tmp_path, {}), environ={})
    assert not defaults.storage_limited and defaults.maximum_storage_mode == "Recycle"
    from_environment = load_settings(environ={"CHRONICLE_MAXIMUM_PATIENT_COUNT": "5"})
    assert from_environment.maximum_patient_count == 5


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("MaximumStorageSize", -1, "MaximumStorageSize (maximum_storage_size): 0 or more"),
        ("MaximumPatientCount", -3, "MaximumPatientCount (maximum_patient_count): 0 or more"),
        ("MaximumStorageSize", "abc", "MaximumStorageSize (maximum_storage_size): a whole"),
        ("MaximumStorageSize", 1.5, "MaximumStorageSize (maximum_storage_size): a whole"),
        ("MaximumPatientCount", True, "MaximumPatientCount (maximum_patient_count): a whole"),
        ("MaximumStorageMode", "recycle", 'MaximumStorageMode: "Recycle" or "Reject"'),
    ],
)
def test_invalid_quota_options_stop_the_start(
    tmp_path: Path, option: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(orthanc_config(tmp_path, {option: value}), environ={})
