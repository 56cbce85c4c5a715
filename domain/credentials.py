"""Which parts of a modality's or peer's configuration are credentials.

Credentials are kept out of the event log (an event can never be rotated out of history): the
command writes them to the secret store, and the node's events carry the rest of its
configuration and the names of the credentials it has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

# A peer's password, the values of the HTTP headers sent to it (tokens), its key's password.
SECRET_FIELDS = ("Password", "CertificateKeyPassword", "HttpHeaders")

Credentials = dict[str, Any]


def split_credentials(configuration: dict[str, Any]) -> tuple[dict[str, Any], Credentials]:
    """(configuration without credentials, the credentials that are set).

    The public part keeps the names of the HTTP headers (what GET /peers shows), as a list.
    """
    public = {key: value for key, value in configuration.items() if key not in SECRET_FIELDS}
    secrets: Credentials = {}
    for key in SECRET_FIELDS:
        value = configuration.get(key)
        if value:
            secrets[key] = dict(value) if isinstance(value, dict) else value
    headers = configuration.get("HttpHeaders")
    if headers is not None:
        public["HttpHeaders"] = sorted(headers)
    return public, secrets


def with_credentials(public: dict[str, Any], secrets: Credentials) -> dict[str, Any]:
    """The configuration a sender uses: the public part and the stored credentials."""
    merged = dict(public)
    if "HttpHeaders" in merged:
        merged["HttpHeaders"] = dict(secrets.get("HttpHeaders", {}))
    if merged.get("Username"):
        merged["Password"] = secrets.get("Password", "")
    if "CertificateKeyPassword" in secrets:
        merged["CertificateKeyPassword"] = secrets["CertificateKeyPassword"]
    return merged


# A statement to run in the transaction that appends the events (given its database cursor),
# so that a credential and the event saying it changed commit together.
TransactionStep = Callable[[Any], None]


class SecretStore(Protocol):
    """Where credentials live, outside the event log."""

    def get(self, kind: str, name: str) -> Credentials: ...

    def put(self, kind: str, name: str, secrets: Credentials) -> TransactionStep: ...

    def remove(self, kind: str, name: str) -> TransactionStep: ...
