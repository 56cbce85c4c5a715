"""Credentials out of the log: a peer defined with a password by an earlier Chronicle (its
version-1 events carried the secrets) loses them from the stored events at start-up and still
authenticates, from the secret store; removing the peer removes its credentials."""

from __future__ import annotations

import base64
import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.database import DatabaseAddress
from adapters.event_store import event_store_env
from domain.archive import Archive
from domain.identity import remote_node_aggregate_id
from tests.support.server import ChronicleProcess

PASSWORD, HEADER_SECRET = "v1-peer-password", "v1-header-secret"
EVENTS_TABLE = "public.chronicle_events"


class OrthancLikePeer(BaseHTTPRequestHandler):
    """Answers GET /system only to Basic bob:PASSWORD with the X-Token header set."""

    expected = "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()

    def do_GET(self) -> None:
        authorised = self.headers.get("Authorization") == self.expected
        if not authorised or self.headers.get("X-Token") != HEADER_SECRET:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="peer"')
            self.end_headers()
            return
        body = json.dumps({"Name": "AUTHENTICATED-PEER", "Version": "1.10.1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def peer_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), OrthancLikePeer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def version_1_definition(url: str) -> bytes:
    """RemoteNode.Defined as Chronicle wrote it before credentials left the log."""
    state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-01T10:00:00+00:00"},
        "originator_topic": "domain.aggregates:RemoteNode",
        "kind": "peer",
        "name": "remote",
        "configuration": {
            "Url": url,
            "Username": "bob",
            "Password": PASSWORD,
            "HttpHeaders": {"X-Token": HEADER_SECRET},
            "Pkcs11": False,
            "Timeout": 0,
        },
        "source": "rest",
        "origin": {"channel": "REST", "user": "alice", "remote_ip": "127.0.0.1"},
    }
    return zlib.compress(json.dumps(state).encode())


def write_version_1_log(database_url: str, url: str) -> None:
    address = DatabaseAddress.from_url(database_url)
    Archive(env=event_store_env(address, 1)).close()  # creates the event store's tables
    with psycopg.connect(address.conninfo()) as conn:
        conn.execute(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, 'domain.aggregates:RemoteNode.Defined', %s)",
            (remote_node_aggregate_id("peer", "remote"), version_1_definition(url)),
        )


def stored_states(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"SELECT state FROM {EVENTS_TABLE} ORDER BY notification_id")
        return [zlib.decompress(bytes(row[0])).decode() for row in rows.fetchall()]


def secret_rows(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT kind, name, secrets FROM secrets.credentials").fetchall()


def test_a_version_1_peer_loses_its_secrets_from_the_log_and_still_authenticates(
    tmp_path: Path, database_url: str, peer_url: str
) -> None:
    write_version_1_log(database_url, peer_url)
    assert any(PASSWORD in state for state in stored_states(database_url))
    server = ChronicleProcess(tmp_path / "data", database_url)
    server.start()
    try:
        states = stored_states(database_url)
        assert states and not any(PASSWORD in s or HEADER_SECRET in s for s in states)
        assert secret_rows(database_url) == [
            ("peer", "remote", {"Password": PASSWORD, "HttpHeaders": {"X-Token": HEADER_SECRET}})
        ]
        with server.client() as client:
            system = client.get("/peers/remote/system")
            assert system.status_code == 200, system.text
            assert system.json()["Name"] == "AUTHENTICATED-PEER"
            listed = client.get("/peers?expand").json()["remote"]
            assert listed["Url"] == peer_url and listed["Username"] == "bob"
            assert PASSWORD not in json.dumps(listed) and HEADER_SECRET not in json.dumps(listed)

            assert client.delete("/peers/remote").status_code == 200
        assert secret_rows(database_url) == []
        assert not any(PASSWORD in s or HEADER_SECRET in s for s in stored_states(database_url))
    finally:
        server.stop()


def test_a_peer_defined_now_keeps_its_password_out_of_every_event(
    tmp_path: Path, database_url: str, peer_url: str
) -> None:
    server = ChronicleProcess(tmp_path / "data", database_url)
    server.start()
    try:
        definition = {
            "Url": peer_url,
            "Username": "bob",
            "Password": PASSWORD,
            "HttpHeaders": {"X-Token": HEADER_SECRET},
        }
        with server.client() as client:
            assert client.put("/peers/remote", json=definition).status_code == 200
            assert client.get("/peers/remote/system").json()["Name"] == "AUTHENTICATED-PEER"
            definition["Password"] = "wrong"
            assert client.put("/peers/remote", json=definition).status_code == 200
            assert client.get("/peers/remote/system").status_code != 200
        states = stored_states(database_url)
        assert not any(PASSWORD in s or HEADER_SECRET in s or '"wrong"' in s for s in states)
        named = [json.loads(s).get("credentials") for s in states]
        assert ["HttpHeaders", "Password"] in [sorted(n) for n in named if n]
    finally:
        server.stop()
