"""Several processes, one archive: one PostgreSQL, one storage area.

Every process serves HTTP and DICOM; exactly one (the leader, by an advisory lock) runs the
read models' runners, the processors and the job engine, and another takes over when it dies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess
from tests.support.waiting import eventually


def instance(n: int) -> bytes:
    return make_instance("WORKERS", "1.8.1", "1.8.1.1", f"1.8.1.1.{n}", instance_number=n)


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[tuple[ChronicleProcess, ChronicleProcess]]:
    """Two servers on one database and one data directory; the first one started leads."""
    first = ChronicleProcess(tmp_path / "data", database_url)
    second = ChronicleProcess(tmp_path / "data", database_url)
    first.start()
    second.start()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def test_a_write_answered_by_one_process_is_read_at_once_from_the_other(
    pair: tuple[ChronicleProcess, ChronicleProcess],
) -> None:
    first, second = pair
    with first.client() as one, second.client() as other:
        for n in range(1, 6):
            writer, reader = (one, other) if n % 2 else (other, one)
            stored = writer.post("/instances", content=instance(n)).json()
            assert reader.get(f"/instances/{stored['ID']}").status_code == 200
            series = reader.get(f"/series/{stored['ParentSeries']}").json()
            assert len(series["Instances"]) == n
            changes = reader.get("/changes", params={"limit": 1000}).json()["Changes"]
            new = [c for c in changes if c["ChangeType"] == "NewInstance"]
            assert [c["ID"] for c in new][-1] == stored["ID"] and len(new) == n
        # A read model that is not projected inline (the configuration): the follower waits for
        # it in its own thread, so the leader serves it at once too.
        modality = {"AET": "STORESCP", "Host": "127.0.0.1", "Port": 11112}
        assert other.put("/modalities/pacs", json=modality).status_code == 200
        assert one.get("/modalities").json() == ["pacs"]
        assert one.delete("/modalities/pacs").status_code == 200
        assert other.get("/modalities").json() == []


def test_when_the_leader_dies_another_process_takes_over_losing_nothing(
    pair: tuple[ChronicleProcess, ChronicleProcess],
) -> None:
    """Uploads go to both processes while the leader is killed; every acknowledged instance is
    there once, with exactly one NewInstance change, and the survivor now runs the processors:
    its file reaper removes a deleted instance's file."""
    leader, survivor = pair
    acknowledged: list[str] = []
    lock = threading.Lock()

    def upload(server: ChronicleProcess, numbers: range) -> None:
        with server.client() as client:
            for n in numbers:
                try:
                    response = client.post("/instances", content=instance(n))
                except httpx.TransportError:
                    return  # the killed process
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(response.json()["ID"])

    threads = [
        threading.Thread(target=upload, args=(leader, range(1, 1000))),
        threading.Thread(target=upload, args=(survivor, range(1000, 1150))),
    ]
    for thread in threads:
        thread.start()
    assert eventually(lambda: len(acknowledged) >= 40)
    leader.kill()  # with uploads in flight on both processes
    for thread in threads:
        thread.join()

    with survivor.client() as client:
        for instance_id in acknowledged:
            assert client.get(f"/instances/{instance_id}").status_code == 200
        changes = client.get("/changes", params={"limit": 10000}).json()["Changes"]
        new = [c["ID"] for c in changes if c["ChangeType"] == "NewInstance"]
        assert sorted(new) == sorted(set(new))
        assert set(acknowledged) <= set(new)

        victim = acknowledged[-1]
        file_uuid = client.get(f"/instances/{victim}/attachments/dicom/info").json()["Uuid"]
        path = survivor.data_dir / "storage" / file_uuid[:2] / file_uuid[2:4] / file_uuid
        assert path.exists()
        assert client.delete(f"/instances/{victim}").status_code == 200
        assert eventually(lambda: not path.exists())


def test_serve_with_two_workers_answers_from_both_processes(
    tmp_path: Path, database_url: str
) -> None:
    server = ChronicleProcess(tmp_path / "data", database_url, "--workers", "2")
    server.start()
    try:
        assert server.process is not None
        assert eventually(lambda: len(_listeners(server.port)) == 2)
        with server.client() as client:
            stored = client.post("/instances", content=instance(1)).json()
        # New connections are spread over both listeners; each must see the instance.
        for _ in range(20):
            with server.client() as client:
                assert client.get(f"/instances/{stored['ID']}").status_code == 200
    finally:
        server.stop()
    assert eventually(lambda: _listeners(server.port) == set())


def _listeners(port: int) -> set[int]:
    """The inodes of the sockets listening on the port (one per process bound to it)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            found.add(int(inode))
    return found


def test_a_query_made_through_one_process_is_answered_by_the_other(
    pair: tuple[ChronicleProcess, ChronicleProcess],
) -> None:
    """/queries/{id} lives in the database: the archive queries itself (C-FIND SCU to its own
    SCP) through one process, and the other lists, reads and deletes the result."""
    first, second = pair
    with first.client() as one, second.client() as other:
        stored = one.post("/instances", content=instance(1)).json()
        itself = {"AET": "CHRONICLE", "Host": "127.0.0.1", "Port": first.dicom_port}
        assert one.put("/modalities/itself", json=itself).status_code == 200
        query = {"Level": "Study", "Query": {"PatientID": "WORKERS", "StudyInstanceUID": ""}}
        made = one.post("/modalities/itself/query", json=query)
        assert made.status_code == 200, made.text
        query_id = made.json()["ID"]
        assert other.get("/queries").json() == [query_id]
        assert other.get(f"/queries/{query_id}/level").text == "Study"
        answers = other.get(f"/queries/{query_id}/answers", params={"expand": ""}).json()
        study_uid = answers[0]["0020,000d"]["Value"]
        study = one.get(f"/studies/{stored['ParentStudy']}").json()
        assert study_uid == study["MainDicomTags"]["StudyInstanceUID"]
        assert other.get(f"/queries/{query_id}/answers/\u00b2").status_code == 404  # not 0-9
        not_an_object = {"Query": "PatientID=x"}
        child = other.post(f"/queries/{query_id}/answers/0/query-series", json=not_an_object)
        assert child.status_code == 400, child.text
        top = one.post("/modalities/itself/query", json={"Level": "Study", "Query": "x"})
        assert top.status_code == 400, top.text
        assert other.delete(f"/queries/{query_id}").status_code == 200
        assert one.get(f"/queries/{query_id}").status_code == 404
