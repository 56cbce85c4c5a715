"""HTTPS with Orthanc's options (SslEnabled, SslCertificate with the key in the same PEM file,
SslVerifyPeers with SslTrustedClientCertificates), with test certificates made at run time."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from adapters.database import DatabaseAddress
from tests.support.certificates import Authority, Issued
from tests.support.dicom_factory import make_instance
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess


def _https_server(
    tmp_path: Path,
    database_url: str,
    authority: Authority,
    client: Issued | None,
    **options: object,
) -> ChronicleProcess:
    """A server with Orthanc's HTTPS `options`; its test clients trust `authority` and
    present `client`'s certificate, if given."""
    config = tmp_path / "orthanc.json"
    config.write_text(json.dumps({"SslEnabled": True, **options}))
    return ChronicleProcess(
        tmp_path / "data",
        database_url,
        "--config",
        str(config),
        ca_file=authority.files.certificate,
        client_certificate=(client.certificate, client.key) if client else None,
    )


def test_the_api_is_served_over_https(tmp_path: Path, database_url: str) -> None:
    authority = Authority(tmp_path)
    server_files = authority.issue("chronicle-server")
    server = _https_server(
        tmp_path, database_url, authority, None, SslCertificate=str(server_files.combined)
    )
    server.start()
    try:
        with server.client() as client:
            assert client.get("/system").json()["Name"]
        curl = subprocess.run(
            ["curl", "-s", "--cacert", str(authority.files.certificate), f"{server.url}/system"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert curl.returncode == 0 and json.loads(curl.stdout)["Name"]
        with pytest.raises(httpx.ConnectError):  # a certificate this client does not trust
            httpx.get(f"{server.url}/system")
        with pytest.raises(httpx.TransportError):  # plain HTTP on the HTTPS port
            httpx.get(f"http://127.0.0.1:{server.port}/system")
    finally:
        server.stop()


def test_client_certificates_are_required_when_asked(tmp_path: Path, database_url: str) -> None:
    authority = Authority(tmp_path)
    server_files = authority.issue("chronicle-server")
    client_files = authority.issue("workstation")
    (tmp_path / "other").mkdir()
    stranger = Authority(tmp_path / "other", "Stranger CA")
    server = _https_server(
        tmp_path,
        database_url,
        authority,
        client_files,  # the readiness check presents it too
        SslCertificate=str(server_files.combined),
        SslVerifyPeers=True,
        SslTrustedClientCertificates=str(authority.files.certificate),
    )
    server.start()
    try:
        with server.client() as client:
            assert client.get("/system").status_code == 200
        anonymous = ssl.create_default_context(cafile=str(authority.files.certificate))
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/system", verify=anonymous)
        foreign = stranger.issue("intruder")
        forged = ssl.create_default_context(cafile=str(authority.files.certificate))
        forged.load_cert_chain(str(foreign.certificate), str(foreign.key))
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/system", verify=forged)
    finally:
        server.stop()


def test_a_peer_over_https_with_a_client_certificate(
    tmp_path: Path, database_url: str, postgres: DatabaseAddress
) -> None:
    """Orthanc's peer options: HttpsCACertificates to check the peer, and the peer's
    CertificateFile and CertificateKeyFile for a peer that asks for a client certificate."""
    authority = Authority(tmp_path)
    peer_files, sender_files = authority.issue("peer"), authority.issue("sender")
    (tmp_path / "peer").mkdir()
    peer = _https_server(
        tmp_path / "peer",
        database_url,
        authority,
        sender_files,
        SslCertificate=str(peer_files.combined),
        SslVerifyPeers=True,
        SslTrustedClientCertificates=str(authority.files.certificate),
    )
    certificate = {
        "CertificateFile": str(sender_files.certificate),
        "CertificateKeyFile": str(sender_files.key),
    }
    sender_config = tmp_path / "sender.json"
    peers = {"secure": {"Url": peer.url, **certificate}, "nocert": {"Url": peer.url}}
    sender_config.write_text(
        json.dumps({"HttpsCACertificates": str(authority.files.certificate), "OrthancPeers": peers})
    )
    sender = ChronicleProcess(
        tmp_path / "sender",
        fresh_database(postgres, "chronicle_test_https_sender"),
        "--config",
        str(sender_config),
    )
    peer.start()
    try:
        sender.start()
        with sender.client() as client:
            assert client.get("/peers/secure/system").status_code == 200
            instance = client.post("/instances", content=make_instance("PEER-TLS")).json()["ID"]
            sent = client.post("/peers/secure/store", json={"Resources": [instance]})
            assert sent.status_code == 200, sent.text
            assert client.get("/peers/nocert/system").status_code >= 400
        with peer.client() as client:
            assert client.get(f"/instances/{instance}").status_code == 200
    finally:
        sender.stop()
        peer.stop()
