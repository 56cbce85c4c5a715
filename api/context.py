"""What a request handler needs from the running node, and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from litestar import Request

from adapters.node import ChronicleNode
from domain.origin import Channel, Origin


def node_of(request: Request) -> ChronicleNode:
    return request.app.state.node


@contextmanager
def read_connection(request: Request) -> Iterator[psycopg.Connection]:
    with node_of(request).db.connection() as conn:
        yield conn


def rest_origin(request: Request) -> Origin:
    client = request.client
    user = request.scope.get("user") or ""
    return Origin(
        Channel.REST,
        user=user if isinstance(user, str) else "",
        remote_ip=client.host if client else "",
    )
