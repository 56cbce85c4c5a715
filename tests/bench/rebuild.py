"""Replaying the log: live catch-up, `chronicle rebuild`, and a poller scanning /changes.

    python -m tests.bench.rebuild [--instances N] [--size S] [--clients C]

1. Ingests N distinct small instances in-process (ChronicleNode with its workers off and the
   inline projection of appends off, so only events are appended: the read models stay
   empty), on a fresh data directory with the embedded PostgreSQL.
2. Live catch-up: times `runner.catch_up_fully()` processing that backlog from position 0,
   the way a server does after start-up or after falling behind (all projections together,
   batches of adapters.consumers.runner.BATCH_SIZE).
3. Rebuild: times adapters.rebuild.rebuild() (what `chronicle rebuild` runs) per projection,
   replaying the whole log into a fresh schema and swapping it in.
4. Serves the data directory with `chronicle serve`, then a client pages through all of
   GET /changes with since/limit (limit 100, then 1000), as an auto-routing script does.
5. Runs the `chronicle rebuild` command end to end while that server keeps serving, and checks
   that /changes reads the same afterwards (same Seq values).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.bench.common import (
    CHRONICLE_COMMAND,
    REPO,
    STABLE_AGE,
    ChronicleServer,
    exit_on_sigterm,
    machine_summary,
    stop_embedded_postgres,
    table,
)
from tests.bench.ingest import SERIES_LENGTH, generate

PAGE_SIZES = (100, 1000)
INGEST_CHUNK = 1000  # files generated at a time (a multiple of the series length)


@dataclass
class Timing:
    label: str
    events: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class TimedProjection:
    """Wraps a projection to add up the time spent in its apply()."""

    def __init__(self, projection: Any) -> None:
        self.projection = projection
        self.name = projection.name
        self.seconds = 0.0

    def apply(self, conn: psycopg.Connection, batch: Sequence[Any]) -> None:
        began = time.perf_counter()
        self.projection.apply(conn, batch)
        self.seconds += time.perf_counter() - began


def ingest(node: Any, count: int, size: int, clients: int) -> float:
    """Ingests `count` new instances; returns the seconds spent ingesting (not generating)."""
    from domain.origin import Channel, Origin

    origin = Origin(Channel.CLI)
    seconds = 0.0
    with ThreadPoolExecutor(clients) as pool:
        for first in range(0, count, INGEST_CHUNK):
            files = generate(min(INGEST_CHUNK, count - first), size, f"rebuild{first}")
            began = time.perf_counter()
            for result in pool.map(lambda data: node.ingestor.ingest(data, origin), files):
                if result.status.value != "Success":
                    raise RuntimeError(f"ingest answered {result.status}")
            seconds += time.perf_counter() - began
    return seconds


def head_position(node: Any) -> int:
    return int(node.archive.recorder.max_notification_id() or 0)


def live_catch_up(node: Any, events: int) -> list[Timing]:
    """Each read model's runner catches up on the whole backlog, one after the other."""
    from adapters.consumers.runner import BATCH_SIZE

    runners = list(node.consumers.read_models.values())
    timed = [TimedProjection(runner.model) for runner in runners]
    for runner, wrapper in zip(runners, timed, strict=True):
        runner.model = wrapper
    try:
        began = time.perf_counter()
        node.consumers.catch_up_read_models()
        seconds = time.perf_counter() - began
    finally:
        for runner, wrapper in zip(runners, timed, strict=True):
            runner.model = wrapper.projection
    rows = [Timing(f"  {t.name}: time in its apply()", events, t.seconds, "") for t in timed]
    rest = seconds - sum(t.seconds for t in timed)
    rows.append(Timing("  reading the log, transactions, tracking", events, rest, ""))
    total = Timing("live catch-up, all projections", events, seconds, f"batches of {BATCH_SIZE}")
    return [total, *rows]


def rebuild_each(node: Any, events: int) -> list[Timing]:
    from adapters.rebuild import REBUILD_BATCH, rebuild

    rows = []
    models = [runner.model for runner in node.consumers.read_models.values()]
    for projection in models:
        with node.db.connection() as conn:
            began = time.perf_counter()
            replayed = rebuild(node.consumers.reader, conn, [projection], None)
            seconds = time.perf_counter() - began
        note = "" if replayed == events else f"replayed {replayed} of {events} events"
        rows.append(Timing(f"  rebuild {projection.name} alone", replayed, seconds, note))
    with node.db.connection() as conn:
        began = time.perf_counter()
        replayed = rebuild(node.consumers.reader, conn, models, None)
        seconds = time.perf_counter() - began
    total = Timing(
        "rebuild, every projection in one pass",
        replayed,
        seconds,
        f"batches of {REBUILD_BATCH}; events/s of the log",
    )
    return [total, *rows]


