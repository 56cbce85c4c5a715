"""Routes given the ID of another level, as Orthanc 1.10.1 answered them for
ColorTestMalaterre.dcm (captured on this machine): the routes that read a resource's
instances (module, module-patient, instances-tags, shared-tags, statistics) take an ID of any
level; child lists walk down from whatever the ID names; the others check the level."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.corpus import corpus_path
from tests.support.server import ChronicleProcess

I = "322b315a-50cfd8f5-3d2c6541-489df116-4b772350"  # noqa: E741 (Orthanc's IDs of the file)
SE = "473a4354-eb20df2e-7161c188-0a497c4f-1bda13a6"
S = "0c62fe81-16340104-03c4294f-c2b94187-2b07e2fa"
P = "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709"


@pytest.fixture
def client(server: ChronicleProcess) -> Iterator[httpx.Client]:
    with server.client() as http:
        data = corpus_path("ColorTestMalaterre.dcm").read_bytes()
        assert http.post("/instances", content=data).json()["ID"] == I
        yield http


def test_routes_reading_instances_take_any_level(client: httpx.Client) -> None:
    tags = client.get(f"/patients/{S}/instances-tags")
    assert tags.status_code == 200 and list(tags.json()) == [I]
    patient_module = client.get(f"/studies/{SE}/module-patient")
    assert patient_module.status_code == 200
    assert sorted(patient_module.json()) == ["0010,0010", "0010,0020", "0010,0030", "0010,0040"]
    study_module = client.get(f"/studies/{P}/module").json()
    assert study_module == client.get(f"/studies/{S}/module").json()
    assert client.get(f"/series/{S}/module").status_code == 200
    assert client.get(f"/patients/{SE}/module").status_code == 200
    shared = client.get(f"/series/{I}/shared-tags")
    assert shared.status_code == 200
    assert shared.json() == client.get(f"/series/{SE}/shared-tags").json()
    statistics = client.get(f"/patients/{I}/statistics").json()
    assert statistics == {
        "DicomDiskSize": "5980", "DicomDiskSizeMB": 0, "DicomUncompressedSize": "5980",
        "DicomUncompressedSizeMB": 0, "DiskSize": "5980", "DiskSizeMB": 0,
        "UncompressedSize": "5980", "UncompressedSizeMB": 0,
    }  # fmt: skip


def test_child_lists_walk_down_from_what_the_id_names(client: httpx.Client) -> None:
    assert client.get(f"/series/{S}/instances").json() == []
    assert client.get(f"/series/{P}/instances").json() == []
    for path in (f"/series/{I}/instances", f"/patients/{SE}/instances"):
        below = client.get(path)
        assert below.status_code == 400, path
        assert below.json()["OrthancStatus"] == 5  # Bad type for a parameter
    assert [i["ID"] for i in client.get(f"/series/{SE}/instances").json()] == [I]


def test_other_routes_check_the_level(client: httpx.Client) -> None:
    for path in (f"/studies/{SE}", f"/studies/{I}", f"/studies/{P}", f"/series/{I}/study"):
        assert client.get(path).status_code == 404, path
    for path in (
        f"/studies/{SE}/metadata",
        f"/studies/{SE}/metadata/LastUpdate",
        f"/instances/{S}/tags",
        f"/instances/{S}/metadata",
        f"/instances/{S}/file",
        f"/instances/{S}/module",
    ):
        answer = client.get(path)
        assert (answer.status_code, answer.json()["OrthancStatus"]) == (404, 17), path
    assert client.delete(f"/studies/{I}").status_code == 404
    assert client.get(f"/instances/{I}").status_code == 200
