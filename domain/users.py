"""Commands on the users of the HTTP surfaces.

A password's argon2 hash goes to the secret store (kind USER_SECRETS) in the transaction that
appends the event saying it changed; the log never holds it. Every event names who did it.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from domain.aggregates import User
from domain.commands import CommandContext
from domain.conflicts import retry_on_conflict
from domain.credentials import TransactionStep
from domain.identity import user_aggregate_id
from domain.origin import Origin
from domain.passwords import (
    ADMIN,
    InvalidUser,
    checked_name,
    checked_role,
    hash_password,
    verify_password,
)

USER_SECRETS = "user"
CONFIGURATION = "configuration"  # users of RegisteredUsers; "cli" and "rest" for the others


class UnknownUser(LookupError):
    pass


class UserExists(InvalidUser):
    pass


class UserCommands(CommandContext):
    """Mixed into the Archive application."""

    @retry_on_conflict
    def add_user(
        self, name: str, role: str, password: str, source: str, by: str, origin: Origin
    ) -> int:
        name, role = checked_name(name), checked_role(role)
        hashed = hash_password(password)
        user = self._user(name)
        if user is None:
            user = User(name=name, role=role, source=source, by=by, origin=origin.to_dict())
        elif user.live:
            raise UserExists(f"user {name!r} exists already")
        else:
            user.add_again(role, source, by, origin.to_dict())
        return self._append(user, also=[self._password_step(name, hashed)])

    @retry_on_conflict
    def change_password(self, name: str, password: str, by: str, origin: Origin) -> int:
        hashed = hash_password(password)
        user = self._live_user(name)
        user.change_password(by, origin.to_dict())
        return self._append(user, also=[self._password_step(name, hashed)])

    @retry_on_conflict
    def change_role(self, name: str, role: str, by: str, origin: Origin) -> int | None:
        user = self._live_user(name)
        if user.role == checked_role(role):
            return None
        user.change_role(role, by, origin.to_dict())
        return self._append(user)

    @retry_on_conflict
    def set_disabled(self, name: str, disabled: bool, by: str, origin: Origin) -> int | None:
        user = self._live_user(name)
        if user.disabled == disabled:
            return None
        user.set_disabled(disabled, by, origin.to_dict())
        return self._append(user)

    @retry_on_conflict
    def remove_user(self, name: str, by: str, origin: Origin) -> int:
        user = self._live_user(name)
        user.remove(by, origin.to_dict())
        return self._append(user, also=[self.secrets.remove(USER_SECRETS, name)])

    def define_configured_user(self, name: str, password: str, origin: Origin) -> int | None:
        """A user of the configuration's RegisteredUsers (an admin, as in Orthanc): added, or
        given the configured password; None when it is already so."""
        user = self._user(name)
        if user is None or not user.live:
            return self.add_user(name, ADMIN, password, CONFIGURATION, CONFIGURATION, origin)
        stored = self.secrets.get(USER_SECRETS, name).get("PasswordHash", "")
        if verify_password(stored, password):
            return None
        return self.change_password(name, password, CONFIGURATION, origin)

    def _password_step(self, name: str, hashed: str) -> TransactionStep:
        return self.secrets.put(USER_SECRETS, name, {"PasswordHash": hashed})

    def _live_user(self, name: str) -> User:
        user = self._user(name)
        if user is None or not user.live:
            raise UnknownUser(f"no user {name!r}")
        return user

    def _user(self, name: str) -> User | None:
        return find_user(self.repository, name)


def find_user(repository: Repository[UUID], name: str) -> User | None:
    """The user named `name`, live or removed; None if there never was one."""
    try:
        user: User = repository.get(user_aggregate_id(name))
    except AggregateNotFoundError:
        return None
    return user
