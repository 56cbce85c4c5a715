"""Lua's event callbacks, as Orthanc calls them, driven by the log:
- OnStoredInstance(id, tags, metadata, origin);
- OnStableSeries/OnStableStudy/OnStablePatient(id, tags, metadata);
- OnDeletedInstance/Series/Study/Patient(id), for each resource a delete removed;
- OnUpdatedInstance/Series/Study/Patient(id), when its metadata or attachments change;
- OnJobSubmitted/OnJobSuccess/OnJobFailure(jobId);
- OnChange(changeType, level, id) for each change of /changes (a Chronicle addition: Orthanc
  offers it to plugins only);
- OnHeartBeat() every LuaHeartBeatPeriod seconds.

A processor: each callback runs once per event, from the position the processor reached, never
on a rebuild or a replay and never for what was logged before it was first registered. It runs
in the Lua state of the process that runs the consumers (the leader). The tags and metadata are
read as a script would read them, through this process's REST API, so a batch waits until that
API serves (and is then retried whole, before any callback ran); which resources a delete
removed is read from the changes read model, which it follows. An instance deleted before its
callback ran gets none. A failing callback is logged with Lua's traceback and does not stop the
others.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from adapters.database import Database
from adapters.lua.engine import Caller, LuaEngine, LuaError
from adapters.lua.values import origin_fields, to_lua
from domain.aggregates import Instance, Job, Resource
from domain.levels import LEVEL_NAMES
from domain.origin import Origin
from domain.passwords import ADMIN
from projections.changes.projection import ANNOTATION_CHANGES
from projections.changes.queries import changes_of_positions
from projections.read_model import Positioned

log = logging.getLogger("chronicle.lua")

# Who callbacks act as when they call the REST API.
CALLBACKS = Caller(user="lua-callbacks", role=ADMIN)
STABLE_CALLBACKS = {
    "Patient": "OnStablePatient",
    "Study": "OnStableStudy",
    "Series": "OnStableSeries",
}
JOB_CALLBACKS: dict[type, str] = {
    Job.Submitted: "OnJobSubmitted",
    Job.Succeeded: "OnJobSuccess",
    Job.Failed: "OnJobFailure",
}
ON_CHANGE = "OnChange"
ON_HEART_BEAT = "OnHeartBeat"
DELETED_CALLBACKS = tuple(f"OnDeleted{level}" for level in LEVEL_NAMES)
UPDATED_CALLBACKS = tuple(f"OnUpdated{level}" for level in LEVEL_NAMES)
EVENT_CALLBACKS = (
    "OnStoredInstance",
    *STABLE_CALLBACKS.values(),
    *DELETED_CALLBACKS,
    *UPDATED_CALLBACKS,
    *JOB_CALLBACKS.values(),
    ON_CHANGE,
)
_PATHS = {"Patient": "patients", "Study": "studies", "Series": "series"}
# (log position, change type, level name, resource ID), in /changes order
Change = tuple[int, str, str, str]


class NotServingYet(RuntimeError):
    """The REST API the callbacks read through does not answer yet: the batch is retried."""


class LuaCallbacks:
    name = "lua-callbacks"
    topics = (
        Instance.Stored,
        Instance.StoredAgain,
        Instance.Deleted,
        Resource.Stabilized,
        *ANNOTATION_CHANGES,
        *JOB_CALLBACKS,
    )
    follows = ("hierarchy", "changes")

    def __init__(self, engine: LuaEngine | None, db: Database, heart_beat_period: int) -> None:
        self.engine = engine
        self.db = db
        self.heart_beat_period = heart_beat_period
        self._next_beat = time.monotonic() + heart_beat_period

    def handle(self, batch: Sequence[Positioned]) -> None:
        engine = self.engine
        if engine is None or not any(map(engine.defines, EVENT_CALLBACKS)):
            return
        if engine.rest is None or engine.rest("GET", "/system", None, {}, CALLBACKS)[0] != 200:
            raise NotServingYet("the REST API does not answer yet")
        changes = self._changes(engine, batch)
        for position, event in batch:
            self._dispatch(engine, event, [c for c in changes if c[0] == position])

    def tick(self) -> float | None:
        """OnHeartBeat(), when LuaHeartBeatPeriod is set and the scripts define it."""
        if self.engine is None or self.heart_beat_period <= 0:
            return None
        now = time.monotonic()
        if now >= self._next_beat:
            if self.engine.defines(ON_HEART_BEAT):
                self._call(self.engine, ON_HEART_BEAT)
            self._next_beat = time.monotonic() + self.heart_beat_period
        return max(self._next_beat - time.monotonic(), 0.0)

    def _changes(self, engine: LuaEngine, batch: Sequence[Positioned]) -> list[Change]:
        """The /changes entries of the batch's events, when a callback needs them."""
        wanted = (ON_CHANGE, *DELETED_CALLBACKS)
        if not any(map(engine.defines, wanted)):
            return []
        positions = [position for position, _ in batch]
        with self.db.connection() as conn:
            rows = changes_of_positions(conn, min(positions), max(positions))
        return [(position, kind, LEVEL_NAMES[level], id_) for position, kind, level, id_ in rows]

    def _dispatch(self, engine: LuaEngine, event: Any, changes: list[Change]) -> None:
        if isinstance(event, Instance.Stored | Instance.StoredAgain):
            self._stored(engine, event.instance_id, Origin.from_dict(event.origin))
        elif isinstance(event, Instance.Deleted):
            for _, kind, level, resource_id in changes:
                if kind == "Deleted":
                    self._call(engine, f"OnDeleted{level}", resource_id)
        elif isinstance(event, Resource.Stabilized) and event.level in STABLE_CALLBACKS:
            self._stable(engine, event.resource_id, event.level)
        elif type(event) in ANNOTATION_CHANGES:
            self._call(engine, f"OnUpdated{event.level}", event.resource_id)
        elif type(event) in JOB_CALLBACKS:
            self._call(engine, JOB_CALLBACKS[type(event)], str(event.originator_id))
        for _, kind, level, resource_id in changes:
            self._call(engine, ON_CHANGE, kind, level, resource_id)

    def _stored(self, engine: LuaEngine, instance_id: str, origin: Origin) -> None:
        if not engine.defines("OnStoredInstance"):
            return
        if engine.stored_instance is not None:
            found = engine.stored_instance(instance_id)
        else:
            path = f"/instances/{instance_id}"
            found = (
                _read(engine, f"{path}/simplified-tags"),
                _read(engine, f"{path}/metadata?expand"),
            )
        if found is None or None in found:
            return  # deleted since
        tags, metadata = found
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
        if not engine.defines(name):
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
        if not engine.defines(name):
            return
        encoded = [
            argument.encode() if isinstance(argument, str) else argument for argument in arguments
        ]
        try:
            engine.call(name, *encoded, caller=CALLBACKS)
        except LuaError as error:
            log.error("Lua: %s failed: %s\n%s", name, error.message, error.traceback)


def _read(engine: LuaEngine, path: str) -> Any:
    status, body = engine.rest("GET", path, None, {}, CALLBACKS)
    return json.loads(body) if status == 200 else None
