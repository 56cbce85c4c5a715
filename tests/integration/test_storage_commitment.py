"""Storage commitment (Push Model) through DICOM and HTTP, on two processes of one archive.

The peer is a pynetdicom modality (tests/support/commitment_peer.py). Chronicle asks it through
the first process (REST); it reports to the second process's DICOM server, and the first one
answers GET /storage-commitment/{id}. As SCP, the peer asks the second process; the leader's
processor sends the N-EVENT-REPORT.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydicom.uid import CTImageStorage, MRImageStorage

from adapters.database import DatabaseAddress
from tests.support.commitment_peer import CommitmentPeer, all_committed, missing, report
from tests.support.dicom_factory import make_instance
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, free_port, upload_accepted
from tests.support.waiting import eventually

STUDY = "1.2.826.0.1.3680043.8.498.71"
SERIES = f"{STUDY}.1"
UIDS = [f"{SERIES}.{n}" for n in (1, 2, 3)]
UNKNOWN_UID = f"{SERIES}.99"


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, CommitmentPeer]]:
    found = {
        "peer": CommitmentPeer("PEER"),
        "refuser": CommitmentPeer("REFUSER", action_status=0x0110),
        "nocommit": CommitmentPeer("NOCOMMIT"),
    }
    for peer in found.values():
        peer.start()
    yield found
    for peer in found.values():
        peer.stop()


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: DatabaseAddress,
    peers: dict[str, CommitmentPeer],
) -> Iterator[tuple[ChronicleProcess, ChronicleProcess]]:
    """Two processes on one database and storage area; the peer reports to the second."""
    root = tmp_path_factory.mktemp("commitment")
    url = fresh_database(postgres, f"chronicle_test_commitment_{os.getpid()}")
    modalities: dict[str, Any] = {
        "peer": peers["peer"].modality(AllowStorageCommitment=True),
        "refuser": peers["refuser"].modality(),
        "nocommit": peers["nocommit"].modality(AllowStorageCommitment=False),
        "unreachable": ["GONE", "127.0.0.1", free_port()],
    }
    config = root / "orthanc.json"
    config.write_text(json.dumps({"DicomModalities": modalities}))
    first = ChronicleProcess(root / "data", url, "--config", str(config))
    second = ChronicleProcess(root / "data", url, "--config", str(config))
    peers["peer"].report_to = ("127.0.0.1", second.dicom_port, "CHRONICLE")
    with first, second:
        with first.client() as client:
            for n, uid in enumerate(UIDS, start=1):
                upload_accepted(client, make_instance("SC", STUDY, SERIES, uid, instance_number=n))
        yield first, second


@pytest.fixture
def client(pair: tuple[ChronicleProcess, ChronicleProcess]) -> Iterator[httpx.Client]:
    with pair[0].client() as http:
        yield http


SETTLED: dict[str, dict[str, Any]] = {}  # every report a test saw complete, by ID


def settled(client: httpx.Client, report_id: str) -> dict[str, Any]:
    """The report once the modality's N-EVENT-REPORT has completed it."""
    answers: list[dict[str, Any]] = []

    def done() -> bool:
        answers.append(client.get(f"/storage-commitment/{report_id}").json())
        return answers[-1]["Status"] != "Pending"

    assert eventually(done), answers[-1]
    SETTLED[report_id] = answers[-1]
    return answers[-1]


def entries(*uids: str) -> list[dict[str, str]]:
    return [{"SOPClassUID": CTImageStorage, "SOPInstanceUID": uid} for uid in uids]


# --- Chronicle asks (SCU) ----------------------------------------------------------------------


def test_a_commitment_asked_by_rest_is_reported_to_another_process(
    client: httpx.Client, peers: dict[str, CommitmentPeer]
) -> None:
    peer = peers["peer"]
    peer.answer = all_committed
    body = {"DicomInstances": [[CTImageStorage, UIDS[0]], entries(UIDS[1])[0]]}
    answer = client.post("/modalities/peer/storage-commitment", json=body)
    assert answer.status_code == 200, answer.text
    report_id = answer.json()["ID"]
    assert answer.json() == {"ID": report_id, "Path": f"/storage-commitment/{report_id}"}
    assert report_id.startswith("2.25.")
    assert peer.requests[-1]["calling_aet"] == "CHRONICLE"
    assert peer.requests[-1]["instances"] == [[CTImageStorage, uid] for uid in UIDS[:2]]
    assert settled(client, report_id) == {
        "Failures": [],
        "RemoteAET": "PEER",
        "Status": "Success",
        "Success": entries(*UIDS[:2]),
    }


