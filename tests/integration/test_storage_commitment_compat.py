"""Storage commitment as Orthanc 1.10.1 does it: the scenario of capture_storage_commitment.py
(REST requests and their reports, the store job's StorageCommitment, a modality's N-ACTION and
the N-EVENT-REPORT sent back, reports nobody asked for, bad input) run on Chronicle with the
same pynetdicom modality, and compared case by case with what Orthanc did
(tests/fixtures/orthanc/storage_commitment_cases.json)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.database import DatabaseAddress
from tests.support.capture_scripts import CAPTURES, capture_script
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess

ORTHANC = json.loads((CAPTURES / "storage_commitment_cases.json").read_text())["cases"]
commitment = capture_script("capture_storage_commitment")

# Orthanc aborts the association on an N-ACTION of another action type and on an
# N-EVENT-REPORT of an event type Annex J does not define; Chronicle answers a status saying
# which (0x0123 No such action, 0x0113 No such event type) and keeps the association.
DIFFERENT = {"ask_action_2": 0x0123, "unsolicited_event_3": 0x0113}
# Orthanc lists a study's instances in the order of its index; Chronicle in storage order.
UNORDERED = {"resources_one_missing", "store"}


@pytest.fixture(scope="module")
def chronicle_cases(
    tmp_path_factory: pytest.TempPathFactory, postgres: DatabaseAddress
) -> Iterator[dict[str, Any]]:
    url = fresh_database(postgres, f"chronicle_test_commitment_compat_{os.getpid()}")
    server = ChronicleProcess(tmp_path_factory.mktemp("commitment-compat") / "data", url)
    with server, server.client() as client, commitment.peers() as found:
        commitment._prepare(client, found)
        yield commitment.scenario(client, found, server.dicom_port, "CHRONICLE")


def sorted_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: sorted_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((sorted_lists(item) for item in value), key=json.dumps)
    return value


def test_every_case_was_run(chronicle_cases: dict[str, Any]) -> None:
    assert sorted(chronicle_cases) == sorted(ORTHANC)


@pytest.mark.parametrize("name", sorted(set(ORTHANC) - set(DIFFERENT)))
def test_as_orthanc(chronicle_cases: dict[str, Any], name: str) -> None:
    ours, theirs = chronicle_cases[name], ORTHANC[name]
    if name in UNORDERED:
        ours, theirs = sorted_lists(ours), sorted_lists(theirs)
    assert ours == theirs


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_where_orthanc_aborts_chronicle_answers_a_status(
    chronicle_cases: dict[str, Any], name: str
) -> None:
    assert ORTHANC[name] is None
    assert chronicle_cases[name] == DIFFERENT[name]
