"""/rendered latency for a 512 x 512 image: GET /instances/{id}/rendered (PNG) and with
`Accept: image/jpeg`, and /preview, one client, p50 and p95.

    python -m tests.bench.rendering [--orthanc] [--count N]

The shared corpus's SignedCT (512 x 512, 16-bit signed, uncompressed) is uploaded, then each
route is called N times (200 by default). With `--orthanc` the same runs against a real
Orthanc 1.10.1 in the same run, and the ratios follow.
"""

from __future__ import annotations

import contextlib
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
from tests.support.corpus import corpus_dir

ROUTES = (("rendered", None), ("rendered", "image/jpeg"), ("preview", None))


@dataclass
class Figures:
    server: str
    latencies: dict[str, list[float]]

    def percentile(self, route: str, share: float) -> float:
        ordered = sorted(self.latencies[route])
        return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def _name(route: str, accept: str | None) -> str:
    return route + (" (jpeg)" if accept else "")


def measure(server: Server, data: bytes, calls: int) -> Figures:
    latencies: dict[str, list[float]] = {}
    with httpx.Client(base_url=server.url, timeout=600) as client:
        answer = client.post("/instances", content=data)
        answer.raise_for_status()
        instance = answer.json()["ID"]
        for route, accept in ROUTES:
            headers = {"Accept": accept} if accept else {}
            client.get(f"/instances/{instance}/{route}", headers=headers).raise_for_status()
            measured = []
            for _ in range(calls):
                began = time.perf_counter()
                answer = client.get(f"/instances/{instance}/{route}", headers=headers)
                answer.raise_for_status()
                measured.append(1000 * (time.perf_counter() - began))
            latencies[_name(route, accept)] = measured
    return Figures(server.name, latencies)


def report(figures: Sequence[Figures], compare: bool) -> None:
    names = [_name(route, accept) for route, accept in ROUTES]
    rows = [
        (f.server, name, f.percentile(name, 0.5), f.percentile(name, 0.95))
        for f in figures
        for name in names
    ]
    print(table(("server", "route", "p50 ms", "p95 ms"), rows))
    orthanc = next((f for f in figures if f.server == "orthanc"), None)
    if not compare or orthanc is None:
        return
    ratios = [
        (name, orthanc.percentile(name, 0.5) / f.percentile(name, 0.5))
        for f in figures
        if is_chronicle(f.server)
        for name in names
    ]
    print()
    print(table(("route", "p50 orthanc/chronicle (>1: faster)"), ratios))


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_arguments("tests.bench.rendering", __doc__, argv, 200, "unused", 600, "render")
    isolated_run = isolate_if_comparing("tests.bench.rendering", args, argv)
    if isolated_run is not None:
        return isolated_run
    print(f"rendering benchmark: {machine_summary()}", file=sys.stderr)
    data = (corpus_dir() / "SignedCT.dcm").read_bytes()
    figures = []
    with contextlib.ExitStack() as stack:
        servers: list[Server] = [stack.enter_context(ChronicleServer()).start()]
        if args.orthanc:
            servers.append(stack.enter_context(OrthancServer()).start())
        for server in servers:
            figures.append(measure(server, data, args.count))
    print()
    print(f"Rendering: {machine_summary()}")
    print(f"SignedCT.dcm (512 x 512, 16-bit), {args.count} calls per route, one client")
    print()
    report(figures, args.orthanc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
