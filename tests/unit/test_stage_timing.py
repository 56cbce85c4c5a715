"""Per-ingest stage timings (adapters.stage_timing): one JSON line per recorded ingest."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from adapters import stage_timing


@pytest.fixture
def timing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[ModuleType, Path]]:
    path = tmp_path / "stages.jsonl"
    monkeypatch.setenv(stage_timing.ENVIRONMENT_VARIABLE, str(path))
    yield importlib.reload(stage_timing), path
    monkeypatch.delenv(stage_timing.ENVIRONMENT_VARIABLE)
    importlib.reload(stage_timing)


def test_an_ingest_writes_its_stages_and_total(timing: tuple[ModuleType, Path]) -> None:
    module, path = timing
    with module.ingest("rest"):
        with module.stage("parse"):
            pass
        with module.stage("file"):
            pass
        with module.stage("file"):  # a stage met twice adds up
            pass
        module.add("receive", 0.25)
    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert record["surface"] == "rest"
    assert set(record) == {"surface", "parse", "file", "receive", "total"}
    assert record["receive"] == 0.25
    assert record["total"] >= record["parse"] + record["file"]


def test_stages_outside_an_ingest_record_nothing(timing: tuple[ModuleType, Path]) -> None:
    module, path = timing
    with module.stage("parse"):
        pass
    module.add("receive", 1.0)
    assert not path.exists()