def test_resources_name_their_instances_and_failures_are_described(
    client: httpx.Client, peers: dict[str, CommitmentPeer]
) -> None:
    peers["peer"].answer = missing(UIDS[2])
    study = client.post("/tools/lookup", content=STUDY).json()[0]["ID"]
    answer = client.post("/modalities/peer/storage-commitment", json={"Resources": [study]})
    assert answer.status_code == 200, answer.text
    assert peers["peer"].requests[-1]["instances"] == [[CTImageStorage, uid] for uid in UIDS]
    assert settled(client, answer.json()["ID"]) == {
        "Failures": [
            {
                "Description": "One or more of the elements in the Referenced SOP Instance "
                "Sequence was not available",
                "FailureReason": 0x0112,
                "SOPClassUID": CTImageStorage,
                "SOPInstanceUID": UIDS[2],
            }
        ],
        "RemoteAET": "PEER",
        "Status": "Failure",
        "Success": entries(*UIDS[:2]),
    }
    removal = client.post(f"/storage-commitment/{answer.json()['ID']}/remove")
    assert (removal.status_code, removal.json()["OrthancStatus"]) == (500, 6)
    assert len(client.get("/instances").json()) == len(UIDS)


def test_a_refused_or_unreachable_request_fails_its_report(client: httpx.Client) -> None:
    for modality, why in (("refuser", "cannot be handled by remote AET"), ("unreachable", "GONE")):
        answer = client.post(
            f"/modalities/{modality}/storage-commitment",
            json={"DicomInstances": [[CTImageStorage, UIDS[0]]], "Timeout": 5},
        )
        assert (answer.status_code, answer.json()["OrthancStatus"]) == (500, 9), answer.text
        details = answer.json()["Details"]
        assert why in details
        path = details.rsplit("(report ", 1)[1].rstrip(")")
        report_json = client.get(path).json()
        assert report_json["Status"] == "Failure" and why in report_json["Details"]
        assert report_json["Success"] == []
        assert [f["FailureReason"] for f in report_json["Failures"]] == [0x0110]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, 15),
        (b"[]", 400, 15),
        (b"not json", 400, 15),
        (b"{}", 400, 15),
        (b'{"DicomInstances": "x"}', 400, 15),
        (b'{"DicomInstances": [["1.2"]]}', 400, 15),
        (b'{"DicomInstances": [{"SOPClassUID": 1, "SOPInstanceUID": "1.2"}]}', 400, 15),
        (b'{"DicomInstances": [3]}', 400, 15),
        (b'{"Resources": "x"}', 400, 15),
        (b'{"Resources": [1]}', 400, 15),
        (b'{"Resources": ["nope"]}', 404, 17),
        (b'{"DicomInstances": [["", ""]]}', 400, 3),
        (b'{"DicomInstances": [["1.2\\u0000", "1.3"]]}', 400, 3),
        (b'{"DicomInstances": [], "Timeout": "x"}', 400, 15),
    ],
)
def test_bad_requests_are_refused_and_record_nothing(
    client: httpx.Client, body: bytes, status: int, code: int
) -> None:
    before = client.get("/statistics").json()
    answer = client.post("/modalities/peer/storage-commitment", content=body)
    assert (answer.status_code, answer.json()["OrthancStatus"]) == (status, code), answer.text
    assert client.get("/statistics").json() == before


def test_unknown_modality_and_unknown_report(client: httpx.Client) -> None:
    answer = client.post("/modalities/nope/storage-commitment", json={"DicomInstances": []})
    assert (answer.status_code, answer.json()["OrthancStatus"]) == (404, 7)
    for path in ("/storage-commitment/2.25.1", "/storage-commitment/2.25.1/remove"):
        method = "GET" if path.endswith(".1") else "POST"
        answer = client.request(method, path)
        assert (answer.status_code, answer.json()["OrthancStatus"]) == (404, 7)
        assert answer.json()["Details"] == "No storage commitment transaction with UID: 2.25.1"


def test_store_chained_with_storage_commitment(
    client: httpx.Client, peers: dict[str, CommitmentPeer]
) -> None:
    peers["peer"].answer = all_committed
    study = client.post("/tools/lookup", content=STUDY).json()[0]["ID"]
    bad = client.post("/modalities/peer/store", json={"Resources": [study], "StorageCommitment": 1})
    assert (bad.status_code, bad.json()["OrthancStatus"]) == (400, 5)
    answer = client.post(
        "/modalities/peer/store", json={"Resources": [study], "StorageCommitment": True}
    )
    assert answer.status_code == 200, answer.text
    content = answer.json()
    report_id = content["StorageCommitmentTransactionUID"]
    assert content["InstancesCount"] == len(UIDS) and content["FailedInstancesCount"] == 0
    assert settled(client, report_id)["Success"] == entries(*UIDS)
    plain = client.post("/modalities/peer/store", json={"Resources": [study]}).json()
    assert "StorageCommitmentTransactionUID" not in plain


