"""What refusing malformed files costs the server: CPU seconds per rejected MB, per server.

    python -m tests.bench.rejections [--orthanc] [--count N]

Inputs, the same for every server: `--count` broken files made from corpus files by
tests.support.mutations with a fixed seed (truncations, flipped bytes, huge lengths, bogus VRs,
random bodies, deep nesting, corrupt deflate streams), kept only if Chronicle's structure check
refuses them; then 5 bodies of 20 MB of zero bytes. Each is posted once to POST /instances by
one client. The server's CPU time (user + system, from /proc) is read before and after each
request. Chronicle runs as `chronicle serve` (embedded PostgreSQL, which a refusal never reaches);
with `--orthanc` a real Orthanc (Debian's 1.10.1) gets the same inputs in the same run. A server
that crashes is counted and started again; the input it crashed on counts in neither its MB nor
its CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.bench.common import (
    ChronicleServer,
    OrthancServer,
    Server,
    isolate_if_comparing,
    machine_summary,
    table,
)
from tests.support.corpus import CORPUS
from tests.support.mutations import mutate

SEED = 1000
ZEROS = 20 * 1024 * 1024
ZERO_BODIES = 5
SEED_FILES = (
    "ColorTestMalaterre.dcm",
    "MarekLatin2.dcm",
    "SignedCT.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.1.99.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.4.50.dcm",
)


@dataclass
class Outcome:
    server: str
    case: str
    megabytes: float = 0.0
    cpu_seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    crashes: int = 0

    @property
    def ms_per_mb(self) -> float:
        return 1000 * self.cpu_seconds / self.megabytes if self.megabytes else 0.0


def malformed_files(count: int) -> list[bytes]:
    """`count` seeded mutations that Chronicle's check refuses (so: malformed by its rules)."""
    from domain.dicom_files import InvalidDicomFile
    from domain.instance_record import read_received

    rng = random.Random(SEED)
    seeds = [(CORPUS / name).read_bytes() for name in SEED_FILES]
    files: list[bytes] = []
    while len(files) < count:
        _kind, data = mutate(rng.choice(seeds), rng)
        try:
            read_received(data)
        except InvalidDicomFile:
            files.append(data)
    return files


def cpu_seconds(server: Server) -> float | None:
    """User + system CPU time of the server's process, or None if it is gone."""
    process = getattr(server, "process", None)
    if process is None or process.poll() is not None:
        return None
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / _clock_ticks()


def _clock_ticks() -> int:
    import os

    return os.sysconf("SC_CLK_TCK")


def post_all(server: Server, case: str, bodies: Sequence[bytes]) -> Outcome:
    outcome = Outcome(server.name, case)
    client = httpx.Client(base_url=server.url, timeout=300)
    try:
        for body in bodies:
            before = cpu_seconds(server)
            try:
                outcome.statuses[str(client.post("/instances", content=body).status_code)] += 1
            except httpx.TransportError:
                outcome.statuses["no answer (crash)"] += 1
                outcome.crashes += 1
                client.close()
                _restart(server)
                client = httpx.Client(base_url=server.url, timeout=300)
                continue
            after = cpu_seconds(server)
            if before is not None and after is not None:
                outcome.cpu_seconds += after - before
                outcome.megabytes += len(body) / 1e6
    finally:
        client.close()
    return outcome


def _restart(server: Server) -> None:
    print(f"  {server.name} stopped answering: starting it again", file=sys.stderr)
    server.stop()
    server.start()  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.rejections", description=__doc__)
    parser.add_argument("--orthanc", action="store_true", help="also run Orthanc 1.10.1")
    parser.add_argument("--count", type=int, default=1000, help="malformed files (default 1000)")
    args = parser.parse_args(argv)
    isolated_run = isolate_if_comparing("tests.bench.rejections", args, argv)
    if isolated_run is not None:
        return isolated_run
    print(f"rejections benchmark: {machine_summary()}", file=sys.stderr)
    cases = {
        f"{args.count} malformed files": malformed_files(args.count),
        f"{ZERO_BODIES} x 20 MB of zero bytes": [bytes(ZEROS)] * ZERO_BODIES,
    }
    outcomes: list[Outcome] = []
    with contextlib.ExitStack() as stack:
        servers: list[Server] = [stack.enter_context(ChronicleServer()).start()]
        if args.orthanc:
            servers.append(stack.enter_context(OrthancServer()).start())
        for case, bodies in cases.items():
            for server in servers:
                print(f"  {server.name}: {case}…", file=sys.stderr)
                outcomes.append(post_all(server, case, bodies))
    print(f"Refusing malformed uploads (POST /instances, 1 client): {machine_summary()}")
    print()
    rows = [
        (
            o.case,
            o.server,
            f"{o.megabytes:.1f}",
            f"{o.cpu_seconds:.2f}",
            f"{o.ms_per_mb:.0f}",
            ", ".join(f"{status} x{n}" for status, n in sorted(o.statuses.items())),
            o.crashes,
        )
        for o in outcomes
    ]
    headers = ("inputs", "server", "MB", "server CPU s", "CPU ms/MB", "answers", "crashes")
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
