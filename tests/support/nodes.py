"""An in-process Chronicle node on a database of its own, for tests that drive the platform's
parts directly (runners, processors, rebuild) rather than through HTTP."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import psycopg

from adapters.config import Settings
from adapters.database import DatabaseAddress
from adapters.node import ChronicleNode


def fresh_database(postgres: DatabaseAddress, name: str) -> str:
    """Creates an empty database on the test cluster; returns its URL."""
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return attrs.evolve(postgres, dbname=name).url()


@contextmanager
def fresh_node(postgres: DatabaseAddress, name: str, **settings: Any) -> Iterator[ChronicleNode]:
    """A started node without its worker threads (the test drives the runners)."""
    url = fresh_database(postgres, name)
    with tempfile.TemporaryDirectory() as data_dir:
        options = {"stable_age": 0, "db_pool_size": 2, **settings}
        node = ChronicleNode(Settings(data_dir=Path(data_dir), database_url=url, **options))
        try:
            node.start(workers=False)
            yield node
        finally:
            node.close()
