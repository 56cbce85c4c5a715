"""REST ingest throughput: POST /instances with 1 and 8 concurrent clients.

    python -m tests.bench.ingest [--orthanc] [--count N] [--large-count M] [--time-limit S]

Each client is a thread with its own httpx connection posting distinct, pre-generated files
(small 64x64 16-bit CT, about 9 KB, and 512x512 16-bit CT, about 525 KB). Chronicle runs as
users run it by default: `chronicle serve` on a fresh data directory with its embedded
PostgreSQL. With `--orthanc` the same files go to a real Orthanc (Debian's 1.10.1, temporary
configuration, default storage settings) in the same run, and a second table gives the ratio
Chronicle/Orthanc per case. Both servers then run in a private network namespace with loopback
only (Orthanc cannot be told to bind to loopback). The clients run on the same machine as the
server and share its cores, the same way for both servers.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from pydicom.uid import generate_uid

from tests.bench.common import (
    STABLE_AGE,
    ChronicleServer,
    OrthancServer,
    Server,
    bench_arguments,
    is_chronicle,
    isolate_if_comparing,
    machine_summary,
    percentile,
    table,
)
from tests.support.dicom_factory import ROOT, make_instance

SIZES = {"small 64x64": 64, "large 512x512": 512}
CLIENTS = (1, 8)
SERIES_LENGTH = 50
WARMUP = {64: 50, 512: 10}


@dataclass
class Case:
    label: str
    size: int
    clients: int
    files: list[bytes]
    count: int = 0
    mean_kb: float = 0.0

    def __post_init__(self) -> None:
        self.count = len(self.files)
        self.mean_kb = sum(map(len, self.files)) / max(1, self.count) / 1024

    def release(self) -> None:
        """Drops the files (the 512x512 ones weigh hundreds of MB), keeping the figures."""
        self.files = []


@dataclass
class Outcome:
    server: str
    case: Case
    stored: int = 0
    errors: int = 0
    seconds: float = 0.0
    sent_bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""
    count_check: str = ""

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.sent_bytes / self.seconds / 1e6 if self.seconds else 0.0


def generate(count: int, size: int, tag: str) -> list[bytes]:
    """`count` distinct instances in series of SERIES_LENGTH, one patient and study per series."""
    files = []
    for first in range(0, count, SERIES_LENGTH):
        patient = f"BENCH-{tag}-{first // SERIES_LENGTH}"
        study, series = generate_uid(ROOT), generate_uid(ROOT)
        for number in range(first, min(count, first + SERIES_LENGTH)):
            files.append(
                make_instance(
                    patient,
                    study,
                    series,
                    patient_name=f"Bench^{tag}",
                    instance_number=number - first + 1,
                    size=size,
                )
            )
    return files


def post_all(server: Server, case: Case, time_limit: float) -> Outcome:
    """Posts the case's files round-robin from its clients; no new post starts after the limit.

    The clock starts once every client has its connection open, and stops when the last
    client has its last answer.
    """
    outcome = Outcome(server=server.name, case=case)
    lock = threading.Lock()
    ready = threading.Barrier(case.clients + 1)
    start_at: list[float] = []
    ends: list[float] = []

    def worker(share: Sequence[bytes]) -> None:
        stored = errors = sent = 0
        latencies: list[float] = []
        first_error = ""
        with httpx.Client(
            base_url=server.url, timeout=300, headers={"Content-Type": "application/dicom"}
        ) as client:
            client.get("/system")  # opens the connection before the clock starts
            ready.wait()
            deadline = start_at[0] + time_limit
            for data in share:
                if time.perf_counter() > deadline:
                    break
                began = time.perf_counter()
                try:
                    response = client.post("/instances", content=data)
                    ok = response.status_code == 200 and response.json().get("Status") in (
                        "Success",
                        "AlreadyStored",
                    )
                    problem = "" if ok else f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, f"{type(exc).__name__}: {exc}"
                latencies.append(time.perf_counter() - began)
                if ok:
                    stored += 1
                    sent += len(data)
                else:
                    errors += 1
                    first_error = first_error or problem
        end = time.perf_counter()
        with lock:
            outcome.stored += stored
            outcome.errors += errors
            outcome.sent_bytes += sent
            outcome.latencies.extend(latencies)
            outcome.first_error = outcome.first_error or first_error
            ends.append(end)

    threads = [
        threading.Thread(
            target=worker, args=(case.files[i :: case.clients],), name=f"client-{i}", daemon=True
        )
        for i in range(case.clients)
    ]
    for thread in threads:
        thread.start()
    start_at.append(time.perf_counter())
    ready.wait()
    for thread in threads:
        thread.join()
    outcome.seconds = max(ends) - start_at[0] if ends else 0.0
    return outcome


def count_instances(url: str) -> int:
    return int(httpx.get(f"{url}/statistics", timeout=60).json()["CountInstances"])


def warm_up(server: Server, warmup: dict[int, list[bytes]], limit: float) -> int:
    """Posts the warm-up files; returns the instance count the server then reports."""
    for size, files in warmup.items():
        post_all(server, Case("warm-up", size, 1, files), limit)
    return count_instances(server.url)


def run_case(server: Server, case: Case, expected_before: int, limit: float) -> Outcome:
    print(f"  {server.name}: {case.label}, {case.clients} client(s)…", file=sys.stderr)
    outcome = post_all(server, case, limit)
    expected = expected_before + outcome.stored
    actual = count_instances(server.url)
    if actual != expected:
        outcome.count_check = f"/statistics counts {actual} instances, expected {expected}"
    return outcome


def case_plan(count: int, large_count: int) -> list[tuple[str, int, int, int]]:
    """(label, size, clients, instances) per case."""
    return [
        (label, size, clients, count if size < 512 else large_count)
        for label, size in SIZES.items()
        for clients in CLIENTS
    ]


def report(outcomes: Sequence[Outcome], compare: bool) -> None:
    rows = [
        (
            o.case.label,
            f"{o.case.mean_kb:.0f} KB",
            o.case.clients,
            o.server,
            f"{o.stored}/{o.case.count}",
            o.errors,
            o.seconds,
            o.rate,
            o.megabytes_per_second,
            1000 * (percentile(o.latencies, 0.5) or 0),
            1000 * (percentile(o.latencies, 0.95) or 0),
        )
        for o in outcomes
    ]
    headers = ("case", "file", "clients", "server", "stored", "errors", "s", "inst/s", "MB/s")
    print(table((*headers, "p50 ms", "p95 ms"), rows))
    for o in outcomes:
        if o.first_error:
            print(f"! {o.server} {o.case.label} x{o.case.clients}: first error: {o.first_error}")
        if o.count_check:
            print(f"! {o.server} {o.case.label} x{o.case.clients}: {o.count_check}")
    if not compare:
        return
    by_key = {(o.server, o.case.label, o.case.clients): o for o in outcomes}
    ratio_rows = []
    for o in outcomes:
        other = by_key.get(("orthanc", o.case.label, o.case.clients))
        if not is_chronicle(o.server) or other is None:
            continue
        ratio = o.rate / other.rate if other.rate else None
        ratio_rows.append((o.case.label, o.case.clients, o.server, o.rate, other.rate, ratio))
    print()
    headers = (
        "case",
        "clients",
        "server",
        "chronicle inst/s",
        "orthanc inst/s",
        "chronicle/orthanc",
    )
    print(table(headers, ratio_rows))


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_arguments("tests.bench.ingest", __doc__, argv, 2000, "count / 5", 45, "post")
    isolated_run = isolate_if_comparing("tests.bench.ingest", args, argv)
    if isolated_run is not None:
        return isolated_run
    large_count = args.large_count or max(CLIENTS[-1], args.count // 5)

    began = time.perf_counter()
    print(f"ingest benchmark: {machine_summary()}", file=sys.stderr)
    warmup = {size: generate(n, size, f"warm{size}") for size, n in WARMUP.items()}
    outcomes: list[Outcome] = []
    orthanc_version = ""
    with contextlib.ExitStack() as stack:
        servers: list[Server] = [
            stack.enter_context(ChronicleServer(workers=workers)).start()
            for workers in args.workers
        ]
        if args.orthanc:
            orthanc = stack.enter_context(OrthancServer())
            servers.append(orthanc.start())
            orthanc_version = orthanc.version()
        expected = {server.name: warm_up(server, warmup, args.time_limit) for server in servers}
        # Each case's files are generated once, posted to every server in turn, then dropped.
        for label, size, clients, count in case_plan(args.count, large_count):
            case = Case(label, size, clients, generate(count, size, f"{size}-{clients}"))
            for server in servers:
                outcome = run_case(server, case, expected[server.name], args.time_limit)
                expected[server.name] += outcome.stored
                outcomes.append(outcome)
            case.release()

    print()
    print(f"REST ingest (POST /instances): {machine_summary()}")
    print(
        "chronicle: `chronicle serve`, embedded PostgreSQL, fresh data directory"
        + (f"; orthanc {orthanc_version}: default storage, SQLite index" if args.orthanc else "")
    )
    print(
        f"StableAge {STABLE_AGE} s; {sum(map(len, warmup.values()))} warm-up files first; "
        f"distinct files per case, series of {SERIES_LENGTH}, posted round-robin by the clients"
    )
    print()
    report(outcomes, args.orthanc)
    for server in servers:
        if any(o.errors and o.server == server.name for o in outcomes):
            print(f"\n--- end of the {server.name} log ---\n{server.log_tail}")
    print(f"\n(total run {time.perf_counter() - began:.0f} s)")
    return 1 if any(o.errors or o.count_check for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
