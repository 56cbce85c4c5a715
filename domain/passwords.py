"""Password hashes (argon2id, argon2-cffi's defaults) and the roles a user may have."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ADMIN = "admin"
USER = "user"
AUDITOR = "auditor"
ROLES = (ADMIN, USER, AUDITOR)
MAX_NAME_LENGTH = 64

_HASHER = PasswordHasher()


class InvalidUser(ValueError):
    """A user name, role or password no user may have."""


def hash_password(password: str) -> str:
    if not password:
        raise InvalidUser("a password may not be empty")
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def checked_name(name: str) -> str:
    """A user name: 1 to 64 printable characters, no colon (HTTP Basic splits on it)."""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidUser(f"a user name has 1 to {MAX_NAME_LENGTH} characters")
    if ":" in name or not name.isprintable() or name != name.strip():
        raise InvalidUser("a user name has no colon, no control character, no outer space")
    return name


def checked_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidUser(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    return role
