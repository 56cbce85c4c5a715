"""The RuntimeSetting lifecycle (domain.runtime_settings) on the in-memory event store: when a
value set through REST survives a start, and when the configuration file's applies again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.aggregates import RuntimeSetting
from domain.archive import Archive
from domain.identity import runtime_setting_aggregate_id
from domain.origin import Channel, Origin
from domain.runtime_settings import DEFAULT_ENCODING, matching_transfer_syntaxes

ORIGIN = Origin(Channel.REST, user="admin")
SYSTEM = Origin(Channel.SYSTEM, user="configuration")


@pytest.fixture
def archive() -> Iterator[Archive]:
    app = Archive(group_commit=False)
    yield app
    app.close()


def _events(archive: Archive) -> int:
    return len(archive.recorder.select_notifications(start=None, limit=100))


def _value(archive: Archive) -> object:
    setting: RuntimeSetting = archive.repository.get(runtime_setting_aggregate_id(DEFAULT_ENCODING))
    return setting.value


def test_a_start_records_nothing_until_rest_changes_a_setting(archive: Archive) -> None:
    assert archive.configure_runtime_setting(DEFAULT_ENCODING, "Latin1", SYSTEM) is None
    assert archive.configure_runtime_setting(DEFAULT_ENCODING, "Utf8", SYSTEM) is None
    assert _events(archive) == 0


def test_a_rest_value_survives_starts_until_the_file_changes(archive: Archive) -> None:
    assert archive.set_runtime_setting(DEFAULT_ENCODING, "Utf8", "Latin1", ORIGIN) is not None
    assert archive.set_runtime_setting(DEFAULT_ENCODING, "Utf8", "Latin1", ORIGIN) is None
    assert archive.configure_runtime_setting(DEFAULT_ENCODING, "Latin1", SYSTEM) is None
    assert _value(archive) == "Utf8"  # the file did not change: REST's value stays
    assert archive.configure_runtime_setting(DEFAULT_ENCODING, "Cyrillic", SYSTEM) is not None
    assert _value(archive) == "Cyrillic"  # an edited file wins
    assert archive.configure_runtime_setting(DEFAULT_ENCODING, "Cyrillic", SYSTEM) is None
    assert archive.set_runtime_setting(DEFAULT_ENCODING, "Utf8", "Cyrillic", ORIGIN) is not None
    assert archive.configure_runtime_setting(DEFAULT_ENCODING, "Cyrillic", SYSTEM) is None
    assert _value(archive) == "Utf8"
    assert _events(archive) == 3


def test_transfer_syntax_patterns_match_in_uid_order() -> None:
    jpeg = "1.2.840.10008.1.2.4"
    matched = matching_transfer_syntaxes([f"{jpeg}.5?", "1.2.840.10008.1.2"])
    assert matched == ["1.2.840.10008.1.2", f"{jpeg}.50", f"{jpeg}.51", f"{jpeg}.57"]
    numeric = matching_transfer_syntaxes([f"{jpeg}.100", f"{jpeg}.91"])
    assert numeric == [f"{jpeg}.91", f"{jpeg}.100"]  # by number, not as text
    assert matching_transfer_syntaxes(["1.2.3"]) == []
