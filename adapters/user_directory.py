"""Who is calling: HTTP credentials checked against the users read model and the secret store.

Verifying an argon2 hash costs tens of milliseconds and 64 MiB by design, so a verified
(name, password) pair is remembered, by a digest of the password, until the user's next event
(its `changed_position`) or VERIFIED_FOR seconds, whichever comes first: a changed password,
role, disabling or removal takes effect at the next request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time

import attrs

from adapters.database import Database
from adapters.secret_store import PostgresSecretStore
from domain.passwords import verify_password
from domain.users import USER_SECRETS
from projections.configuration import queries

VERIFIED_FOR = 300.0  # seconds


@attrs.frozen
class Identity:
    name: str
    role: str


@attrs.frozen
class _Verified:
    digest: bytes
    changed_position: int
    until: float


class UserDirectory:
    def __init__(self, db: Database, secrets: PostgresSecretStore) -> None:
        self.db = db
        self.secrets = secrets
        self._verified: dict[str, _Verified] = {}
        self._lock = threading.Lock()

    def count(self) -> int:
        """Users that can log in (not disabled)."""
        with self.db.connection() as conn:
            return queries.count_users(conn)

    def list(self) -> list[dict[str, object]]:
        with self.db.connection() as conn:
            return queries.list_users(conn)

    def authenticate(self, name: str, password: str) -> Identity | None:
        with self.db.connection() as conn:
            user = queries.get_user(conn, name)
        if user is None or user["disabled"]:
            return None
        digest = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        if not self._remembered(name, digest, user["changed_position"]):
            stored = self.secrets.get(USER_SECRETS, name).get("PasswordHash", "")
            if not verify_password(stored, password):
                return None
            self._remember(name, digest, user["changed_position"])
        return Identity(name, user["role"])

    def authenticate_basic(self, header: str) -> Identity | None:
        """An `Authorization: Basic …` value; None for anything else or wrong credentials."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, colon, password = decoded.partition(":")
        return self.authenticate(name, password) if colon else None

    def _remembered(self, name: str, digest: bytes, changed_position: int) -> bool:
        with self._lock:
            verified = self._verified.get(name)
        return (
            verified is not None
            and verified.digest == digest
            and verified.changed_position == changed_position
            and verified.until > time.monotonic()
        )

    def _remember(self, name: str, digest: bytes, changed_position: int) -> None:
        with self._lock:
            self._verified[name] = _Verified(
                digest, changed_position, time.monotonic() + VERIFIED_FOR
            )
