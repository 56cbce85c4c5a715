"""Anonymization throughput: POST /studies/{id}/anonymize and /instances/{id}/anonymize.

    python -m tests.bench.anonymization [--orthanc] [--count N] [--time-limit S]

One study of N small CT files (about 9 KB each; 200 by default) is uploaded, then anonymized
as a whole 3 times (a synchronous job each time, storing N new instances: instances/s is N
over the call's wall time), and its instances are anonymized one by one for a fixed number
of calls (the answer is the file, nothing is stored: p50 and p95 latency). With `--orthanc` the
same runs against a real Orthanc 1.10.1 in the same run, and the ratios follow.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from tests.bench.common import (
    ChronicleServer,
    OrthancServer,
    Server,
    bench_arguments,
    is_chronicle,
    isolate_if_comparing,
    machine_summary,
    table,
)
from tests.support.dicom_factory import make_series

STUDY_ROUNDS = 3
INSTANCE_CALLS = 200


@dataclass
class Figures:
    server: str
    study_rates: list[float]
    instance_ms: list[float]

    @property
    def study_rate(self) -> float:
        return statistics.median(self.study_rates)

    def instance_percentile(self, share: float) -> float:
        ordered = sorted(self.instance_ms)
        return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def upload(client: httpx.Client, files: Sequence[bytes]) -> tuple[str, list[str]]:
    study, instances = "", []
    for data in files:
        answer = client.post("/instances", content=data)
        answer.raise_for_status()
        study = answer.json()["ParentStudy"]
        instances.append(answer.json()["ID"])
    return study, instances


def measure(server: Server, files: Sequence[bytes]) -> Figures:
    with httpx.Client(base_url=server.url, timeout=600) as client:
        print(f"  {server.name}: uploading {len(files)} files…", file=sys.stderr)
        study, instances = upload(client, files)
        rates = []
        for _ in range(STUDY_ROUNDS):
            began = time.perf_counter()
            answer = client.post(f"/studies/{study}/anonymize", content=b"{}")
            answer.raise_for_status()
            rates.append(len(files) / (time.perf_counter() - began))
            client.delete(f"/patients/{answer.json()['PatientID']}").raise_for_status()
        latencies = []
        for call in range(INSTANCE_CALLS):
            began = time.perf_counter()
            path = f"/instances/{instances[call % len(instances)]}/anonymize"
            answer = client.post(path, content=b"{}")
            answer.raise_for_status()
            latencies.append(1000 * (time.perf_counter() - began))
    return Figures(server.name, rates, latencies)


def report(figures: Sequence[Figures], compare: bool) -> None:
    rows = [
        (
            f.server,
            f.study_rate,
            f.instance_percentile(0.5),
            f.instance_percentile(0.95),
        )
        for f in figures
    ]
    headers = ("server", "study anonymize inst/s", "instance p50 ms", "instance p95 ms")
    print(table(headers, rows))
    if not compare:
        return
    orthanc = next((f for f in figures if f.server == "orthanc"), None)
    if orthanc is None:
        return
    ratios = [
        (
            f.study_rate / orthanc.study_rate,
            orthanc.instance_percentile(0.5) / f.instance_percentile(0.5),
        )
        for f in figures
        if is_chronicle(f.server)
    ]
    print()
    print(table(("study inst/s chronicle/orthanc", "instance p50 orthanc/chronicle"), ratios))


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_arguments(
        "tests.bench.anonymization", __doc__, argv, 200, "unused", 600, "anonymize"
    )
    isolated_run = isolate_if_comparing("tests.bench.anonymization", args, argv)
    if isolated_run is not None:
        return isolated_run
    print(f"anonymization benchmark: {machine_summary()}", file=sys.stderr)
    files = make_series(args.count, "ANON-BENCH")
    figures = []
    with contextlib.ExitStack() as stack:
        servers: list[Server] = [stack.enter_context(ChronicleServer()).start()]
        if args.orthanc:
            servers.append(stack.enter_context(OrthancServer()).start())
        for server in servers:
            figures.append(measure(server, files))
    print()
    print(f"Anonymization: {machine_summary()}")
    print(
        f"one study of {len(files)} files; the study anonymized {STUDY_ROUNDS} times (median), "
        f"{INSTANCE_CALLS} single-instance anonymizations (ratios: >1 is faster)"
    )
    print()
    report(figures, args.orthanc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
