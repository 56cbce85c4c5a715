"""PostgreSQL access: connection settings and pools (the embedded server: embedded_postgres)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlparse

import attrs
import psycopg
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)


@attrs.frozen
class DatabaseAddress:
    host: str
    port: int
    user: str
    password: str = attrs.field(repr=False)
    dbname: str

    @classmethod
    def from_url(cls, url: str) -> DatabaseAddress:
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        host = query.get("host", [parsed.hostname or "localhost"])[0]
        return cls(
            host=host,
            port=int(query.get("port", [parsed.port or 5432])[0]),
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password or ""),
            dbname=(parsed.path or "/postgres").lstrip("/") or "postgres",
        )

    def url(self) -> str:
        """The address as a URL that from_url() reads back (a socket directory as `host`)."""
        user = quote(self.user, safe="")
        password = f":{quote(self.password, safe='')}" if self.password else ""
        query = urlencode({"host": self.host, "port": self.port})
        return f"postgresql://{user}{password}@/{quote(self.dbname, safe='')}?{query}"

    def conninfo(self) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
        )


class Database:
    """A small, explicit pool of connections for one process's read models and projections."""

    def __init__(
        self,
        address: DatabaseAddress,
        pool_size: int = 4,
        name: str = "read",
        durable_commits: bool = True,
    ) -> None:
        """`durable_commits` False: commits return before their WAL is flushed. Only for what
        the log can rebuild: a read model's writes commit with its position, so a crash that
        loses the last ones makes its runner apply those events again."""
        self.address = address
        kwargs: dict[str, Any] = {"autocommit": True}
        if not durable_commits:
            kwargs["options"] = "-c synchronous_commit=off"
        self.pool = ConnectionPool(
            address.conninfo(),
            min_size=1,
            max_size=pool_size,
            kwargs=kwargs,
            open=True,
            name=f"chronicle-{name}",
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        self.pool.close()
