"""/series/{id}/ordered-slices and /series/{id}/numpy through HTTP: the answers Orthanc 1.10.1
gave to the same requests on the same series (tests/fixtures/orthanc/slice_cases.json,
captured by capture_slices.py) replayed against Chronicle with the capture's own record():
slices ordered along a tilted normal and an opposite one, by InstanceNumber when two share a
position or none has one, the series that cannot be ordered, and the stacked pixels."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.database import DatabaseAddress
from tests.support.capture_scripts import CAPTURES, capture_script
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, upload_accepted

CASES = json.loads((CAPTURES / "slice_cases.json").read_text())["cases"]
slicing = capture_script("capture_slices")


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    url = fresh_database(postgres, f"chronicle_test_slices_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("slices") / "data", url)
    with server, server.client() as client:
        for data in slicing.files().values():
            upload_accepted(client, data)
        yield server


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["request"][0])
def test_slices_answer_as_orthanc(stored: ChronicleProcess, case: dict[str, Any]) -> None:
    with stored.client() as client:
        answer = slicing.record(client, *case["request"])
    error = answer["error"] or {}
    if case["error"] is not None and "Details" not in case["error"]:
        # Orthanc says only "Bad file format" of a file whose frames are not all there
        assert "bytes present" in error.pop("Details", "bytes present")
    assert answer == case
