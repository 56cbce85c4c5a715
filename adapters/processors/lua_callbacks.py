"""Lua's event callbacks, as Orthanc calls them, driven by the log: OnStoredInstance(id, tags,
metadata, origin), OnStableSeries/OnStableStudy/OnStablePatient(id, tags, metadata) and
OnDeletedInstance(id).

A processor: each callback runs once per event, from the position the processor reached, never
on a rebuild or a replay and never for what was logged before it was first registered. It runs
in the Lua state of the process that runs the consumers (the leader). The tags and metadata are
read as a script would read them, through this process's REST API, so a batch waits until that
API serves (and is then retried whole, before any callback ran). An instance deleted before its
callback ran gets none. A failing callback is logged with Lua's traceback and does not stop the
others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from adapters.lua.engine import Caller, LuaEngine, LuaError
from adapters.lua.values import origin_fields, to_lua
from domain.aggregates import Instance, Resource
from domain.origin import Origin
from domain.passwords import ADMIN
from projections.read_model import Positioned

log = logging.getLogger("chronicle.lua")

# Who callbacks act as when they call the REST API.
CALLBACKS = Caller(user="lua-callbacks", role=ADMIN)
STABLE_CALLBACKS = {
    "Patient": "OnStablePatient",
    "Study": "OnStableStudy",
    "Series": "OnStableSeries",
}
_PATHS = {"Patient": "patients", "Study": "studies", "Series": "series"}


class NotServingYet(RuntimeError):
    """The REST API the callbacks read through does not answer yet: the batch is retried."""


class LuaCallbacks:
    name = "lua-callbacks"
    topics = (Instance.Stored, Instance.StoredAgain, Instance.Deleted, Resource.Stabilized)
    follows = ("hierarchy",)

    def __init__(self, engine: LuaEngine | None) -> None:
        self.engine = engine

    def handle(self, batch: Sequence[Positioned]) -> None:
        engine = self.engine
        if engine is None or not any(map(engine.defines, _CALLBACK_NAMES)):
            return
        if engine.rest is None or engine.rest("GET", "/system", None, {}, CALLBACKS)[0] != 200:
            raise NotServingYet("the REST API does not answer yet")
        for _, event in batch:
            self._dispatch(engine, event)

    def tick(self) -> float | None:
        return None

    def _dispatch(self, engine: LuaEngine, event: Any) -> None:
        if isinstance(event, Instance.Stored | Instance.StoredAgain):
            self._stored(engine, event.instance_id, Origin.from_dict(event.origin))
        elif isinstance(event, Instance.Deleted):
            self._call(engine, "OnDeletedInstance", event.instance_id)
        elif isinstance(event, Resource.Stabilized) and event.level in STABLE_CALLBACKS:
            self._stable(engine, event.resource_id, event.level)

    def _stored(self, engine: LuaEngine, instance_id: str, origin: Origin) -> None:
        if not engine.has("OnStoredInstance"):
            return
        path = f"/instances/{instance_id}"
        tags, metadata = (
            _read(engine, f"{path}/simplified-tags"),
            _read(engine, f"{path}/metadata?expand"),
        )
        if tags is None or metadata is None:
            return  # deleted since
        runtime = engine.runtime
        lua_origin = to_lua(runtime, origin_fields(origin))
        self._call(
            engine,
            "OnStoredInstance",
            instance_id,
            to_lua(runtime, tags),
            to_lua(runtime, metadata),
            lua_origin,
        )

    def _stable(self, engine: LuaEngine, resource_id: str, level: str) -> None:
        name = STABLE_CALLBACKS[level]
        if not engine.has(name):
            return
        path = f"/{_PATHS[level]}/{resource_id}"
        resource, metadata = _read(engine, path), _read(engine, f"{path}/metadata?expand")
        if resource is None or metadata is None:
            return
        tags = {**resource.get("PatientMainDicomTags", {}), **resource.get("MainDicomTags", {})}
        runtime = engine.runtime
        self._call(engine, name, resource_id, to_lua(runtime, tags), to_lua(runtime, metadata))

    @staticmethod
    def _call(engine: LuaEngine, name: str, *arguments: Any) -> None:
        encoded = [
            argument.encode() if isinstance(argument, str) else argument for argument in arguments
        ]
        try:
            engine.call(name, *encoded, caller=CALLBACKS)
        except LuaError as error:
            log.error("Lua: %s failed: %s\n%s", name, error.message, error.traceback)


_CALLBACK_NAMES = ("OnStoredInstance", "OnDeletedInstance", *STABLE_CALLBACKS.values())


def _read(engine: LuaEngine, path: str) -> Any:
    status, body = engine.rest("GET", path, None, {}, CALLBACKS)
    return json.loads(body) if status == 200 else None
