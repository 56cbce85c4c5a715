"""Hostile and broken uploads on a running server: the regression corpus, a seeded batch of
mutations, a deflate bomb and a ZIP of zeros. Every refusal is a 4xx that leaves no event, no
file and no row behind; nothing is ever a 500; memory stays bounded."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import psycopg

from tests.support.corpus import corpus_path
from tests.support.hostile_corpus import DIRECTORY, GENERATED, cases
from tests.support.mutations import mutate
from tests.support.server import ChronicleProcess

MUTATIONS = 150
SEED = 15
SEED_FILES = ("ColorTestMalaterre.dcm", "MarekLatin2.dcm", "TransferSyntaxes/1.2.840.10008.1.2.dcm")
REJECTED_HEADER = "X-Chronicle-Rejected-Files"


def _log_length(database_url: str) -> int:
    """Rows of every table of the event store (those with a notification_id column)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.columns "
            "WHERE column_name = 'notification_id'"
        ).fetchall()
        return sum(
            conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]  # type: ignore[index]
            for schema, table in tables
        )


def _stored_files(data_dir: Path) -> int:
    return sum(1 for _ in (data_dir / "storage").glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"))


def _footprint(server: ChronicleProcess, client: httpx.Client) -> tuple[int, int, int]:
    instances = client.get("/statistics").json()["CountInstances"]
    return instances, _stored_files(server.data_dir), _log_length(server.database_url)


def _peak_rss_kb(server: ChronicleProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])


def test_the_regression_corpus_over_http(server: ChronicleProcess) -> None:
    with server.client() as client:
        for case in cases():
            before = _footprint(server, client)
            answer = client.post("/instances", content=(DIRECTORY / case.name).read_bytes())
            assert answer.status_code == case.status, (case.name, answer.text)
            if case.rejected_members is not None:
                assert answer.headers[REJECTED_HEADER] == str(case.rejected_members), case.name
            if case.status != 200:
                assert answer.json()["HttpStatus"] == case.status
                assert _footprint(server, client) == before, f"{case.name} left something behind"
        for name, (status, build) in GENERATED.items():
            before = _footprint(server, client)
            answer = client.post("/instances", content=build())
            assert answer.status_code == status, (name, answer.text)
            assert _footprint(server, client) == before, name
        # zip-mixed.zip stored its one valid member; trailing-zeros and bad-decimal were stored.
        assert client.get("/statistics").json()["CountInstances"] == 3


def test_an_accepted_file_with_a_bad_value_renders_everywhere(server: ChronicleProcess) -> None:
    with server.client() as client:
        stored = client.post("/instances", content=(DIRECTORY / "bad-decimal.dcm").read_bytes())
        instance = stored.json()["ID"]
        for path in ("tags", "simplified-tags", "header", "file", "content/0018-0050"):
            answer = client.get(f"/instances/{instance}/{path}")
            assert answer.status_code == 200, (path, answer.text)
        assert client.get(f"/instances/{instance}/tags").json()["0018,0050"]["Value"] == "ab:c"
        as_json = client.get(
            f"/instances/{instance}/file", headers={"Accept": "application/dicom+json"}
        )
        assert as_json.status_code == 200
        assert "00180050" not in as_json.json()  # left out, as Orthanc leaves it out


def test_a_deflate_bomb_does_not_spend_the_memory(server: ChronicleProcess) -> None:
    with server.client() as client:
        client.post("/instances", content=corpus_path("MarekLatin2.dcm").read_bytes())
        before = _peak_rss_kb(server)
        answer = client.post("/instances", content=(DIRECTORY / "deflate-bomb.dcm").read_bytes())
        assert answer.status_code == 400
        zeros = client.post("/instances", content=(DIRECTORY / "zip-of-zeros.zip").read_bytes())
        assert (zeros.status_code, zeros.json()) == (200, [])
        # The bomb inflates to 500 MB; a generous ceiling, far below it.
        assert _peak_rss_kb(server) - before < 150 * 1024


def test_seeded_mutations_are_never_a_500(server: ChronicleProcess) -> None:
    rng = random.Random(SEED)
    seeds = [corpus_path(name).read_bytes() for name in SEED_FILES]
    accepted: set[str] = set()
    with server.client() as client:
        for _ in range(MUTATIONS):
            kind, data = mutate(rng.choice(seeds), rng)
            answer = client.post("/instances", content=data)
            assert answer.status_code in (200, 400, 404), (kind, answer.status_code, answer.text)
            if answer.status_code == 200:
                accepted.add(answer.json()["ID"])
                for view in ("tags", "simplified-tags", "header"):
                    shown = client.get(f"/instances/{answer.json()['ID']}/{view}")
                    assert shown.status_code == 200, (kind, view, shown.text)
        assert client.get("/statistics").json()["CountInstances"] == len(accepted)
        assert _stored_files(server.data_dir) == len(accepted)
