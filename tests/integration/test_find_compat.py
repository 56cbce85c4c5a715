"""/tools/find and /tools/lookup against a real Orthanc's answers.

`tests/fixtures/orthanc/find_cases.json` holds what Orthanc 1.10.1 answered to 865 requests
(captured by `capture_find.py` from the files its `dataset()` builds). Here the same files
go to a real `chronicle serve` and every request is replayed: status and body must be
Orthanc's, except for what varies between servers (LastUpdate, FileUuid, IsStable: Orthanc's
capture waited for stability) and the documented differences below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.capture_scripts import capture_script
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "orthanc"
CAPTURED = json.loads((FIXTURES / "find_cases.json").read_text())
CASES: list[dict[str, Any]] = CAPTURED["cases"]
# What varies between servers, and Labels: Orthanc 1.12's field, which 1.10.1 does not have.
VARYING = ("LastUpdate", "FileUuid", "IsStable", "Labels")

# Where Chronicle answers differently on purpose: the case, why, and Chronicle's status.
CLIENT_MISTAKES = {  # Orthanc answers these with a 500 or reads past broken JSON
    "expand_string": 400,
    "paging_Instance_limit_huge": 200,  # a 64-bit Limit is a limit
    "error_query_list": 400,
    "error_query_string": 400,
    "error_json_trailing_garbage": 400,
    "error_json_comment": 400,
    # Orthanc 1.11 reads RequestedTags (1.10.1 ignores it): a list of tag names
    "requested_tags_string": 400,
    "requested_tags_numbers": 400,
    "error_requested_tags_object": 400,
    "requested_tags_unknown": 500,  # Orthanc's status for an unknown tag
    # Orthanc's sscanf reads "0010,0010x", "10,10" and three groups as tags
    "tag_Patient_0010,0010,0010_x": 500,
    "tag_Patient_three_groups_match": 500,
    "tag_Patient_trailing_char": 500,
    "tag_Patient_short_hex": 500,
}
# Orthanc's "?" matches one byte of UTF-8, never a non-ASCII character; Chronicle's, one
# character.
ONE_CHARACTER = {
    name
    for name in (case["name"] for case in CASES)
    if name.startswith(("multibyte_", "accent_PatientName_M?ller"))
    and "?" in json.dumps(next(c for c in CASES if c["name"] == name)["request"])
}
# Instances keep no empty value of attributes that are not main tags (Orthanc reads them from
# the file): a range that admits an empty ContentDate finds one instance fewer.
EMPTY_VALUES_NOT_KEPT = {"absent_Instance_ContentDate_-20200101"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, postgres: Any) -> Iterator[httpx.Client]:
    url = fresh_database(postgres, "chronicle_find_compat")
    process = ChronicleProcess(tmp_path_factory.mktemp("find") / "data", url)
    process.start()
    try:
        with process.client() as client:
            files = dict(capture_script("capture_find").dataset())
            for name in CAPTURED["dataset"]:
                answer = client.post("/instances", content=files[name])
                assert answer.status_code == CAPTURED["uploads"][name]["status"], name
            yield client
    finally:
        process.stop()


def _normalised(body: Any, drop_requested: bool = False) -> Any:
    """`drop_requested`: RequestedTags (Orthanc 1.11, which 1.10.1 ignores) left out."""
    dropped = (*VARYING, "RequestedTags") if drop_requested else VARYING
    if isinstance(body, list):
        return [_normalised(item, drop_requested) for item in body]
    if isinstance(body, dict):
        return {k: _normalised(v, drop_requested) for k, v in body.items() if k not in dropped}
    return body


def _assert_paged(archive: httpx.Client, case: dict[str, Any], answer: list[str]) -> None:
    """Orthanc 1.10.1 pages studies found by ModalitiesInStudy wrongly (Since applied after
    Limit); Chronicle's page is the slice of the whole answer (whose order the modalities_*
    cases compare with Orthanc's)."""
    request = dict(case["request"])
    since, limit = request.pop("Since", 0), request.pop("Limit", 0)
    whole = archive.post("/tools/find", json=request).json()
    assert answer == whole[since : since + limit if limit else None]


def _request_body(case: dict[str, Any]) -> bytes | None:
    if case["request_kind"] == "json":
        return json.dumps(case["request"], ensure_ascii=False).encode("utf-8")
    return None if case["request"] is None else case["request"].encode("utf-8")


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_answers_as_orthanc(archive: httpx.Client, case: dict[str, Any]) -> None:
    headers = {"Content-Type": case["content_type"]} if case["content_type"] else {}
    answer = archive.request(
        case["method"], case["path"], content=_request_body(case), headers=headers
    )
    name = case["name"]
    if name in CLIENT_MISTAKES:
        assert answer.status_code == CLIENT_MISTAKES[name], answer.text
        return
    if name in ONE_CHARACTER or name in EMPTY_VALUES_NOT_KEPT:
        assert answer.status_code == 200
        return
    if name.startswith("paging_Study_modalities"):
        _assert_paged(archive, case, answer.json())
        return
    assert answer.status_code == case["status"]
    if case["body_kind"] == "json":
        body = answer.json()
        if case["status"] >= 400:
            assert {k: body.get(k) for k in case["body"]} == case["body"]
        else:
            asked = isinstance(case["request"], dict) and "RequestedTags" in case["request"]
            assert _normalised(body, drop_requested=asked) == _normalised(case["body"])
    else:
        assert case["body_kind"] == "empty" and not answer.content
