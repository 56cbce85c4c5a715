"""Two Chronicle servers exchange data both ways: by C-STORE, by C-MOVE and as HTTP peers.

IDs match on both sides; peers get the same file bytes, DICOM transfers the same dataset;
the sender's exports log shows each transfer.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import pydicom
import pytest

from adapters.database import DatabaseAddress
from tests.support.dicom_factory import make_series
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, free_port


def _database(postgres: DatabaseAddress, name: str) -> str:
    return fresh_database(postgres, name)


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    root = tmp_path_factory.mktemp("two-nodes")
    ports = {name: (free_port(), free_port()) for name in ("a", "b")}
    servers = []
    for name, other in (("a", "b"), ("b", "a")):
        http_port, dicom_port = ports[name]
        other_http, other_dicom = ports[other]
        config = root / f"{name}.json"
        config.write_text(
            json.dumps(
                {
                    "Name": f"node-{name}",
                    "DicomAet": name.upper(),
                    "HttpPort": http_port,
                    "DicomPort": dicom_port,
                    "DicomModalities": {other: [other.upper(), "127.0.0.1", other_dicom]},
                    "OrthancPeers": {other: [f"http://127.0.0.1:{other_http}/"]},
                }
            )
        )
        server = ChronicleProcess(
            root / name,
            _database(postgres, f"chronicle_two_nodes_{name}"),
            "--config",
            str(config),
            "--dicom-port",
            str(dicom_port),
        )
        server.port = http_port
        servers.append(server)
    for server in servers:
        server.start()
    try:
        with servers[0].client() as a, servers[1].client() as b:
            yield a, b
    finally:
        for server in servers:
            server.stop()


def _upload(
    client: httpx.Client, patient: str, count: int = 2
) -> tuple[str, list[str], list[bytes]]:
    files = make_series(count, patient)
    answers = [client.post("/instances", content=data).json() for data in files]
    return answers[0]["ParentStudy"], [a["ID"] for a in answers], files


def _dataset_bytes(data: bytes) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(data))
    del dataset.file_meta
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def test_c_store_from_a_to_b(nodes: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = nodes
    study, instances, files = _upload(a, "TWO-STORE")
    assert a.post("/modalities/b/store", content=study).status_code == 200
    for instance_id, data in zip(instances, files, strict=True):
        received = b.get(f"/instances/{instance_id}/file")
        assert received.status_code == 200
        assert _dataset_bytes(received.content) == _dataset_bytes(data)
        assert b.get(f"/instances/{instance_id}/metadata/RemoteAET").text == "A"
    exported = [e["ID"] for e in a.get("/exports").json()["Exports"] if e["RemoteModality"] == "b"]
    assert exported[-1] == study
    sent = [e["ID"] for e in a.get("/exports/audit", params={"destination": "b"}).json()]
    assert sent[-2:] == instances


def test_c_move_b_asks_a_for_a_study(nodes: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = nodes
    study, instances, _ = _upload(a, "TWO-MOVE")
    study_uid = a.get(f"/studies/{study}").json()["MainDicomTags"]["StudyInstanceUID"]
    moved = b.post(
        "/modalities/a/move",
        json={"Level": "Study", "Resources": [{"StudyInstanceUID": study_uid}]},
    )
    assert moved.status_code == 200, moved.text
    assert {i["ID"] for i in b.get(f"/studies/{study}/instances").json()} == set(instances)
    audit = a.get("/exports/audit", params={"destination": "b"}).json()
    assert {e["ID"] for e in audit} >= set(instances)


def test_peers_over_http_both_ways(nodes: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = nodes
    for sender, receiver, peer, patient in ((a, b, "b", "TWO-PEER-AB"), (b, a, "a", "TWO-PEER-BA")):
        study, instances, files = _upload(sender, patient)
        answer = sender.post(f"/peers/{peer}/store", content=study)
        assert answer.status_code == 200, answer.text
        for instance_id, data in zip(instances, files, strict=True):
            assert receiver.get(f"/instances/{instance_id}/file").content == data
        logged = sender.get("/exports").json()["Exports"][-1]
        assert (logged["RemoteModality"], logged["ID"]) == (peer, study)
        audit = sender.get("/exports/audit", params={"destination": peer}).json()
        sent = [e for e in audit if e["ID"] in instances]
        assert {(e["DestinationKind"], e["Status"]) for e in sent} == {("peer", "Success")}
        assert len(sent) == len(instances)
    assert a.get("/peers/b/system").json()["Name"] == "node-b"


def test_query_then_retrieve_from_the_other_node(nodes: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = nodes
    study, instances, _ = _upload(a, "TWO-RETRIEVE", 3)
    query = b.post(
        "/modalities/a/query",
        json={"Level": "Study", "Query": {"PatientID": "TWO-RETRIEVE", "StudyInstanceUID": ""}},
    ).json()
    answers = b.get(f"/queries/{query['ID']}/answers", params={"expand": ""}).json()
    assert len(answers) == 1
    series = b.post(f"/queries/{query['ID']}/answers/0/query-series").json()
    assert b.get(f"{series['Path']}/level").text == "Series"
    assert len(b.get(f"{series['Path']}/answers").json()) == 1
    images = b.post(f"/queries/{query['ID']}/answers/0/query-instances").json()
    assert len(b.get(f"{images['Path']}/answers").json()) == 3
    retrieved = b.post(f"/queries/{query['ID']}/answers/0/retrieve", content=b"B")
    assert retrieved.status_code == 200, retrieved.text
    assert retrieved.json()["TargetAet"] == "B"
    assert {i["ID"] for i in b.get(f"/studies/{study}/instances").json()} == set(instances)
    assert b.post(f"/queries/{query['ID']}/answers/7/retrieve", content=b"B").status_code == 404
