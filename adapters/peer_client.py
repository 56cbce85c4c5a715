"""An HTTP client to an Orthanc-compatible peer (another Orthanc or Chronicle).

`peer` arguments are stored peer configurations (`domain.modality_config.normalise_peer`):
Url, Username, Password, HttpHeaders, Timeout, and for HTTPS a client certificate
(CertificateFile, CertificateKeyFile, CertificateKeyPassword). As in Orthanc, HTTPS peers are
checked against the system's CAs, or HttpsCACertificates, unless HttpsVerifyPeers is false.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpx

from adapters.delivery import OnResult


class PeerError(RuntimeError):
    """The peer could not be reached or answered an error: `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PeerClient:
    def __init__(
        self, timeout: float = 60.0, verify_peers: bool = True, ca_certificates: str = ""
    ) -> None:
        self.timeout = timeout
        self.verify_peers = verify_peers
        self.ca_certificates = ca_certificates

    @classmethod
    def from_settings(cls, settings: Any) -> PeerClient:
        return cls(
            verify_peers=settings.https_verify_peers,
            ca_certificates=settings.https_ca_certificates,
        )

    def _client(self, peer: dict[str, Any]) -> httpx.Client:
        auth = None
        if peer.get("Username"):
            auth = httpx.BasicAuth(peer["Username"], peer.get("Password") or "")
        timeout = float(peer.get("Timeout") or 0) or self.timeout
        return httpx.Client(
            base_url=peer["Url"],
            auth=auth,
            headers=peer.get("HttpHeaders") or {},
            timeout=timeout,
            follow_redirects=False,
            verify=self._tls(peer),
        )

    def _tls(self, peer: dict[str, Any]) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_certificates or None)
        if not self.verify_peers:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if peer.get("CertificateFile"):
            try:
                context.load_cert_chain(
                    peer["CertificateFile"],
                    peer.get("CertificateKeyFile") or None,
                    password=peer.get("CertificateKeyPassword") or None,
                )
            except (OSError, ssl.SSLError) as error:
                raise PeerError(
                    f"peer {peer['Url']}: cannot use the client certificate "
                    f"{peer['CertificateFile']}: {error}"
                ) from None
        return context

    def system(self, peer: dict[str, Any]) -> Any:
        """The peer's GET /system."""
        with self._client(peer) as client:
            response = _request(client, "GET", "system")
        try:
            return response.json()
        except ValueError as exc:
            raise PeerError(f"peer {peer['Url']}: /system is not JSON") from exc

    def store(
        self,
        peer_configuration: dict[str, Any],
        files: Iterable[tuple[str, bytes]],
        on_result: OnResult,
    ) -> None:
        """POSTs each file to the peer's /instances on one connection.

        `on_result(instance id, succeeded, error)` is called once per file; an unreachable peer
        raises PeerError (files not reported then were not sent).
        """
        with self._client(peer_configuration) as client:
            for instance_id, data in files:
                try:
                    _request(
                        client,
                        "POST",
                        "instances",
                        content=data,
                        headers={"Content-Type": "application/dicom"},
                    )
                except PeerError as exc:
                    if exc.__cause__ is not None and isinstance(
                        exc.__cause__, httpx.TransportError
                    ):
                        raise
                    on_result(instance_id, False, exc.reason)
                    continue
                on_result(instance_id, True, "")


def _request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise PeerError(
            f"cannot reach peer {client.base_url}: {exc or type(exc).__name__}"
        ) from exc
    if response.status_code >= 400:
        raise PeerError(
            f"peer {client.base_url} answered HTTP {response.status_code} to {method} /{path}"
            + _details(response)
        )
    return response


def _details(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("Details"):
        return f": {body['Details']}"
    if isinstance(body, dict) and body.get("Message"):
        return f": {body['Message']}"
    return ""
