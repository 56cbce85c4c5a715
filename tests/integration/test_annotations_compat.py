"""Metadata, attachments, protection and the bulk tools against a real Orthanc's answers.

`tests/fixtures/orthanc/annotations_cases.json` holds what Orthanc 1.10.1 answered, in order,
to two sequences of requests (with CheckRevisions off and on), captured by
`capture_annotations.py`. Each sequence is replayed here, in order, against a real
`chronicle serve` configured the same way: status, body and the MD5 part of every ETag must be
Orthanc's. Revisions are Chronicle's own numbers (the Resource aggregate's version at the last
write; Orthanc's SQLite index always says 0), so an If-Match built from an earlier answer's
ETag is rebuilt from Chronicle's answer to that same request.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.runtime_settings import matching_transfer_syntaxes
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "orthanc"
CAPTURED = json.loads((FIXTURES / "annotations_cases.json").read_text())
ROUTES = re.compile(
    r"/(metadata|attachments|protected)(/|$)|^/(patients|studies|series|instances)$"
    r"|^/tools/bulk-(content|delete)$|^/instances/[^/]+/export$|^/series/[^/]+/export$"
    r"|^/tools/?$|^/tools/(nope|default-encoding|accepted-transfer-syntaxes|metrics"
    r"|unknown-sop-class-accepted|metrics-prometheus|log-level(-\w+)?|dicom-conformance"
    r"|invalidate-tags|reconstruct)$|/reconstruct$"
)
# Where the capture wrote exported files; the replay writes under its own temporary directory.
EXPORT_DIRECTORY = re.compile(r"/tmp/orthanc-capture-annot-[\w-]+/export")
ETAG = re.compile(r'"?(\d+)-([0-9a-f]+)"?')
TIME = re.compile(r"\d{8}T\d{6}")
LEVELS = ("patients", "studies", "series", "instances")
NOT_REPLAYED = ("export_relative",)  # it would write into the server's working directory
# Where Chronicle answers differently on purpose: case name pattern -> why.
DIFFERENCES: dict[str, str] = {
    r"md_\w+_(put|get)_2000_binary|md_\w+_list_(expand_after_writes|final_expand\w*)"
    r"|reconstruct_instance_metadata_after": (
        "a metadata value holding NUL is refused (400): PostgreSQL text cannot hold it"
    ),
    r"md_\w+_numeric\w*": "?numeric (Orthanc 1.11) lists numbers; 1.10.1 ignores it",
    r"\w*wrong_level\w*|att_\w+_(unknown|nope)_put_notes|att_series_\w+": (
        "Orthanc 1.10.1 writes to a resource of another level than the path's, and answers "
        "200 for an unknown one; Chronicle answers 404 (and the series keeps no attachment)"
    ),
    r"tools|tools_trailing_slash": "GET /tools lists the tools Chronicle has",
    r"tools_metrics_prometheus(_reenabled)?": (
        "the archive's own counts and sizes (test_runtime_settings checks them), without "
        "Orthanc's request and storage durations"
    ),
}
# The transfer syntaxes both know: Orthanc 1.10.1 also lists retired JPEG and JPIP ones,
# Chronicle (pydicom) also the newer HTJ2K and deflated-image ones.
ORTHANC_SYNTAXES = next(c["body"] for c in CAPTURED["cases"] if c["name"] == "tools_ats")
_CHRONICLE_SYNTAXES = matching_transfer_syntaxes(["*"])


def _cases(config: str) -> list[dict[str, Any]]:
    return [
        case
        for case in CAPTURED["cases"]
        if case["config"] == config
        and ROUTES.search(case["path"])
        and not case["name"].startswith(NOT_REPLAYED)
    ]


def _differs_on_purpose(name: str) -> bool:
    return any(re.fullmatch(pattern, name) for pattern in DIFFERENCES)


@pytest.fixture(params=["revisions_off", "revisions_on"])
def replayed(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: Any
) -> Iterator[tuple[str, httpx.Client, Path]]:
    config = request.param
    options = CAPTURED["configs"][config]
    orthanc_json = tmp_path / "orthanc.json"
    kept = ("UserMetadata", "UserContentType", "CheckRevisions", "RestApiWriteToFileSystemEnabled")
    orthanc_json.write_text(json.dumps({k: options[k] for k in kept}))
    (tmp_path / "export").mkdir()
    url = fresh_database(postgres, f"chronicle_annotations_{config}")
    process = ChronicleProcess(tmp_path / "data", url, "--config", str(orthanc_json))
    process.start()
    try:
        with process.client() as client:
            yield config, client, tmp_path / "export"
    finally:
        process.stop()


def _body(case: dict[str, Any], export_directory: Path | None = None) -> bytes | None:
    body = case["request_body"]
    if body is None:
        return None
    if isinstance(body, dict):
        return base64.b64decode(body["base64"])
    if export_directory is not None and case["path"].endswith("/export"):
        body = EXPORT_DIRECTORY.sub(str(export_directory), str(body))
    return str(body).encode()


def _rebuilt(header: str, transform: str, ours: str) -> str:
    """The If-Match the capture derived from an ETag, derived from Chronicle's ETag instead."""
    match = ETAG.fullmatch(ours)
    assert match is not None, ours
    revision, md5 = int(match.group(1)), match.group(2)
    captured = ETAG.fullmatch(header)
    return {
        "etag": f'"{revision}-{md5}"',
        "unquoted": f"{revision}-{md5}",
        "revision": f"{revision}",
        "revision_quoted": f'"{revision}"',
        "revision_plus1": f"{revision + 1}",
        "revision-wrongmd5": f'"{revision}-{captured.group(2) if captured else "0"}"',
        "revision 7, md5 kept": f'"{revision + 1000}-{md5}"',
    }[transform]


