"""DICOM over TLS with Orthanc's options, for the SCP and for the SCU.

- DicomTlsEnabled: the DICOM port speaks TLS only (the handshake runs once the connection has
  sent its first bytes, in the connection's own thread: see adapters/dicom/listener.py);
- DicomTlsCertificate, DicomTlsPrivateKey: this node's certificate and key (PEM), for both roles;
- DicomTlsTrustedCertificates: the CAs (or peers' certificates) whose certificates are trusted;
- DicomTlsRemoteCertificateRequired (default true, as in Orthanc): an SCU must present one;
- a modality's UseDicomTls: associations to it use TLS, with the same certificate.

As DCMTK does, a peer is checked by its certificate chain, not by its host name.
"""

from __future__ import annotations

import ssl
from typing import Any

import attrs


@attrs.frozen
class DicomTls:
    certificate: str
    private_key: str
    trusted: str
    remote_certificate_required: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> DicomTls | None:
        if not settings.dicom_tls_certificate:
            return None
        return cls(
            settings.dicom_tls_certificate,
            settings.dicom_tls_private_key,
            settings.dicom_tls_trusted_certificates,
            settings.dicom_tls_remote_certificate_required,
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certificate, self.private_key)
        if self.trusted:
            context.load_verify_locations(self.trusted)
            context.verify_mode = (
                ssl.CERT_REQUIRED if self.remote_certificate_required else ssl.CERT_OPTIONAL
            )
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False
        context.load_cert_chain(self.certificate, self.private_key)
        if self.trusted:
            context.load_verify_locations(self.trusted)
            context.verify_mode = ssl.CERT_REQUIRED
        else:
            context.verify_mode = ssl.CERT_NONE
        return context
