"""What every response carries, and what a web page in the operator's browser cannot do."""

from __future__ import annotations

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess


def test_every_response_says_nosniff(server: ChronicleProcess) -> None:
    with server.client() as client:
        responses = [
            client.get("/system"),
            client.get("/patients/unknown"),
            client.get("/no/such/route"),
            client.put("/patients"),
            client.post("/instances", content=b"not dicom"),
        ]
    assert [r.status_code for r in responses] == [200, 404, 404, 405, 400]
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in responses)


def test_a_foreign_host_name_is_refused(server: ChronicleProcess) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must read nothing."""
    with server.client() as client:
        refused = client.get("/patients", headers={"Host": f"evil.example:{server.port}"})
        allowed = client.get("/patients", headers={"Host": f"localhost:{server.port}"})
    assert refused.status_code == 421
    assert allowed.status_code == 200


def test_cross_origin_writes_are_refused_same_origin_ones_pass(server: ChronicleProcess) -> None:
    data = make_instance("ORIGIN")
    with server.client() as client:
        foreign = client.post("/instances", content=data, headers={"Origin": "http://evil.example"})
        same = client.post("/instances", content=data, headers={"Origin": server.url})
        listed = client.get("/instances", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert same.status_code == 200
    assert listed.status_code == 200 and len(listed.json()) == 1
