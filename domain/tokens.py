"""Bearer tokens for scripts: made by an admin for a user, revocable, with an optional expiry.

A token reads `chr_<id>_<secret>`: the id finds its record, and only a SHA-256 digest of the
whole value is kept, in the secret store (kind TOKEN_SECRETS); the value is shown once, when
the token is made. (The secret is 256 random bits, so a fast digest is as safe as a slow one.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import attrs
from eventsourcing.application import AggregateNotFoundError

from domain.aggregates import ApiToken
from domain.commands import CommandContext
from domain.identity import token_aggregate_id
from domain.origin import Origin
from domain.users import find_user

TOKEN_SECRETS = "token"
PREFIX = "chr"
MAX_DESCRIPTION = 200


class InvalidToken(ValueError):
    pass


@attrs.frozen
class NewToken:
    token_id: str
    value: str  # shown once
    position: int


def token_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def token_id_of(value: str) -> str | None:
    prefix, _, rest = value.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not token_id or not secret:
        return None
    return token_id


def digest_matches(stored: str, value: str) -> bool:
    return bool(stored) and hmac.compare_digest(stored, token_digest(value))


def checked_expiry(expires: str) -> str:
    """ "" (never) or an ISO 8601 date-time with its time zone, as given."""
    if not expires:
        return ""
    try:
        moment = datetime.fromisoformat(expires)
    except ValueError:
        raise InvalidToken(f"not an ISO 8601 date and time: {expires!r}") from None
    if moment.tzinfo is None:
        raise InvalidToken(f"an expiry needs its time zone (Z or +hh:mm): {expires!r}")
    return moment.isoformat()


class TokenCommands(CommandContext):
    """Mixed into the Archive application."""

    def create_token(
        self, user: str, description: str, expires: str, by: str, origin: Origin
    ) -> NewToken:
        if len(description) > MAX_DESCRIPTION:
            raise InvalidToken(f"a description has at most {MAX_DESCRIPTION} characters")
        found = find_user(self.repository, user)
        if found is None or not found.live:
            raise InvalidToken(f"no user {user!r}")
        token_id = secrets.token_hex(8)
        value = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        token = ApiToken(
            token_id=token_id,
            user=user,
            description=description,
            expires=checked_expiry(expires),
            by=by,
            origin=origin.to_dict(),
        )
        step = self.secrets.put(TOKEN_SECRETS, token_id, {"Digest": token_digest(value)})
        return NewToken(token_id, value, self._append(token, also=[step]))

    def revoke_token(self, token_id: str, by: str, origin: Origin) -> int | None:
        """None if there is no such live token."""
        try:
            token: ApiToken = self.repository.get(token_aggregate_id(token_id))
        except AggregateNotFoundError:
            return None
        if token.revoked:
            return None
        token.revoke(by, origin.to_dict())
        return self._append(token, also=[self.secrets.remove(TOKEN_SECRETS, token_id)])
