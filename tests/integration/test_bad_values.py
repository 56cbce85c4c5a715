"""Values PostgreSQL cannot hold are a clear 400 (or an empty answer), never a 500: a NUL in an
ID, a parameter beyond 64 bits (found by probing a running server)."""

from __future__ import annotations

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess


def test_nul_characters_and_huge_numbers_are_answered(server: ChronicleProcess) -> None:
    with server.client() as client:
        assert client.post("/instances", content=make_instance("BAD1")).status_code == 200
        for path in ("/patients/%00", "/studies/a%00b/series", "/modalities/%00", "/jobs/%00"):
            answer = client.get(path)
            assert answer.status_code in (400, 404), (path, answer.text)
            assert answer.json()["HttpStatus"] == answer.status_code
        huge = str(10**30)
        assert client.get("/patients", params={"since": huge, "limit": "5"}).json() == []
        assert client.get("/instances", params={"since": "0", "limit": huge}).status_code == 200
        changes = client.get("/changes", params={"since": huge})
        assert changes.status_code == 200 and changes.json()["Changes"] == []
        assert client.get("/exports", params={"since": huge}).status_code == 200
        assert len(client.get("/instances").json()) == 1
