"""Shared fixtures: one embedded PostgreSQL for the session, a fresh database per server."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.database import DatabaseAddress
from adapters.embedded_postgres import EmbeddedPostgres
from tests.support.corpus import corpus_dir
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def traversable_temp_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run as root, the embedded PostgreSQL runs as another account (PostgreSQL refuses root),
    which must pass through pytest's temporary directories (made 0700): they become 0711."""
    if os.geteuid() != 0:
        return
    base = tmp_path_factory.getbasetemp()
    for directory in (base, base.parent):
        if directory.name.startswith("pytest-"):
            directory.chmod(0o711)


@pytest.fixture
def tmp_path(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        tmp_path.chmod(0o711)
    return tmp_path


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseAddress]:
    external = os.environ.get("CHRONICLE_TEST_DATABASE_URL")
    if external:
        yield DatabaseAddress.from_url(external)
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", owner=True)
    address = server.start()
    try:
        yield address
    finally:
        server.stop()


@pytest.fixture
def database_url(postgres: DatabaseAddress) -> str:
    """A new, empty database on the session's server."""
    return fresh_database(postgres, f"chronicle_test_{os.getpid()}_{next(_database_numbers)}")


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[ChronicleProcess]:
    process = ChronicleProcess(tmp_path / "data", database_url)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def corpus() -> Path:
    return corpus_dir()