def scan_changes(url: str, limit: int) -> tuple[float, int, int, list[int]]:
    """Pages through /changes; returns (seconds, requests, changes, seqs)."""
    seqs: list[int] = []
    requests = 0
    since = 0
    with httpx.Client(base_url=url, timeout=120) as client:
        client.get("/system")
        began = time.perf_counter()
        while True:
            page = client.get("/changes", params={"since": since, "limit": limit})
            page.raise_for_status()
            body = page.json()
            requests += 1
            seqs.extend(change["Seq"] for change in body["Changes"])
            since = body["Last"]
            if body["Done"]:
                break
        seconds = time.perf_counter() - began
    return seconds, requests, len(seqs), seqs


def scan_row(label: str, requests: int, count: int, seconds: float) -> tuple[object, ...]:
    return (label, requests, count, seconds, count / seconds, 1000 * seconds / requests)


def run_cli_rebuild(data_dir: Path) -> tuple[float, int, str]:
    began = time.perf_counter()
    done = subprocess.run(
        [*CHRONICLE_COMMAND, "rebuild", "--data-dir", str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return time.perf_counter() - began, done.returncode, (done.stdout + done.stderr)[-2000:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.rebuild",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--instances", type=int, default=3000, help="instances (default 3000)")
    parser.add_argument("--size", type=int, default=64, help="image rows/columns (default 64)")
    parser.add_argument(
        "--clients", type=int, default=4, help="threads ingesting in-process (default 4)"
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()

    from adapters.config import Settings
    from adapters.node import ChronicleNode

    began = time.perf_counter()
    print(f"rebuild benchmark: {machine_summary()}", file=sys.stderr)
    data_dir = Path(tempfile.mkdtemp(prefix="chronicle-bench-rebuild-"))
    timings: list[Timing] = []
    scans = []
    notes: list[str] = []
    try:
        settings = Settings(data_dir=data_dir, stable_age=STABLE_AGE)
        node = ChronicleNode(settings, owns_database=True)
        try:
            node.start(workers=False)
            node.archive.recorder.follow_inline([])  # type: ignore[attr-defined]
            print(f"  ingesting {args.instances} instances…", file=sys.stderr)
            seconds = ingest(node, args.instances, args.size, args.clients)
            events = head_position(node)
            timings.append(
                Timing(
                    "ingest in-process (appends only)",
                    args.instances,
                    seconds,
                    f"{args.clients} threads; rate in instances/s",
                )
            )
            print("  live catch-up…", file=sys.stderr)
            timings += live_catch_up(node, events)
            print("  rebuilds…", file=sys.stderr)
            timings += rebuild_each(node, events)
        finally:
            node.close()

        print("  serving, scanning /changes…", file=sys.stderr)
        with ChronicleServer(data_dir) as server:
            server.start()
            for limit in PAGE_SIZES:
                seconds, requests, count, seqs = scan_changes(server.url, limit)
                scans.append(scan_row(f"limit={limit}", requests, count, seconds))
                if limit == PAGE_SIZES[0]:
                    reference = seqs
                elif seqs != reference:
                    notes.append(f"! limit={limit} saw other Seq values than limit={PAGE_SIZES[0]}")
            if any(b <= a for a, b in itertools.pairwise(reference)):
                notes.append("! Seq values are not strictly increasing")
            print("  `chronicle rebuild` while serving…", file=sys.stderr)
            seconds, code, output = run_cli_rebuild(data_dir)
            if code != 0:
                notes.append(f"! chronicle rebuild exited {code}: {output}")
            timings.append(
                Timing(
                    "`chronicle rebuild` command, end to end",
                    events,
                    seconds,
                    "all projections, server running; includes start-up",
                )
            )
            seconds, requests, count, seqs = scan_changes(server.url, PAGE_SIZES[-1])
            label = f"limit={PAGE_SIZES[-1]}, after the rebuild"
            scans.append(scan_row(label, requests, count, seconds))
            same = "same Seq values" if seqs == reference else "Seq values DIFFER"
            notes.append(f"/changes after `chronicle rebuild`: {same} as before")
    finally:
        stop_embedded_postgres(data_dir / "pg")
        shutil.rmtree(data_dir, ignore_errors=True)

    print()
    print(f"Log replay: {machine_summary()}")
    print(
        f"{args.instances} instances of {args.size}x{args.size} (series of {SERIES_LENGTH}), "
        f"{events} events in the log; embedded PostgreSQL"
    )
    print()
    rows = [(t.label, t.events, t.seconds, t.rate, t.note) for t in timings]
    print(table(("step", "events", "s", "events/s", "note"), rows))
    print()
    headers = ("GET /changes, since=0 to the end", "requests", "changes", "s", "changes/s")
    print(table((*headers, "ms/request"), scans))
    for note in notes:
        print(note)
    print(f"\n(total run {time.perf_counter() - began:.0f} s)")
    return 1 if any(note.startswith("!") for note in notes) else 0


if __name__ == "__main__":
    sys.exit(main())
