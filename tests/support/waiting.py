"""Waiting for something another thread or process does: bounded, never a measure of speed."""

from __future__ import annotations

import time
from collections.abc import Callable

PATIENCE = 60.0  # seconds: a bound for a hung runner or takeover


def eventually(condition: Callable[[], bool], patience: float = PATIENCE) -> bool:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
