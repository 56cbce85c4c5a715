"""/studies/{id}/split and /merge through HTTP: the answers Orthanc 1.10.1 gave to the same
requests on the same files (tests/fixtures/orthanc/restructuring_cases.json, captured by
capture_restructuring.py) replayed against Chronicle and recorded with the capture's own
record(): the job's answer, the studies left afterwards and each new instance element by
element (new UIDs labelled, see tests/support/dicom_comparison.py), and the errors."""

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

CASES = json.loads((CAPTURES / "restructuring_cases.json").read_text())["cases"]
restructuring = capture_script("capture_restructuring")


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[ChronicleProcess]:
    """A server holding the capture's files, and nothing else."""
    url = fresh_database(postgres, f"chronicle_test_restructuring_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("restructuring") / "data", url)
    with server, server.client() as client:
        for data in restructuring.files().values():
            upload_accepted(client, data)
        yield server


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(map(str, case["request"])))
def test_restructuring_answers_as_orthanc(stored: ChronicleProcess, case: dict[str, Any]) -> None:
    with stored.client() as client:
        answer = restructuring.record(client, *case["request"])
    if case["error"] is not None:  # Orthanc 1.10.1 sends its JSON errors without a type
        assert answer.pop("content_type") == "application/json"
        case = {key: value for key, value in case.items() if key != "content_type"}
    elif case["json"] is not None:  # Chronicle's JSON names no charset: UTF-8 is JSON's own
        assert answer.pop("content_type") == "application/json"
        assert case.pop("content_type") == "application/json; charset=utf-8"
    assert without_group_lengths(answer) == without_group_lengths(case)


@pytest.mark.parametrize("verb", ["split", "merge"])
def test_a_body_that_is_not_an_object_is_refused(stored: ChronicleProcess, verb: str) -> None:
    """Orthanc 1.10.1 answers a JSON array here with a 500 (an exception it does not catch);
    Chronicle says what is wrong, and stores and deletes nothing."""
    with stored.client() as client:
        before = sorted(client.get("/instances").json())
        study = restructuring.ids()["ct1_study"]
        answer = client.post(f"/studies/{study}/{verb}", content=b"[]")
        assert (answer.status_code, answer.json()["OrthancStatus"]) == (400, 15)
        assert sorted(client.get("/instances").json()) == before
