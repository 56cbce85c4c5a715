"""POST /tools/bulk-content and /tools/bulk-delete over HTTP, beyond the replay of Orthanc's
answers (test_annotations_compat): what a bulk delete leaves in /changes and in the storage
area, and bulk content's answers against the single-resource routes it shares code with."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess, upload_accepted
from tests.support.waiting import eventually

UNKNOWN = "00000000-00000000-00000000-00000000-00000000"


def _archive(client: httpx.Client) -> list[dict[str, str]]:
    """Two instances in series 1.1.1, one in 1.1.2 (study 1.1 of P1); one of P2."""
    return [
        upload_accepted(client, make_instance("P1", "1.1", "1.1.1", "1.1.1.1", instance_number=1)),
        upload_accepted(client, make_instance("P1", "1.1", "1.1.1", "1.1.1.2", instance_number=2)),
        upload_accepted(client, make_instance("P1", "1.1", "1.1.2", "1.1.2.1")),
        upload_accepted(client, make_instance("P2", "2.1", "2.1.1", "2.1.1.1")),
    ]


def _bulk_content(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    answer = client.post("/tools/bulk-content", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_bulk_delete_deletes_each_resource_as_delete_does(server: ChronicleProcess) -> None:
    with server.client() as client:
        a1, a2, b1, other = _archive(client)
        files = server.stored_files()
        assert len(files) == 4
        last = client.get("/changes", params={"last": ""}).json()["Last"]
        resources = [a1["ParentSeries"], a2["ID"], other["ParentPatient"], UNKNOWN, a1["ID"]]
        answer = client.post("/tools/bulk-delete", json={"Resources": resources})
        assert (answer.status_code, answer.content) == (200, b"")
        assert answer.headers["content-type"].startswith("text/plain")

        assert client.get("/patients").json() == [a1["ParentPatient"]]
        assert client.get("/series").json() == [b1["ParentSeries"]]
        assert client.get("/instances").json() == [b1["ID"]]
        # What DELETE says of the resource left: the study keeps its other series.
        study = client.get(f"/studies/{a1['ParentStudy']}").json()
        assert study["Series"] == [b1["ParentSeries"]]

        history = client.get("/changes", params={"since": last, "history": ""}).json()
        deleted = {(c["ResourceType"], c["ID"]) for c in history["Changes"]}
        assert deleted == {
            ("Instance", a1["ID"]),
            ("Instance", a2["ID"]),
            ("Series", a1["ParentSeries"]),
            ("Instance", other["ID"]),
            ("Series", other["ParentSeries"]),
            ("Study", other["ParentStudy"]),
            ("Patient", other["ParentPatient"]),
        }
        assert {c["ChangeType"] for c in history["Changes"]} == {"Deleted"}
        assert eventually(lambda: len(server.stored_files()) == 1)  # b1's file only

        again = client.post("/tools/bulk-delete", json={"Resources": resources})
        assert (again.status_code, again.content) == (200, b"")  # nothing left to delete
        after = client.get("/changes", params={"since": history["Last"], "history": ""})
        assert after.json()["Changes"] == []


def test_bulk_content_is_what_the_resource_routes_answer(server: ChronicleProcess) -> None:
    with server.client() as client:
        a1, _, b1, other = _archive(client)
        written = client.put(f"/instances/{a1['ID']}/metadata/1024", content=b"note")
        assert written.status_code == 200
        order = [b1["ID"], other["ParentStudy"], a1["ID"], UNKNOWN, b1["ID"], a1["ParentPatient"]]
        found = _bulk_content(client, {"Resources": order})
        assert [item["ID"] for item in found] == [i for i in order if i != UNKNOWN]
        for item in found:
            path = f"/{_collection(item['Type'])}/{item['ID']}"
            metadata = client.get(f"{path}/metadata", params={"expand": ""}).json()
            assert item == {**client.get(path).json(), "Metadata": metadata}
        assert found[2]["Metadata"]["1024"] == "note"

        plain = _bulk_content(client, {"Resources": [a1["ID"]], "Metadata": False, "Short": True})
        assert plain == [client.get(f"/instances/{a1['ID']}", params={"short": ""}).json()]
        simplified = {"Resources": [a1["ID"]], "Metadata": False, "Simplify": True, "Short": 5}
        assert _bulk_content(client, simplified) == [client.get(f"/instances/{a1['ID']}").json()]


def test_bulk_content_walks_to_the_level_asked(server: ChronicleProcess) -> None:
    with server.client() as client:
        a1, a2, b1, other = _archive(client)

        def ids(resources: list[str], level: str) -> list[str]:
            body = {"Resources": resources, "Level": level, "Metadata": False}
            return [item["ID"] for item in _bulk_content(client, body)]

        patient, study = a1["ParentPatient"], a1["ParentStudy"]
        assert ids([patient], "Instances") == sorted([a1["ID"], a2["ID"], b1["ID"]])
        assert ids([patient, a1["ID"], UNKNOWN], "series") == sorted(
            [a1["ParentSeries"], b1["ParentSeries"]]
        )
        assert ids([a1["ID"], a2["ID"], b1["ParentSeries"]], "STUDY") == [study]
        assert ids([other["ID"], study], "Patient") == sorted([patient, other["ParentPatient"]])
        assert ids([UNKNOWN], "Study") == []


def test_bulk_refusals(server: ChronicleProcess) -> None:
    with server.client() as client:
        _archive(client)
        for body, code, details in (
            ({"Resources": [], "Level": 3}, 15, "String value expected in field: Level"),
            ({"Resources": [], "Short": "yes"}, 15, "Boolean value expected in field: Short"),
            ({"Resources": [], "Metadata": None}, 15, "Boolean value expected in field: Metadata"),
            ({"Level": "Study"}, 15, "List of strings expected in field: Resources"),
            ({"Level": "nope"}, 3, None),
        ):
            answer = client.post("/tools/bulk-content", json=body)
            assert answer.status_code == 400, body
            assert (answer.json()["OrthancStatus"], answer.json().get("Details")) == (code, details)
        answer = client.post("/tools/bulk-delete", content=b"null")
        assert (answer.status_code, answer.json()["OrthancStatus"]) == (400, 8)
        assert len(client.get("/instances").json()) == 4


def _collection(resource_type: str) -> str:
    return {"Patient": "patients", "Study": "studies", "Series": "series"}.get(
        resource_type, "instances"
    )
