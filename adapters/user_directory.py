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
from datetime import UTC, datetime
from typing import Any

import attrs

from adapters.database import Database
from adapters.login_guard import LoginLog
from adapters.secret_store import PostgresSecretStore
from domain.passwords import verify_password
from domain.tokens import TOKEN_SECRETS, digest_matches, token_id_of
from domain.users import USER_SECRETS
from projections.configuration import queries

VERIFIED_FOR = 300.0  # seconds


@attrs.frozen
class Identity:
    name: str
    role: str


@attrs.frozen
class Attempt:
    identity: Identity | None  # None: refused
    claimed: str  # the user name given, or the token's id: what failures are counted by


@attrs.frozen
class _Verified:
    digest: bytes
    changed_position: int
    until: float


class UserDirectory:
    def __init__(self, db: Database, secrets: PostgresSecretStore) -> None:
        self.db = db
        self.secrets = secrets
        self.logins = LoginLog(db)
        self._verified: dict[str, _Verified] = {}
        self._lock = threading.Lock()

    def count(self) -> int:
        """Users that can log in (not disabled)."""
        with self.db.connection() as conn:
            return queries.count_users(conn)

    def listing(self) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return queries.list_users(conn)

    def tokens(self) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return queries.list_tokens(conn)

    def authenticate(self, name: str, password: str, source: str = "") -> Identity | None:
        with self.db.connection() as conn:
            user = queries.get_user(conn, name)
        digest = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        if user is not None and self._remembered(name, digest, user["changed_position"]):
            return None if user["disabled"] else Identity(name, user["role"])
        stored = self.secrets.get(USER_SECRETS, name).get("PasswordHash", "") if user else ""
        verified = verify_password(stored, password) if stored else False
        accepted = verified and user is not None and not user["disabled"]
        self.logins.record(name, source, "basic", accepted)
        if not accepted or user is None:
            return None
        self._remember(name, digest, user["changed_position"])
        return Identity(name, user["role"])

    def authenticate_header(self, header: str, source: str = "") -> Attempt:
        """An `Authorization` value: HTTP Basic or a bearer token, and who it claims to be."""
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            token_id = token_id_of(value) or "?"
            return Attempt(self._bearer(token_id, value, source), f"token {token_id}")
        if scheme.lower() != "basic":
            return Attempt(None, "?")
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Attempt(None, "?")
        name, colon, password = decoded.partition(":")
        if not colon:
            return Attempt(None, "?")
        return Attempt(self.authenticate(name, password, source), name)

    def _bearer(self, token_id: str, value: str, source: str) -> Identity | None:
        """A live, unexpired token of an enabled user."""
        with self.db.connection() as conn:
            found = queries.token_identity(conn, token_id)
        valid = (
            found is not None
            and not (found["expires"] and found["expires"] <= datetime.now(UTC))
            and digest_matches(self.secrets.get(TOKEN_SECRETS, token_id).get("Digest", ""), value)
        )
        if not valid or found is None:
            self.logins.record(f"token {token_id}", source, "bearer", False)
            return None
        self.logins.token_used(token_id, found["user_name"], source)
        return Identity(found["user_name"], found["role"])

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
