"""Where each millisecond of an ingest goes: per-stage timings for the benchmarks.

Off unless `CHRONICLE_STAGE_TIMINGS` names a file; then every ingest (a REST upload, a C-STORE)
appends one JSON line there: the surface, the seconds spent in each stage, and the total the
server saw. `tests/bench/stages.py` reads that file. Disabled, a stage costs one attribute read.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
import time
from collections.abc import Iterator

ENVIRONMENT_VARIABLE = "CHRONICLE_STAGE_TIMINGS"

_path = os.environ.get(ENVIRONMENT_VARIABLE) or None
_current: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "ingest_stages", default=None
)
_write_lock = threading.Lock()
_nothing = contextlib.nullcontext()


def enabled() -> bool:
    return _path is not None


@contextlib.contextmanager
def _timed(name: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - began)


def add(name: str, seconds: float) -> None:
    """Adds time measured elsewhere to the ingest being recorded."""
    record = _current.get() if _path is not None else None
    if record is not None:
        record[name] = record.get(name, 0.0) + seconds


def mark(name: str) -> None:
    """Starts a stage that add_since_mark() ends (across callbacks that share no block)."""
    record = _current.get() if _path is not None else None
    if record is not None:
        record[f"_mark {name}"] = time.perf_counter()


def add_since_mark(name: str) -> None:
    record = _current.get() if _path is not None else None
    if record is not None and f"_mark {name}" in record:
        add(name, time.perf_counter() - record.pop(f"_mark {name}"))


def stage(name: str) -> contextlib.AbstractContextManager[None]:
    """Times the block as `name` in the ingest being recorded (nothing if none is)."""
    return _timed(name) if _path is not None and _current.get() is not None else _nothing


@contextlib.contextmanager
def ingest(surface: str) -> Iterator[None]:
    """Records one ingest: the stages timed within, and the whole as `total`."""
    if _path is None:
        yield
        return
    record: dict[str, float] = {}
    token = _current.set(record)
    began = time.perf_counter()
    try:
        yield
    finally:
        record["total"] = time.perf_counter() - began
        _current.reset(token)
        _write(surface, record)


def _write(surface: str, record: dict[str, float]) -> None:
    assert _path is not None
    line = json.dumps({"surface": surface, **record}) + "\n"
    with _write_lock, open(_path, "a", encoding="utf-8") as handle:
        handle.write(line)
