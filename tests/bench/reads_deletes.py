"""File downloads and study deletes over REST, 1 client.

    python -m tests.bench.reads_deletes [--orthanc] [--count N] [--time-limit S]

Each server first receives `--studies` studies of 50 small instances (64x64 16-bit CT, about
9 KB, tests.support.dicom_factory, posted to /instances). Then one httpx client:
1. downloads `--count` instances with GET /instances/{id}/file, in a fixed shuffled order
   (every answer's bytes must be the file sent);
2. deletes every study with DELETE /studies/{id} (afterwards /statistics must count 0).

Chronicle runs as `chronicle serve` on a fresh data directory with its embedded PostgreSQL; with
`--orthanc` the same files go to a real Orthanc (Debian's 1.10.1, default storage settings) in
the same run, both in a private network namespace, and a second table gives the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from tests.bench.common import (
    ChronicleServer,
    OrthancServer,
    Server,
    is_chronicle,
    isolate_if_comparing,
    machine_summary,
    percentile,
    table,
)
from tests.bench.ingest import generate

SERIES_LENGTH = 50


@dataclass
class Outcome:
    server: str
    case: str
    done: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def populate(client: httpx.Client, files: Sequence[bytes]) -> tuple[dict[str, bytes], list[str]]:
    """Posts the files; returns the instance IDs with their bytes, and the study IDs."""
    instances: dict[str, bytes] = {}
    studies: list[str] = []
    for data in files:
        response = client.post(
            "/instances", content=data, headers={"Content-Type": "application/dicom"}
        )
        response.raise_for_status()
        body = response.json()
        instances[body["ID"]] = data
        if body["ParentStudy"] not in studies:
            studies.append(body["ParentStudy"])
    return instances, studies


def timed(
    server: Server, case: str, calls: Sequence[tuple[str, str, bytes | None]], limit: float
) -> Outcome:
    """(method, path, expected body or None) per call, one after the other."""
    outcome = Outcome(server.name, case)
    with httpx.Client(base_url=server.url, timeout=300) as client:
        client.get("/system")
        began = time.perf_counter()
        for method, path, expected in calls:
            if time.perf_counter() - began > limit:
                break
            start = time.perf_counter()
            response = client.request(method, path)
            outcome.latencies.append(time.perf_counter() - start)
            problem = "" if response.status_code == 200 else f"HTTP {response.status_code}"
            if not problem and expected is not None and response.content != expected:
                problem = "the downloaded bytes differ from the file sent"
            if problem:
                outcome.errors += 1
                outcome.first_error = outcome.first_error or f"{path}: {problem}"
            else:
                outcome.done += 1
        outcome.seconds = time.perf_counter() - began
    return outcome


def run(server: Server, files: Sequence[bytes], count: int, limit: float) -> list[Outcome]:
    with httpx.Client(base_url=server.url, timeout=300) as client:
        instances, studies = populate(client, files)
    order = list(instances)
    random.Random(7).shuffle(order)
    downloads = [("GET", f"/instances/{i}/file", instances[i]) for i in order[:count]]
    print(f"  {server.name}: {len(downloads)} downloads…", file=sys.stderr)
    download = timed(server, "GET /instances/{id}/file", downloads, limit)
    print(f"  {server.name}: {len(studies)} study deletes…", file=sys.stderr)
    deletes = [("DELETE", f"/studies/{study}", None) for study in studies]
    delete = timed(server, f"DELETE /studies/{{id}} ({SERIES_LENGTH} instances)", deletes, 1e9)
    left = httpx.get(f"{server.url}/statistics", timeout=60).json()["CountInstances"]
    if left:
        delete.first_error = delete.first_error or f"{left} instances left after the deletes"
        delete.errors += 1
    return [download, delete]


def report(outcomes: Sequence[Outcome], compare: bool) -> None:
    rows = [
        (
            o.case,
            o.server,
            o.done,
            o.errors,
            o.rate,
            1000 * (percentile(o.latencies, 0.5) or 0),
            1000 * (percentile(o.latencies, 0.95) or 0),
        )
        for o in outcomes
    ]
    print(table(("case", "server", "done", "errors", "per s", "p50 ms", "p95 ms"), rows))
    for o in outcomes:
        if o.first_error:
            print(f"! {o.server} {o.case}: first error: {o.first_error}")
    if not compare:
        return
    by_key = {(o.server, o.case): o for o in outcomes}
    ratios = []
    for o in outcomes:
        other = by_key.get(("orthanc", o.case))
        if is_chronicle(o.server) and other is not None and other.rate:
            ratios.append((o.case, o.rate, other.rate, o.rate / other.rate))
    print()
    print(table(("case", "chronicle per s", "orthanc per s", "chronicle/orthanc"), ratios))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.reads_deletes", description=__doc__
    )
    parser.add_argument("--orthanc", action="store_true", help="also run against Orthanc 1.10.1")
    parser.add_argument("--count", type=int, default=1000, help="downloads (default 1000)")
    parser.add_argument("--studies", type=int, default=20, help="studies (default 20)")
    parser.add_argument("--time-limit", type=float, default=45, help="seconds of downloads")
    args = parser.parse_args(argv)
    isolated_run = isolate_if_comparing("tests.bench.reads_deletes", args, argv)
    if isolated_run is not None:
        return isolated_run
    print(f"reads and deletes benchmark: {machine_summary()}", file=sys.stderr)
    files = generate(args.studies * SERIES_LENGTH, 64, "reads")
    outcomes: list[Outcome] = []
    with contextlib.ExitStack() as stack:
        servers: list[Server] = [stack.enter_context(ChronicleServer()).start()]
        if args.orthanc:
            servers.append(stack.enter_context(OrthancServer()).start())
        for server in servers:
            outcomes += run(server, files, args.count, args.time_limit)
    print(f"\nREST downloads and deletes, 1 client: {machine_summary()}")
    print(f"{args.studies} studies of {SERIES_LENGTH} instances of ~9 KB each\n")
    report(outcomes, args.orthanc)
    return 1 if any(o.errors for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
