"""An event log written by an earlier Chronicle still loads, serves and rebuilds the same.

See tests/fixtures/golden_log/NOTES.md.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from adapters.database import DatabaseAddress
from adapters.event_store import event_store_env
from domain.archive import Archive
from tests.support.server import ChronicleProcess

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden_log"
EVENTS_TABLE = "public.chronicle_events"


def golden_events() -> list[dict[str, Any]]:
    return json.loads((GOLDEN / "events.json").read_text())


def golden_views() -> dict[str, Any]:
    return json.loads((GOLDEN / "views.json").read_text())


def load_golden_log(database_url: str) -> None:
    """Writes the golden rows exactly as they were stored (their positions too, gaps
    included: Seq values derive from them) into an empty event store."""
    address = DatabaseAddress.from_url(database_url)
    Archive(env=event_store_env(address, 1)).close()  # creates the event store's tables
    rows = [
        (
            UUID(row["originator_id"]),
            row["originator_version"],
            row["topic"],
            base64.b64decode(row["state"]),
            row["notification_id"],
        )
        for row in golden_events()
    ]
    with psycopg.connect(address.conninfo()) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state, "
                "notification_id) VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{EVENTS_TABLE}', 'notification_id'), "
            f"(SELECT max(notification_id) FROM {EVENTS_TABLE}))"
        )


def views_of(server: ChronicleProcess) -> dict[str, Any]:
    with server.client() as client:
        return {route: client.get(route).json() for route in golden_views()}


@pytest.fixture
def golden_server(tmp_path: Path, database_url: str) -> Any:
    load_golden_log(database_url)
    server = ChronicleProcess(tmp_path / "data", database_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_golden_log_serves_the_same_views(golden_server: ChronicleProcess) -> None:
    expected = golden_views()
    actual = views_of(golden_server)
    for route in expected:
        assert actual[route] == expected[route], route


def test_the_golden_log_rebuilds_to_the_same_views(golden_server: ChronicleProcess) -> None:
    rebuilt = golden_server.rebuild(timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr
    expected = golden_views()
    actual = views_of(golden_server)
    for route in expected:
        assert actual[route] == expected[route], route
