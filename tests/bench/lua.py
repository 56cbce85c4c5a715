"""The cost of a Lua OnStoredInstance callback on C-STORE ingest.

    python -m tests.bench.lua [--orthanc] [--count N] [--time-limit S]

Each server runs twice on fresh storage: without scripts, then with LuaScripts holding
SCRIPT (an OnStoredInstance that reads the tags and origin, as routing scripts do, and asks the
REST API for the instance's study). The same distinct small files (64x64 CT, about 9 KB) are
sent over one association (tests.bench.dicom's SCU). Reported per run: the C-STORE rate, and
when the script is loaded, how long after the last C-STORE answer the last callback ran (both
servers run callbacks off the C-STORE path, in log or queue order) and the callbacks' rate over
the whole run. Polling `/tools/execute-script` tells how many callbacks ran. With `--orthanc`
the same runs go to a real Orthanc 1.10.1 in the same run, and the ratios follow.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from pynetdicom import _config

from tests.bench.common import Server, bench_arguments, isolate_if_comparing, machine_summary, table
from tests.bench.dicom import (
    WARMUP,
    Case,
    ChronicleDicomServer,
    OrthancDicomServer,
    generate_case,
    store_all,
)

SCRIPT = """
seen = 0
function OnStoredInstance(instanceId, tags, metadata, origin)
  if tags.Modality == "CT" and origin.RequestOrigin == "DicomProtocol" then
    local study = ParseJson(RestApiGet("/instances/" .. instanceId .. "/study"))
    if study ~= nil and study.ID ~= nil then seen = seen + 1 end
  end
end
"""
DRAIN_LIMIT = 600.0  # seconds to wait for the callbacks after the last C-STORE


class ScriptedChronicle(ChronicleDicomServer):
    def __init__(self, script: Path | None) -> None:
        super().__init__()
        self.name = "chronicle + Lua" if script else "chronicle"
        options = json.loads(self.config_path.read_text())
        if script is not None:
            options |= {"LuaScripts": [str(script)], "ExecuteLuaEnabled": True}
        self.config_path.write_text(json.dumps(options))


class ScriptedOrthanc(OrthancDicomServer):
    def __init__(self, script: Path | None) -> None:
        super().__init__()
        self.script = script
        self.name = "orthanc + Lua" if script else "orthanc"

    def config(self) -> dict[str, object]:
        scripts = [str(self.script)] if self.script else []
        return {**super().config(), "LuaScripts": scripts, "ExecuteLuaEnabled": bool(scripts)}


@dataclass
class Run:
    server: str
    stored: int
    errors: int
    store_rate: float
    drain_seconds: float | None = None
    callbacks: int | None = None
    callback_rate: float | None = None
    first_error: str = ""


def callbacks_run(server: Server) -> int:
    answer = httpx.post(f"{server.url}/tools/execute-script", content="print(seen)", timeout=60)
    answer.raise_for_status()
    return int(answer.text.strip())


def _wait_for_callbacks(server: Server, count: int, deadline: float) -> bool:
    while callbacks_run(server) < count:
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.05)
    return True


def measure(server: Server, warmup: Case, case: Case, scripted: bool, limit: float) -> Run:
    print(f"  {server.name}: C-STORE x{case.count}…", file=sys.stderr)
    warmed = store_all(server, warmup, limit).stored
    if scripted and not _wait_for_callbacks(server, warmed, time.perf_counter() + DRAIN_LIMIT):
        raise RuntimeError(f"{server.name}: the warm-up's callbacks did not all run")
    began = time.perf_counter()
    outcome = store_all(server, case, limit)
    stored_at = time.perf_counter()
    run = Run(server.name, outcome.stored, outcome.errors, outcome.rate)
    run.first_error = outcome.first_error
    if not scripted:
        return run
    _wait_for_callbacks(server, warmed + outcome.stored, stored_at + DRAIN_LIMIT)
    finished = time.perf_counter()
    run.callbacks = callbacks_run(server) - warmed
    run.drain_seconds = finished - stored_at
    run.callback_rate = run.callbacks / (finished - began) if finished > began else None
    return run


def report(runs: Sequence[Run], compare: bool) -> None:
    rows = [
        (r.server, r.stored, r.errors, r.store_rate, r.callbacks, r.drain_seconds, r.callback_rate)
        for r in runs
    ]
    headers = ("server", "stored", "errors", "C-STORE inst/s", "callbacks", "drain s", "cb/s")
    print(table(headers, rows))
    for r in runs:
        if r.first_error:
            print(f"! {r.server}: first error: {r.first_error}")
        if r.callbacks is not None and r.callbacks != r.stored:
            print(f"! {r.server}: {r.callbacks} callbacks for {r.stored} stored instances")
    by_name = {r.server: r for r in runs}
    cost_rows = []
    for name in ("chronicle", "orthanc"):
        plain, scripted = by_name.get(name), by_name.get(f"{name} + Lua")
        if plain and scripted and plain.store_rate:
            cost_rows.append((name, plain.store_rate, scripted.store_rate,
                              scripted.store_rate / plain.store_rate))  # fmt: skip
    print()
    print(table(("server", "inst/s", "inst/s + Lua", "with/without Lua"), cost_rows))
    if not compare:
        return
    ratio_rows = []
    for name in ("", " + Lua"):
        mine, theirs = by_name.get(f"chronicle{name}"), by_name.get(f"orthanc{name}")
        if mine and theirs and theirs.store_rate:
            ratio_rows.append((f"C-STORE{name}", mine.store_rate / theirs.store_rate))
    mine, theirs = by_name.get("chronicle + Lua"), by_name.get("orthanc + Lua")
    if mine and theirs and mine.callback_rate and theirs.callback_rate:
        ratio_rows.append(("callbacks/s", mine.callback_rate / theirs.callback_rate))
    print()
    print(table(("case", "chronicle/orthanc"), ratio_rows))


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_arguments("tests.bench.lua", __doc__, argv, 1000, "unused", 120, "send")
    isolated_run = isolate_if_comparing("tests.bench.lua", args, argv)
    if isolated_run is not None:
        return isolated_run
    _config.STORE_SEND_CHUNKED_DATASET = True
    _config.LOG_REQUEST_IDENTIFIERS = _config.LOG_RESPONSE_IDENTIFIERS = False
    print(f"lua benchmark: {machine_summary()}", file=sys.stderr)
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        files = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lua-bench-")))
        script = files / "on-stored.lua"
        script.write_text(SCRIPT)
        makers = [ScriptedChronicle, *([ScriptedOrthanc] if args.orthanc else [])]
        for maker in makers:
            for scripted in (False, True):
                label = f"{maker.__name__}-{scripted}"
                warmup = generate_case(files / label / "warmup", "warm-up", 1, WARMUP, 64)
                case = generate_case(files / label, "small 64x64", 1, args.count, 64)
                server = maker(script if scripted else None).start()
                try:
                    runs.append(measure(server, warmup, case, scripted, args.time_limit))
                finally:
                    server.stop()
    print()
    print(f"Lua OnStoredInstance on C-STORE (1 association): {machine_summary()}")
    print(f"{args.count} distinct 64x64 CT files per run after {WARMUP} warm-up files")
    print(f"script: {' '.join(SCRIPT.split())}")
    print()
    report(runs, args.orthanc)
    failed = any(r.errors or (r.callbacks is not None and r.callbacks != r.stored) for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
