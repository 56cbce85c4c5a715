"""DICOM over TLS with Orthanc's options: the SCP (pynetdicom and DCMTK's storescu as clients,
trusted, untrusted and plain) and the SCU towards a modality with UseDicomTls."""

from __future__ import annotations

import io
import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from tests.support.certificates import Authority, Issued
from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess
from tests.support.storage_scp import StorageSCP

CALLING = "TLSSCU"
DCMTK_STORESCU = "/usr/bin/storescu"  # DCMTK's (.ci/run installs it), not pynetdicom's app


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Authority, Issued, Issued]:
    authority = Authority(tmp_path)
    return authority, authority.issue("chronicle"), authority.issue("modality")


@pytest.fixture
def tls_server(
    tmp_path: Path, database_url: str, pki: tuple[Authority, Issued, Issued]
) -> Iterator[tuple[ChronicleProcess, StorageSCP]]:
    authority, ours, theirs = pki
    destination_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    destination_context.load_cert_chain(str(theirs.certificate), str(theirs.key))
    destination_context.load_verify_locations(str(authority.files.certificate))
    destination_context.verify_mode = ssl.CERT_REQUIRED
    destination = StorageSCP("TLSDEST", ssl_context=destination_context).start()
    config = {
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(ours.certificate),
        "DicomTlsPrivateKey": str(ours.key),
        "DicomTlsTrustedCertificates": str(authority.files.certificate),
        "DicomModalities": {
            "scu": {"AET": CALLING, "Host": "127.0.0.1", "Port": 104},
            "dest": {"AET": "TLSDEST", "Host": "127.0.0.1", "Port": destination.port,
                     "UseDicomTls": True},
        },
    }  # fmt: skip
    (tmp_path / "orthanc.json").write_text(json.dumps(config))
    server = ChronicleProcess(
        tmp_path / "data", database_url, "--config", str(tmp_path / "orthanc.json")
    )
    server.start()
    try:
        yield server, destination
    finally:
        server.stop()
        destination.stop()


def _client_context(authority: Authority, identity: Issued | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(str(authority.files.certificate))
    if identity is not None:
        context.load_cert_chain(str(identity.certificate), str(identity.key))
    return context


def _associate(server: ChronicleProcess, context: ssl.SSLContext | None) -> object:
    ae = AE(ae_title=CALLING)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    tls_args = (context, "127.0.0.1") if context is not None else None
    return ae.associate("127.0.0.1", server.dicom_port, ae_title="CHRONICLE", tls_args=tls_args)


def test_a_trusted_scu_stores_over_tls_and_others_are_refused(
    tls_server: tuple[ChronicleProcess, StorageSCP],
    pki: tuple[Authority, Issued, Issued],
    tmp_path: Path,
) -> None:
    server, _ = tls_server
    authority, _, theirs = pki
    data = make_instance("TLS-1")
    assoc = _associate(server, _client_context(authority, theirs))
    assert assoc.is_established  # type: ignore[attr-defined]
    try:
        assert assoc.send_c_echo().Status == 0x0000  # type: ignore[attr-defined]
        stored = assoc.send_c_store(dcmread(io.BytesIO(data)))  # type: ignore[attr-defined]
        assert stored.Status == 0x0000
    finally:
        assoc.release()  # type: ignore[attr-defined]
    # No client certificate, a certificate from another CA, or no TLS at all: no association.
    (tmp_path / "stranger").mkdir()
    stranger = Authority(tmp_path / "stranger", "Stranger CA").issue("intruder")
    for context in (_client_context(authority, None), _client_context(authority, stranger), None):
        refused = _associate(server, context)
        assert not refused.is_established  # type: ignore[attr-defined]
    # DCMTK's storescu over TLS.
    path = tmp_path / "dcmtk.dcm"
    path.write_bytes(make_instance("TLS-DCMTK"))
    storescu = subprocess.run(
        [DCMTK_STORESCU, "+tls", str(theirs.key), str(theirs.certificate),
         "+cf", str(authority.files.certificate), "-aet", CALLING, "-aec", "CHRONICLE",
         "127.0.0.1", str(server.dicom_port), str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert storescu.returncode == 0, storescu.stderr
    with server.client() as client:
        patients = {p["MainDicomTags"]["PatientID"] for p in client.get("/patients?expand").json()}
    assert patients == {"TLS-1", "TLS-DCMTK"}


def test_chronicle_sends_over_tls_to_a_modality_with_use_dicom_tls(
    tls_server: tuple[ChronicleProcess, StorageSCP],
) -> None:
    server, destination = tls_server
    with server.client() as client:
        instance = client.post("/instances", content=make_instance("TLS-OUT")).json()["ID"]
        assert client.post("/modalities/dest/echo", json={}).status_code == 200
        sent = client.post("/modalities/dest/store", json={"Resources": [instance]})
        assert sent.status_code == 200, sent.text
    assert len(destination.received) == 1
