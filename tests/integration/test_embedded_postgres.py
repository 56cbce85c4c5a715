"""The embedded PostgreSQL accepts only Chronicle: a password kept owner-only, a private socket
directory, nothing changed above the data directory, and earlier trust clusters closed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.database import DatabaseAddress
from adapters.embedded_postgres import EmbeddedPostgres, binaries

PROBE = """
import sys, psycopg
try:
    psycopg.connect(host=sys.argv[1], port=int(sys.argv[2]), user="postgres", dbname="postgres",
                    password="not-the-secret",
                    connect_timeout=10)
except psycopg.OperationalError as error:
    print(error)
    sys.exit(3)
sys.exit(0)
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, DatabaseAddress]]:
    server = EmbeddedPostgres(tmp_path / "data" / "pg", owner=True)
    address = server.start()
    try:
        yield server, address
    finally:
        server.stop()


def _refusal(address: DatabaseAddress) -> str:
    """What a connection with a wrong password is told."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, address.host, str(address.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 3, f"connected without the secret: {probe.stdout}{probe.stderr}"
    return probe.stdout


def _refusal_as(user: str, address: DatabaseAddress) -> str:
    """What psql run by another local account is told (only when the tests run as root)."""
    command = [str(binaries() / "psql"), "-w", "-h", address.host, "-p", str(address.port)]
    probe = subprocess.run(
        [*command, "-U", "postgres", "-c", "SELECT 1", "postgres"],
        capture_output=True,
        text=True,
        user=user,
        cwd="/",
        env={"PGPASSWORD": "not-the-secret"},
        timeout=60,
    )
    assert probe.returncode != 0, f"{user} connected: {probe.stdout}"
    return probe.stderr


def test_only_the_secret_opens_the_database(
    embedded: tuple[EmbeddedPostgres, DatabaseAddress], tmp_path: Path
) -> None:
    server, address = embedded
    with psycopg.connect(address.conninfo()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert _mode(server.secret_path) == 0o600
    assert _mode(server.socket_dir) == 0o700 and _mode(server.pgdata) == 0o700
    assert "trust" not in (server.pgdata / "pg_hba.conf").read_text()
    assert "password authentication failed" in _refusal(address)
    if os.geteuid() == 0:
        # Another local account cannot even reach the socket.
        assert "Permission denied" in _refusal_as("nobody", address)
    assert address.password not in repr(address)


def test_nothing_above_the_data_directory_changes(tmp_path: Path) -> None:
    above = tmp_path / "a" / "b"
    above.mkdir(parents=True)
    above.chmod(0o751)
    (tmp_path / "a").chmod(0o701)
    before = {path: _mode(path) for path in (above, tmp_path / "a", tmp_path)}
    server = EmbeddedPostgres(above / "data" / "pg", owner=True)
    server.start()
    server.stop()
    assert {path: _mode(path) for path in before} == before


def test_a_trust_cluster_of_an_earlier_chronicle_gets_a_password(
    embedded: tuple[EmbeddedPostgres, DatabaseAddress],
) -> None:
    server, _ = embedded
    server.stop()
    (server.pgdata / "pg_hba.conf").write_text("local all all trust\n")
    server.secret_path.unlink()
    again = EmbeddedPostgres(server.pgdata, owner=True)
    address = again.start()
    try:
        assert server.secret_path.exists() and _mode(server.secret_path) == 0o600
        assert "trust" not in (server.pgdata / "pg_hba.conf").read_text()
        with psycopg.connect(address.conninfo()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert "password authentication failed" in _refusal(address)
    finally:
        again.stop()
