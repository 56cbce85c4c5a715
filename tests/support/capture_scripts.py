"""The Orthanc capture scripts of tests/fixtures/orthanc/, loaded as modules: their builders
rebuild, byte for byte, the files whose answers they captured."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "orthanc"


@functools.cache
def capture_script(name: str) -> ModuleType:
    """`name`: "capture", "capture_find", …; the script must be there (a missing fixture is
    a failure, not a skip)."""
    spec = importlib.util.spec_from_file_location(f"orthanc_{name}", CAPTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
