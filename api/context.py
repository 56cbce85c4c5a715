"""What request helpers read from the application state, and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from litestar import Request

from adapters.config import Settings
from adapters.live_settings import LiveSettings
from adapters.storage import StorageArea
from domain.origin import Channel, Origin

LUA_SCOPE = "chronicle.lua"  # set in the scope of a request a Lua script makes (api.scripting)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def live_settings_of(request: Request) -> LiveSettings:
    """The settings REST may change while the server runs (the default encoding…)."""
    live: LiveSettings = request.app.state.live
    return live


def storage_of(request: Request) -> StorageArea:
    storage: StorageArea = request.app.state.storage
    return storage


@contextmanager
def read_connection(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.db.connection() as conn:
        yield conn


def rest_origin(request: Request) -> Origin:
    client = request.client
    user = request.scope.get("user") or ""
    return Origin(
        Channel.LUA if request.scope.get(LUA_SCOPE) else Channel.REST,
        user=user if isinstance(user, str) else "",
        remote_ip=client.host if client else "",
    )
