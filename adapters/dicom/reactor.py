"""Event-driven waits in pynetdicom's association threads (a version-checked adaptation).

Each pynetdicom 3.0 association runs two polling threads. The DUL reactor sleeps 1 ms whenever
a pass found nothing to do, and the association's reactor sleeps 1 ms before each look at its
message queue. So every hand-off of a C-STORE (request in, response out) waits for the next
poll, and with several associations the pollers wake thousands of times a second and compete
for the GIL with the work. Measured with tests/bench/stages.py, that was about 5 ms of a
C-STORE's 12 ms on the wire.

Here those two sleeps wait for what they poll for instead, capped at MAX_WAIT so that the
checks pynetdicom makes on each pass (timers, kill flags) still run:
- the DUL reactor waits until its socket is readable or a primitive is queued for sending (a
  pipe wakes it);
- the association reactor waits until a DIMSE message or an ACSE primitive is queued, its
  reactor is asked to pause, or the association is killed or its DUL thread ends.

Only the two reactor sleeps are replaced, identified by their thread and delay; every other
sleep of pynetdicom is left as it is. With another pynetdicom version nothing is changed (a
warning says so), and the polling behaviour stays.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import select
import threading
import time
from typing import Any

import pynetdicom
from pynetdicom import association as association_module
from pynetdicom import dul as dul_module
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("3.0.",)
MAX_WAIT = 0.02  # seconds: the longest a reactor goes without its periodic checks
SPIN_GUARD = 8  # waits ending at once on the socket before one plain poll
ASSOCIATION_REACTOR_DELAY = 0.001  # the sleep of Association._run_reactor in pynetdicom 3.0

_installed = False
_install_lock = threading.Lock()


class _SignallingQueue(queue.Queue[Any]):
    """A queue that calls `signal` after each put."""

    def __init__(self, signal: Any) -> None:
        super().__init__()
        self._signal = signal

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._signal()


class _Checkpoint(threading.Event):
    """The association reactor's pause switch: clearing it (someone wants the reactor
    paused) wakes the reactor, which only pauses between passes."""

    def __init__(self, signal: Any, is_set: bool) -> None:
        super().__init__()
        self._signal = signal
        if is_set:
            self.set()

    def clear(self) -> None:
        super().clear()
        self._signal()


class _SocketWakeup:
    """Wakes the DUL reactor's wait on its socket; the pipe exists while the reactor runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = False
        self._pipe: tuple[int, int] | None = None
        self._ready_streak = 0  # waits in a row that ended at once on a readable socket

    def set(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
            if self._pipe is not None:
                os.write(self._pipe[1], b"\0")

    def wait(self, sock: Any, timeout: float, fallback_delay: float) -> None:
        with self._lock:
            if self._pipe is None:
                self._pipe = os.pipe()
                os.set_blocking(self._pipe[0], False)
            if self._pending:
                self._take()
                return
            readable_end = self._pipe[0]
        if self._ready_streak >= SPIN_GUARD or getattr(sock, "pending", lambda: 0)():
            # Data the reactor keeps not consuming (or TLS bytes already decoded, which select
            # cannot see): poll as pynetdicom does rather than spin.
            self._ready_streak = 0
            time.sleep(fallback_delay)
            return
        try:
            ready, _, _ = select.select([sock, readable_end], [], [], timeout)
        except (OSError, ValueError):  # the socket is closed: pynetdicom will notice
            time.sleep(fallback_delay)
            return
        on_socket_only = sock in ready and readable_end not in ready
        self._ready_streak = self._ready_streak + 1 if on_socket_only else 0
        with self._lock:
            self._take()

    def _take(self) -> None:
        self._pending = False
        if self._pipe is not None:
            with contextlib.suppress(BlockingIOError):
                os.read(self._pipe[0], 4096)

    def close(self) -> None:
        with self._lock:
            if self._pipe is not None:
                for fd in self._pipe:
                    os.close(fd)
                self._pipe = None


class _DulClock:
    """pynetdicom.dul's `time`: its reactor's sleep becomes a wait on the socket."""

    def sleep(self, seconds: float) -> None:
        thread = threading.current_thread()
        wakeup = getattr(thread, "_chronicle_wakeup", None)
        sock = getattr(getattr(thread, "socket", None), "socket", None)
        if not isinstance(thread, DULServiceProvider) or wakeup is None or sock is None:
            time.sleep(seconds)
            return
        wakeup.wait(sock, MAX_WAIT, seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _AssociationClock:
    """pynetdicom.association's `time`: its reactor's sleep becomes a wait for work."""

    def sleep(self, seconds: float) -> None:
        thread = threading.current_thread()
        ready = getattr(thread, "_chronicle_ready", None)
        if seconds != ASSOCIATION_REACTOR_DELAY or ready is None:
            time.sleep(seconds)
            return
        ready.wait(MAX_WAIT)
        ready.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _wire(assoc: Association) -> None:
    """Replaces the queues and the pause switch of a new association by signalling ones."""
    ready = threading.Event()
    wakeup = _SocketWakeup()
    assoc._chronicle_ready = ready  # type: ignore[attr-defined]
    assoc.dul._chronicle_wakeup = wakeup  # type: ignore[attr-defined]
    assoc.dul.to_provider_queue = _SignallingQueue(wakeup.set)
    assoc.dul.to_user_queue = _SignallingQueue(ready.set)
    assoc.dimse.msg_queue = _SignallingQueue(ready.set)
    assoc._reactor_checkpoint = _Checkpoint(ready.set, assoc._reactor_checkpoint.is_set())


def install() -> None:
    """Once per process, before the first association; idempotent."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        if not pynetdicom.__version__.startswith(SUPPORTED_VERSIONS):
            log.warning(
                "pynetdicom %s: its reactors keep polling (the event-driven waits are for %s)",
                pynetdicom.__version__,
                ", ".join(v + "x" for v in SUPPORTED_VERSIONS),
            )
            return
        _patch()


def _patch() -> None:
    original_init = Association.__init__
    original_kill = Association.kill
    original_run_reactor = DULServiceProvider.run_reactor

    @functools.wraps(original_init)
    def init(self: Association, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _wire(self)

    @functools.wraps(original_kill)
    def kill(self: Association) -> None:
        ready = getattr(self, "_chronicle_ready", None)
        if ready is not None:
            ready.set()
        original_kill(self)

    @functools.wraps(original_run_reactor)
    def run_reactor(self: DULServiceProvider) -> None:
        try:
            original_run_reactor(self)
        finally:
            wakeup = getattr(self, "_chronicle_wakeup", None)
            if wakeup is not None:
                wakeup.close()
            ready = getattr(self.assoc, "_chronicle_ready", None)
            if ready is not None:
                ready.set()  # the association reactor checks whether its DUL is alive

    Association.__init__ = init  # type: ignore[method-assign]
    Association.kill = kill  # type: ignore[method-assign]
    DULServiceProvider.run_reactor = run_reactor  # type: ignore[method-assign]
    dul_module.time = _DulClock()  # type: ignore[assignment]
    association_module.time = _AssociationClock()  # type: ignore[assignment]
