"""/tools/shutdown and /tools/reset: the archive's `chronicle serve` stops, or stops and starts
again with its configuration read anew, as Orthanc does. Any process of the archive may receive
the call; the first process (which owns the others and the embedded database) acts on it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

MAIN_PROCESS_VARIABLE = "CHRONICLE_MAIN_PROCESS"  # the first process's pid, for the others
RESTART_SIGNAL = signal.SIGHUP


class ServeControl:
    """In the first process: what a reset asks of serve()."""

    def __init__(self) -> None:
        self.restart = False
        self._server: Any = None

    def install(self, server: Any) -> None:
        """`server`: the uvicorn server, stopped gracefully on RESTART_SIGNAL."""
        self._server = server
        # The other processes were given the first one's; a restarted one keeps its pid.
        os.environ.setdefault(MAIN_PROCESS_VARIABLE, str(os.getpid()))
        signal.signal(RESTART_SIGNAL, self._restart_requested)

    def _restart_requested(self, signum: int, frame: FrameType | None) -> None:
        self.restart = True
        if self._server is not None:
            self._server.should_exit = True

    def restart_if_asked(self, argv: Sequence[str]) -> None:
        """Once everything has stopped: the same command again, in this process (its pid,
        and so its supervisor's view of it, stay)."""
        if self.restart:
            os.execv(sys.executable, [sys.executable, "-m", "adapters.cli", *argv])


def request_stop(restart: bool) -> bool:
    """Asks the first process to stop (and start again with `restart`); False when this
    process was not started by `chronicle serve`."""
    main = os.environ.get(MAIN_PROCESS_VARIABLE)
    if main is None:
        return False
    os.kill(int(main), RESTART_SIGNAL if restart else signal.SIGTERM)
    return True
