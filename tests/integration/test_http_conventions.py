"""HTTP conventions Orthanc clients rely on, as Orthanc 1.10.1 answered them on this machine:
method faking (X-HTTP-Method-Override, ?_method on a GET), compressed and multipart uploads,
Orthanc Explorer's chunked uploads."""

from __future__ import annotations

import gzip
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


def multipart(files: list[bytes], boundary: str = "XYZ", gzip_parts: bool = False) -> bytes:
    body = b""
    for number, data in enumerate(files):
        encoding = b"Content-Encoding: gzip\r\n" if gzip_parts else b""
        body += (
            f"--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="files[]"; '
            + f'filename="f{number}.dcm"\r\n'.encode()
            + b"Content-Type: application/dicom\r\n"
            + encoding
            + b"\r\n"
            + (gzip.compress(data) if gzip_parts else data)
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


def count(client: httpx.Client) -> int:
    return len(client.get("/instances").json())


def test_gzip_encoded_uploads_are_decompressed(server: ChronicleProcess) -> None:
    data = make_instance("GZIP1")
    with server.client() as client:
        answer = client.post(
            "/instances", content=gzip.compress(data), headers={"Content-Encoding": "GZIP"}
        )
        assert answer.status_code == 200, answer.text
        assert client.get(f"/instances/{answer.json()['ID']}/file").content == data
        plain = client.post("/instances", content=data, headers={"Content-Encoding": "gzip"})
        assert plain.status_code == 400  # Orthanc: a 500; the client sent a wrong header
        assert plain.json()["OrthancStatus"] == 15
        deflated = gzip.compress(data)[10:-8]
        deflate = client.post(
            "/instances", content=deflated, headers={"Content-Encoding": "deflate"}
        )
        assert deflate.status_code == 400  # as Orthanc: deflate is not decoded
        assert count(client) == 1


def test_multipart_uploads_as_orthanc_parses_them(server: ChronicleProcess) -> None:
    files = [make_instance(f"MULTI{n}") for n in range(3)]
    with server.client() as client:
        spaced = client.post(
            "/instances",
            content=multipart(files[:2]),
            headers={"Content-Type": "multipart/form-data ; boundary = XYZ"},
        )
        assert (spaced.status_code, spaced.content) == (200, b"")
        quoted = client.post(
            "/instances",
            content=multipart(files[2:], gzip_parts=True),
            headers={"Content-Type": 'multipart/form-data; boundary="XYZ"'},
        )
        assert quoted.status_code == 200
        assert count(client) == 3
        bad = client.post(
            "/instances",
            content=multipart([b"not dicom"]),
            headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
        )
        assert bad.status_code == 400 and bad.json()["OrthancStatus"] == 15
        assert count(client) == 3


def test_orthanc_explorer_chunked_uploads(server: ChronicleProcess) -> None:
    data = make_instance("CHUNKED")
    half = len(data) // 2
    headers = {
        "Content-Type": "multipart/form-data; boundary=JQB",
        "X-Requested-With": "XMLHttpRequest",
        "X-File-Name": "y.dcm",
        "X-File-Size": str(len(data)),
        "Origin": server.url,
    }
    with server.client() as client:
        first = client.post("/instances", content=multipart([data[:half]], "JQB"), headers=headers)
        assert first.status_code == 200 and count(client) == 0
        second = client.post("/instances", content=multipart([data[half:]], "JQB"), headers=headers)
        assert second.status_code == 200 and count(client) == 1

        for name, value, details in (
            ("X-Requested-With", "Foo", 'should be "XMLHttpRequest"'),
            ("X-File-Size", "abc", "is not an integer"),
            ("X-File-Size", "-1", "has negative value"),
        ):
            wrong = client.post(
                "/instances", content=multipart([data], "JQB"), headers={**headers, name: value}
            )
            assert wrong.status_code == 400, wrong.text
            assert details in wrong.json()["Details"] and wrong.json()["OrthancStatus"] == 9
        foreign = client.post(
            "/instances",
            content=multipart([data], "JQB"),
            headers={**headers, "Origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