def test_an_unsolicited_report_is_kept_as_orthanc_keeps_it(
    pair: tuple[ChronicleProcess, ChronicleProcess], client: httpx.Client
) -> None:
    status = report(
        "PEER",
        "127.0.0.1",
        pair[1].dicom_port,
        "CHRONICLE",
        "2.25.42",
        [],
        [[MRImageStorage, "1.2.3", 0x0112]],
    )
    assert status == 0
    answer = client.get("/storage-commitment/2.25.42").json()
    assert answer["RemoteAET"] == "PEER" and answer["Status"] == "Failure"
    assert [f["SOPInstanceUID"] for f in answer["Failures"]] == ["1.2.3"]
    # an event type Annex J does not define is refused
    assert (
        report("PEER", "127.0.0.1", pair[1].dicom_port, "CHRONICLE", "2.25.43", [], [], 3) == 0x0113
    )


def test_remove_deletes_what_the_modality_committed(
    client: httpx.Client, peers: dict[str, CommitmentPeer]
) -> None:
    peers["peer"].answer = all_committed
    body = {"DicomInstances": [[CTImageStorage, UIDS[2]]]}
    report_id = client.post("/modalities/peer/storage-commitment", json=body).json()["ID"]
    assert settled(client, report_id)["Status"] == "Success"
    answer = client.post(f"/storage-commitment/{report_id}/remove")
    assert (answer.status_code, answer.json()) == (200, {})
    remaining = client.post("/tools/find", json={"Level": "Instance", "Query": {}}).json()
    assert len(remaining) == len(UIDS) - 1
    assert client.post("/tools/lookup", content=UIDS[2]).json() == []


# --- a modality asks Chronicle (SCP) -------------------------------------------------------------


def test_a_modality_asks_and_the_leader_reports_back(
    pair: tuple[ChronicleProcess, ChronicleProcess], peers: dict[str, CommitmentPeer]
) -> None:
    peer = peers["peer"]
    before = len(peer.reports)
    asked = [[CTImageStorage, UIDS[0]], [MRImageStorage, UIDS[1]], [CTImageStorage, UNKNOWN_UID]]
    assert peer.ask(pair[1].dicom_port, "CHRONICLE", "2.25.7", asked) == 0
    assert peer.ask(pair[0].dicom_port, "CHRONICLE", "2.25.8", asked[:1]) == 0
    received = {r["transaction_uid"]: r for r in peer.wait_for_reports(before + 2)[before:]}
    assert received["2.25.7"] == {
        "calling_aet": "CHRONICLE",
        "event_type": 2,
        "transaction_uid": "2.25.7",
        "has_referenced_sequence": True,
        "has_failed_sequence": True,
        "succeeded": [[CTImageStorage, UIDS[0]]],
        "failed": [[MRImageStorage, UIDS[1], 0x0119], [CTImageStorage, UNKNOWN_UID, 0x0112]],
        "reporter_roles": [False, True],
    }
    assert received["2.25.8"]["event_type"] == 1
    assert not received["2.25.8"]["has_failed_sequence"]


def test_only_modalities_allowed_to_may_ask(
    pair: tuple[ChronicleProcess, ChronicleProcess], peers: dict[str, CommitmentPeer]
) -> None:
    stranger = CommitmentPeer("STRANGER")
    assert (
        stranger.ask(pair[1].dicom_port, "CHRONICLE", "2.25.9", [[CTImageStorage, UIDS[0]]]) is None
    )
    assert peers["nocommit"].ask(pair[1].dicom_port, "CHRONICLE", "2.25.10", []) is None
    assert (
        peers["peer"].ask(pair[1].dicom_port, "CHRONICLE", "2.25.11", [], action_type=2) == 0x0123
    )


# --- last: the read model is a projection of the log ---------------------------------------------


def test_reports_are_the_same_after_a_rebuild(
    pair: tuple[ChronicleProcess, ChronicleProcess], client: httpx.Client
) -> None:
    assert len(SETTLED) >= 3
    rebuilt = pair[0].rebuild()
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    for report_id, seen in SETTLED.items():
        assert client.get(f"/storage-commitment/{report_id}").json() == seen
