"""HTTP conventions Orthanc clients rely on, as Orthanc 1.10.1 answered them on this machine:
method faking (X-HTTP-Method-Override, ?_method on a GET), compressed and multipart uploads,
Orthanc Explorer's chunked uploads."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess

MODALITY = {"AET": "FAKED", "Host": "127.0.0.1", "Port": 11112}


def stored(client: httpx.Client, data: bytes) -> dict[str, Any]:
    answer = client.post("/instances", content=data)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_method_override_header_makes_a_post_a_put_or_a_delete(server: ChronicleProcess) -> None:
    with server.client() as client:
        put = client.post(
            "/modalities/faked", json=MODALITY, headers={"X-HTTP-Method-Override": "put"}
        )
        assert put.status_code == 200, put.text
        assert client.get("/modalities/faked/configuration").json()["AET"] == "FAKED"
        deleted = client.post("/modalities/faked", headers={"X-HTTP-Method-Override": "DELETE"})
        assert deleted.status_code == 200
        assert client.get("/modalities").json() == []

        instance = stored(client, make_instance("FAKE1"))["ID"]
        faked = client.get(f"/instances/{instance}", headers={"X-HTTP-Method-Override": "DELETE"})
        assert faked.status_code == 200 and "RemainingAncestor" in faked.json()
        assert client.get(f"/instances/{instance}").status_code == 404


def test_method_override_values_other_than_put_and_delete_are_a_400(
    server: ChronicleProcess,
) -> None:
    with server.client() as client:
        for value in ("GET", "POST", "PATCH"):
            refused = client.post("/tools/dicom-echo", headers={"X-HTTP-Method-Override": value})
            assert (refused.status_code, refused.content) == (400, b""), value
        ignored = client.get("/system", headers={"X-HTTP-Method-Override": ""})
        assert ignored.status_code == 200


def test_method_query_argument_is_honoured_on_a_get_only(server: ChronicleProcess) -> None:
    with server.client() as client:
        first = stored(client, make_instance("FAKE2", sop_uid="1.2.840.99.2.1"))["ID"]
        on_post = client.post(f"/instances/{first}", params={"_method": "DELETE"})
        assert on_post.status_code == 405  # as Orthanc: query arguments count on a GET only
        form = client.post(f"/instances/{first}", data={"_method": "DELETE"})
        assert form.status_code == 405  # Orthanc never reads a form body for it
        deleted = client.get(f"/instances/{first}", params={"_method": "delete"})
        assert deleted.status_code == 200 and "RemainingAncestor" in deleted.json()
        assert client.get(f"/instances/{first}").status_code == 404


def test_a_page_on_another_site_cannot_fake_a_delete(server: ChronicleProcess) -> None:
    """An <img src=".../instances/{id}?_method=DELETE"> sends no Origin, but the browser says
    the request is cross-site."""
    with server.client() as client:
        instance = stored(client, make_instance("FAKE3"))["ID"]
        for site in ("cross-site", "same-site"):
            refused = client.get(
                f"/instances/{instance}",
                params={"_method": "DELETE"},
                headers={"Sec-Fetch-Site": site},
            )
            assert refused.status_code == 403, site
        assert client.get(f"/instances/{instance}").status_code == 200
        own = client.get(
            f"/instances/{instance}",
            params={"_method": "DELETE"},
            headers={"Sec-Fetch-Site": "same-origin"},
        )
        assert own.status_code == 200 and client.get(f"/instances/{instance}").status_code == 404
