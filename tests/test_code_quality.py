"""The checks a change must pass besides its tests: types (mypy, configured in pyproject.toml)
and ruff's lint and format. Here so that the README's one test command runs them too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_types_check() -> None:
    checked = run("mypy")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_lint_is_clean() -> None:
    checked = run("ruff", "check", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_code_is_formatted() -> None:
    checked = run("ruff", "format", "--check", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr
