"""Where one ingest's time goes, stage by stage: REST (1 client) and C-STORE (1 association).

    python -m tests.bench.stages [--count N]

Chronicle runs as `chronicle serve` (embedded PostgreSQL, fresh data directory) with
CHRONICLE_STAGE_TIMINGS set, so that every ingest writes the seconds of each of its stages
(adapters/stage_timing.py). The same small files as tests.bench.ingest (64x64 16-bit CT, about
9 KB, series of 50) are posted by one httpx client and then sent over one pynetdicom
association. Printed per surface, p50 and p95 of:

- receive: REST only, from the request handed over by uvicorn until its body is all in;
- dataset: C-STORE only, pynetdicom joining the received fragments into the file's bytes;
- parse: the header read, tags and identifiers;
- file: writing the file to the storage area with its fsyncs;
- append: the event appended and committed (group commit included), of which
- inline read models: the hierarchy and changes read models projecting it in that transaction;
- read models: waiting until the hierarchy and changes read models have the event;
- handler rest: REST only, the rest of the handler (thread hand-off, answer body);
- answer: REST only, from the handler's return to the answer sent;
- server total, and what the client measured (the difference is the HTTP or DICOM stack and
  the network on both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from pydicom.uid import CTImageStorage

from adapters.stage_timing import ENVIRONMENT_VARIABLE
from tests.bench.common import machine_summary, percentile, table
from tests.bench.dicom import ChronicleDicomServer, association, write_files
from tests.bench.ingest import generate

STAGES = {
    "rest": (
        "receive",
        "parse",
        "file",
        "append",
        "inline read models",
        "read models",
        "handler rest",
        "answer",
    ),
    "dicom": ("dataset", "parse", "file", "append", "inline read models", "read models"),
}
WARMUP = 50


def post(url: str, files: Sequence[bytes]) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, headers={"Content-Type": "application/dicom"}) as client:
        for data in files:
            began = time.perf_counter()
            response = client.post("/instances", content=data)
            latencies.append(time.perf_counter() - began)
            response.raise_for_status()
    return latencies


def store(server: ChronicleDicomServer, paths: Sequence[Path]) -> list[float]:
    latencies = []
    with association(server, CTImageStorage) as assoc:
        for path in paths:
            began = time.perf_counter()
            status = assoc.send_c_store(path)
            latencies.append(time.perf_counter() - began)
            if getattr(status, "Status", None) != 0:
                raise RuntimeError(f"C-STORE of {path.name} failed: {status}")
    return latencies


def records(path: Path, surface: str, skip: int) -> list[dict[str, float]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    chosen = [line for line in lines if line.pop("surface") == surface][skip:]
    for record in chosen:
        if surface == "rest":
            inner = sum(record.get(s, 0.0) for s in ("parse", "file", "append", "read models"))
            record["handler rest"] = record.pop("handler", 0.0) - inner
    return chosen


def rows(surface: str, timings: list[dict[str, float]], client: list[float]) -> list[tuple]:
    def figures(values: list[float]) -> tuple[float, float]:
        return 1000 * (percentile(values, 0.5) or 0), 1000 * (percentile(values, 0.95) or 0)

    result = [(surface, s, *figures([t.get(s, 0.0) for t in timings])) for s in STAGES[surface]]
    result.append((surface, "server total", *figures([t["total"] for t in timings])))
    result.append((surface, "client measured", *figures(client)))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.bench.stages", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="files per surface")
    args = parser.parse_args(argv)
    print(f"stage benchmark: {machine_summary()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="chronicle-stages-") as scratch:
        timings = Path(scratch) / "stages.jsonl"
        rest_files = generate(WARMUP + args.count, 64, "rest")
        dicom_paths = write_files(
            Path(scratch) / "files", "dicom", generate(WARMUP + args.count, 64, "dicom")
        )
        os.environ[ENVIRONMENT_VARIABLE] = str(timings)  # inherited by the server only
        try:
            with ChronicleDicomServer() as server:
                server.start()
                rest_client = post(server.url, rest_files)[WARMUP:]
                dicom_client = store(server, dicom_paths)[WARMUP:]
        finally:
            os.environ.pop(ENVIRONMENT_VARIABLE, None)
        report = rows("rest", records(timings, "rest", WARMUP), rest_client)
        report += rows("dicom", records(timings, "dicom", WARMUP), dicom_client)
    print(f"\nIngest stages, 1 client / 1 association, {args.count} files of ~9 KB each")
    print(table(("surface", "stage", "p50 ms", "p95 ms"), report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
