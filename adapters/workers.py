"""`chronicle serve --workers N`: the other N-1 processes of one archive, kept running.

The first process (this one) owns the data directory and the embedded PostgreSQL; it starts
the others once the database is up and migrated, as ordinary `chronicle serve` processes given
its database URL and told to share the HTTP and DICOM ports (SO_REUSEPORT: the kernel spreads
connections over the processes). They die with it, and one that exits early is started again.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

log = logging.getLogger(__name__)

DATABASE_URL_VARIABLE = "CHRONICLE_DATABASE_URL"  # read by adapters.config like any setting

RESTART_DELAY = 2.0  # seconds before a worker that exited is started again
STOP_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def worker_command(argv: Sequence[str]) -> list[str]:
    """The command line of another worker: the same arguments, one process, sharing the ports.
    argparse keeps the last occurrence of an option. The database URL, which may hold the
    embedded database's secret, goes in the environment (DATABASE_URL_VARIABLE), which other
    local accounts cannot read, unlike a command line."""
    return [sys.executable, "-m", "adapters.cli", *argv, "--workers", "1", "--shared-ports"]


class WorkerProcesses:
    def __init__(self, command: Sequence[str], count: int, database_url: str) -> None:
        self.command = list(command)
        self.count = count
        self.environment = {**os.environ, DATABASE_URL_VARIABLE: database_url}
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for index in range(self.count):
            self._spawn(index)
        self._thread = threading.Thread(target=self._watch, name="workers", daemon=True)
        self._thread.start()

    def _spawn(self, index: int) -> None:
        process = subprocess.Popen(self.command, env=self.environment, preexec_fn=_die_with_parent)
        self._processes[index] = process
        log.info("worker %d started (pid %d)", index + 2, process.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(RESTART_DELAY):
            for index, process in enumerate(self._processes):
                if (
                    process is not None
                    and process.poll() is not None
                    and not self._stopping.is_set()
                ):
                    log.error(
                        "worker %d exited with %s: starting it again", index + 2, process.returncode
                    )
                    self._spawn(index)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)
        running = [p for p in self._processes if p is not None and p.poll() is None]
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
