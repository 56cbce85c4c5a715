"""Users on eventsourcing's in-memory persistence, and the permissions table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.permissions import may
from domain.aggregates import User
from domain.archive import Archive
from domain.credentials import TransactionStep
from domain.origin import Channel, Origin
from domain.passwords import InvalidUser, verify_password
from domain.users import USER_SECRETS, UnknownUser, UserExists

ORIGIN = Origin(Channel.CLI, user="cli")


class DictSecretStore:
    """The secret store's contract in a dict (in memory there is no transaction to join)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return dict(self.values.get((kind, name), {}))

    def put(self, kind: str, name: str, secrets: dict[str, Any]) -> TransactionStep:
        self.values[(kind, name)] = dict(secrets)
        return lambda cursor: None

    def remove(self, kind: str, name: str) -> TransactionStep:
        self.values.pop((kind, name), None)
        return lambda cursor: None


@pytest.fixture
def secrets() -> DictSecretStore:
    return DictSecretStore()


@pytest.fixture
def archive(secrets: DictSecretStore) -> Iterator[Archive]:
    app = Archive(group_commit=False, secrets=secrets)
    try:
        yield app
    finally:
        app.close()


def _events(archive: Archive) -> list[Any]:
    return [
        archive.mapper.to_domain_event(item)
        for item in archive.recorder.select_notifications(1, 1000)
    ]


def test_a_user_lives_by_events_and_its_password_never_enters_the_log(
    archive: Archive, secrets: DictSecretStore
) -> None:
    archive.add_user("alice", "user", "s3cret-pass", "cli", "cli", ORIGIN)
    archive.change_role("alice", "auditor", "root", ORIGIN)
    archive.change_password("alice", "n3w-pass", "root", ORIGIN)
    archive.set_disabled("alice", True, "root", ORIGIN)
    archive.remove_user("alice", "root", ORIGIN)
    archive.add_user("alice", "admin", "again-pass", "rest", "root", ORIGIN)
    events = _events(archive)
    assert [type(e).__name__ for e in events] == [
        "Created",
        "RoleChanged",
        "PasswordChanged",
        "DisabledChanged",
        "Removed",
        "AddedAgain",
    ]
    assert [e.by for e in events] == ["cli", "root", "root", "root", "root", "root"]
    stored_hash = secrets.get(USER_SECRETS, "alice")["PasswordHash"]
    assert verify_password(stored_hash, "again-pass")
    logged = b"".join(item.state for item in archive.recorder.select_notifications(1, 1000))
    for secret in ("s3cret-pass", "n3w-pass", "again-pass", stored_hash):
        assert secret.encode() not in logged
    user = archive.repository.get(events[0].originator_id)
    assert isinstance(user, User) and (user.role, user.live, user.disabled) == (
        "admin",
        True,
        False,
    )


def test_what_no_user_may_be(archive: Archive) -> None:
    archive.add_user("bob", "user", "pw", "cli", "cli", ORIGIN)
    with pytest.raises(UserExists):
        archive.add_user("bob", "admin", "pw2", "cli", "cli", ORIGIN)
    for name, role, password in (
        ("a:b", "user", "pw"),  # HTTP Basic splits on the colon
        ("", "user", "pw"),
        (" padded", "user", "pw"),
        ("x" * 65, "user", "pw"),
        ("carol", "superuser", "pw"),
        ("carol", "user", ""),
    ):
        with pytest.raises(InvalidUser):
            archive.add_user(name, role, password, "cli", "cli", ORIGIN)
    with pytest.raises(UnknownUser):
        archive.change_password("nobody", "pw", "cli", ORIGIN)
    assert archive.change_role("bob", "user", "cli", ORIGIN) is None  # nothing changes
    assert archive.set_disabled("bob", False, "cli", ORIGIN) is None


def test_registered_users_are_admins_given_the_configured_password(
    archive: Archive, secrets: DictSecretStore
) -> None:
    assert archive.define_configured_user("orthanc", "orthanc", ORIGIN) is not None
    assert archive.define_configured_user("orthanc", "orthanc", ORIGIN) is None  # as it is
    assert archive.define_configured_user("orthanc", "changed", ORIGIN) is not None
    assert verify_password(secrets.get(USER_SECRETS, "orthanc")["PasswordHash"], "changed")
    created = _events(archive)[0]
    assert (created.role, created.source, created.by) == ("admin", "configuration", "configuration")


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("admin", "DELETE", "/studies/x", True),
        ("admin", "POST", "/tools/anything", True),
        ("user", "GET", "/modalities", True),
        ("user", "POST", "/instances", True),
        ("user", "POST", "/modalities/x/store", True),
        ("user", "POST", "/queries/x/answers/0/retrieve", True),
        ("user", "POST", "/queries/x/answers/0/query-series", True),
        ("user", "DELETE", "/studies/x", False),
        ("user", "PUT", "/modalities/x", False),
        ("user", "DELETE", "/changes", False),
        ("user", "POST", "/tools/dicom-echo", False),  # any host: admins only
        ("user", "GET", "/tools/tokens", False),
        ("user", "POST", "/tools/tokens", False),
        ("admin", "DELETE", "/tools/tokens/x", True),
        ("auditor", "GET", "/exports/audit", True),
        ("auditor", "GET", "/changes", True),
        ("auditor", "GET", "/instances/x/file", True),
        ("auditor", "GET", "/modalities", False),
        ("auditor", "GET", "/jobs", False),
        ("auditor", "POST", "/instances", False),
        ("auditor", "POST", "/tools/find", True),  # searching is reading
        ("auditor", "POST", "/tools/count-resources", True),
        ("user", "POST", "/tools/lookup", True),
        ("auditor", "POST", "/tools/bulk-content", True),  # describing is reading
        ("user", "POST", "/tools/bulk-delete", False),
        ("auditor", "POST", "/tools/bulk-delete", False),
        ("nobody", "GET", "/system", False),
    ],
)
def test_the_permissions_table(role: str, method: str, path: str, allowed: bool) -> None:
    assert may(role, method, path) is allowed


def test_events_name_the_request_origin(archive: Archive) -> None:
    rest = Origin(Channel.REST, user="root", remote_ip="10.0.0.9")
    archive.add_user("dave", "user", "pw", "rest", "root", rest)
    origin = _events(archive)[0].origin
    assert json.loads(json.dumps(origin)) == rest.to_dict()


def test_a_thousand_wrong_passwords_are_slowed_without_locking_out_others() -> None:
    from adapters.login_guard import FREE_FAILURES, MAX_DELAY, LoginThrottle

    throttle = LoginThrottle()
    delays = [throttle.failed("alice", "10.0.0.66") for _ in range(1000)]
    assert delays[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert delays[FREE_FAILURES : FREE_FAILURES + 4] == [0.25, 0.5, 1.0, 2.0]
    assert max(delays) == MAX_DELAY and sum(delays) > 3900  # over an hour for 1,000 guesses
    # Another account from another address: not held back at all.
    assert throttle.failed("bob", "10.0.0.7") == 0.0
    # The same account from elsewhere, or another account from the attacker's address: slowed.
    assert throttle.failed("alice", "10.0.0.8") == MAX_DELAY
    assert throttle.failed("carol", "10.0.0.66") == MAX_DELAY
