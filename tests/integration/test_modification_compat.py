"""/modify and /anonymize through HTTP: the answers Orthanc 1.10.1 gave to the same requests
on the same files (tests/fixtures/orthanc/modification_cases.json, captured by
capture_modification.py) replayed against Chronicle and recorded with the capture's own
record(): the modified files element by element (new UIDs, the anonymized PatientID and name
labelled, see tests/support/dicom_comparison.py), the errors, and for study, series and
patient requests the job's answer, the instances it stored and their metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.database import DatabaseAddress
from tests.support.capture_scripts import CAPTURES, capture_script
from tests.support.dicom_comparison import without_group_lengths
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess, upload_accepted

CASES = json.loads((CAPTURES / "modification_cases.json").read_text())["cases"]
modification = capture_script("capture_modification")


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    """A server holding the capture's files, and nothing else."""
    url = fresh_database(postgres, f"chronicle_test_modification_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("modification") / "data", url)
    with server, server.client() as client:
        for data in modification.files().values():
            upload_accepted(client, data)
        yield server


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(map(str, case["request"])))
def test_modification_answers_as_orthanc(stored: ChronicleProcess, case: dict[str, Any]) -> None:
    with stored.client() as client:
        answer = modification.record(client, *case["request"])
    if case["error"] is not None:  # Orthanc 1.10.1 sends its JSON errors without a type
        assert answer.pop("content_type") == "application/json"
        case = {key: value for key, value in case.items() if key != "content_type"}
    elif case["json"] is not None:  # Chronicle's JSON names no charset: UTF-8 is JSON's own
        assert answer.pop("content_type") == "application/json"
        assert case.pop("content_type") == "application/json; charset=utf-8"
    assert without_group_lengths(answer) == without_group_lengths(case)