def _md5_of(etag: str | None) -> str | None:
    match = ETAG.fullmatch(etag or "")
    return match.group(2) if match else etag


def _normalised(value: Any, key: str = "") -> Any:
    """Run-dependent values replaced by their key's name; Labels (Orthanc 1.12's field of every
    expanded resource, which 1.10.1 lacks) left out."""
    if isinstance(value, dict):
        return {k: _normalised(v, k) for k, v in value.items() if k != "Labels"}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if key in ("LastUpdate", "ReceptionDate") or key in ("Uuid", "FileUuid"):
        return f"<{key}>"
    return value


def _nul_metadata_left_out(ours: Any, expected: Any, key: str = "") -> tuple[Any, Any]:
    """Both bodies without the metadata to which Orthanc's answer gives a value holding NUL,
    which Chronicle refuses to store (see DIFFERENCES): in /tools/bulk-content's answers."""
    if isinstance(ours, dict) and isinstance(expected, dict):
        if key == "Metadata":
            nul = {k for k, v in expected.items() if isinstance(v, str) and "\0" in v}
            return (
                {k: v for k, v in ours.items() if k not in nul},
                {k: v for k, v in expected.items() if k not in nul},
            )
        pairs = {k: _nul_metadata_left_out(v, expected.get(k), k) for k, v in ours.items()}
        expected = {k: pairs[k][1] if k in pairs else v for k, v in expected.items()}
        return {k: pair[0] for k, pair in pairs.items()}, expected
    if isinstance(ours, list) and isinstance(expected, list) and len(ours) == len(expected):
        items = [_nul_metadata_left_out(a, b) for a, b in zip(ours, expected, strict=True)]
        return [item[0] for item in items], [item[1] for item in items]
    return ours, expected


def _compare(case: dict[str, Any], answer: httpx.Response) -> str | None:
    """What differs, None if nothing."""
    if answer.status_code != case["status"]:
        return f"status {answer.status_code} != {case['status']}: {answer.text[:300]}"
    expected_etag = _md5_of(case["response_headers"].get("etag"))
    timed = "LastUpdate" in case["name"] or "ReceptionDate" in case["name"]  # values vary
    if (
        case["status"] < 400
        and expected_etag
        and not timed
        and _md5_of(answer.headers.get("etag")) != expected_etag
    ):
        return f"ETag {answer.headers.get('etag')} != {case['response_headers'].get('etag')}"
    kind = case["body_kind"]
    if kind == "empty":
        return None if not answer.content else f"body {answer.content[:100]!r}, not empty"
    if kind == "json":
        ours = answer.json()
        expected = dict(case["body"]) if isinstance(case["body"], dict) else case["body"]
        if case["path"] == "/tools/accepted-transfer-syntaxes" and case["status"] == 200:
            ours = [uid for uid in ours if uid in ORTHANC_SYNTAXES]
            expected = [uid for uid in expected if uid in _CHRONICLE_SYNTAXES]
        if case["status"] >= 400:
            if case.get("if_match_from"):  # Details quote the header: Chronicle's revision
                expected.pop("Details", None)
            ours = {k: ours.get(k) for k in expected}
        ours, expected = _nul_metadata_left_out(ours, expected)
        if _normalised(ours) != _normalised(expected):
            return f"body {ours} != {case['body']}"
        return None
    if kind == "text":
        if timed:
            return None if TIME.fullmatch(answer.text) else f"text {answer.text!r}, not a time"
        return None if answer.text == case["body"] else f"text {answer.text!r} != {case['body']!r}"
    return None  # binary bodies: their ETag (MD5) was compared


def test_replays_orthanc(replayed: tuple[str, httpx.Client, Path]) -> None:
    config, client, export_directory = replayed
    etags: dict[str, str] = {}
    mismatches: dict[str, str] = {}
    for case in _cases(config):
        headers = dict(case["request_headers"] or {})
        derived = case.get("if_match_from")
        if derived and derived["case"] in etags:
            name = derived["header"]
            headers[name] = _rebuilt(headers[name], derived["transform"], etags[derived["case"]])
        url = case["path"] + ("?" + case["query"] if case["query"] else "")
        body = _body(case, export_directory)
        answer = client.request(case["method"], url, content=body, headers=headers)
        if "etag" in answer.headers:
            etags[case["name"]] = answer.headers["etag"]
        difference = _compare(case, answer)
        if difference is not None and not _differs_on_purpose(case["name"]):
            mismatches[case["name"]] = difference
    assert mismatches == {}


STATELESS_TOOLS = {"/tools/generate-uid", "/tools/now", "/tools/now-local", "/plugins/foo"}
SHAPES = {
    "patient": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "uid": re.compile(r"[0-9]+(\.[0-9]+){4,}"),
    "time": TIME,
}


def test_stateless_tools_answer_as_orthanc(server: ChronicleProcess) -> None:
    """Status and shape of each answer (values are generated: a UID, a UUID, the time).
    GET /plugins is [] (Orthanc lists its built-in explorer.js)."""
    cases = [c for c in CAPTURED["cases"] if c["path"] in STATELESS_TOOLS]
    assert len(cases) >= 12
    with server.client() as client:
        assert client.get("/plugins").json() == []
        for case in cases:
            url = case["path"] + ("?" + case["query"] if case["query"] else "")
            answer = client.request(case["method"], url)
            assert answer.status_code == case["status"], case["name"]
            if case["status"] != 200:
                assert not answer.content, case["name"]
                continue
            assert answer.headers["content-type"].startswith("text/plain")
            shape = "time" if "now" in case["path"] else "uid"
            shape = "patient" if case["query"] == "level=patient" else shape
            assert SHAPES[shape].fullmatch(answer.text), (case["name"], answer.text)
