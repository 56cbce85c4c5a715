"""The `chronicle` command line as an operator runs it: a child process of this checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def chronicle(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `chronicle ARGS…`; `password`: what is typed at its prompt (or given on stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        cwd=ROOT,
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        timeout=600,
    )
