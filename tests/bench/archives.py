"""Study archive download: GET /studies/{id}/archive throughput and the server's memory.

    python -m tests.bench.archives [--orthanc] [--count N] [--time-limit S]

One study of N distinct 512x512 16-bit CT files (about 525 KB each; 400 by default, about
210 MB) is uploaded, then its ZIP archive is downloaded by 1 client (3 times) and by 4
clients at once (each downloading it once). Reported: MB/s (the bytes of the DICOM
files archived, summed over the clients, over the wall time; the ZIP's size is shown too:
the generated pixels deflate well), the time to the first byte, and the
growth of the server process's resident memory during the downloads (sampled every 20 ms,
against its size just before). With `--orthanc` the same runs against a real Orthanc 1.10.1
in the same run, and the ratios follow.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

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

REPEATS = 3
CLIENTS = (1, 4)


@dataclass
class Download:
    server: str
    clients: int
    archive_mb: float = 0.0
    seconds: float = 0.0
    first_byte_ms: list[float] = field(default_factory=list)
    rss_growth_mb: float = 0.0
    errors: int = 0
    dicom_mb: float = 0.0  # the DICOM files' bytes archived, over every download

    @property
    def rate(self) -> float:
        """DICOM MB archived per second: what the archive holds, however well it deflates."""
        return self.dicom_mb / self.seconds if self.seconds else 0.0


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler:
    """The largest resident size of a process while running."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = resident_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, resident_mb(self.pid))

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def upload(server: Server, files: Sequence[bytes]) -> str:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        study = ""
        for data in files:
            answer = client.post("/instances", content=data)
            answer.raise_for_status()
            study = answer.json()["ParentStudy"]
    return study


def download_once(url: str, outcome: Download, lock: threading.Lock) -> None:
    began = time.perf_counter()
    received = 0
    first = None
    try:
        with httpx.stream("GET", url, timeout=600) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_raw():
                if first is None:
                    first = time.perf_counter() - began
                received += len(chunk)
    except httpx.HTTPError:
        with lock:
            outcome.errors += 1
        return
    with lock:
        outcome.archive_mb += received / 1e6
        outcome.first_byte_ms.append(1000 * (first or 0.0))


def measure(server: Server, pid: int, study: str, clients: int, study_mb: float) -> Download:
    print(f"  {server.name}: archive x{clients}…", file=sys.stderr)
    outcome = Download(server.name, clients)
    url = f"{server.url}/studies/{study}/archive"
    lock = threading.Lock()
    before = resident_mb(pid)
    rounds = REPEATS if clients == 1 else 1
    with MemorySampler(pid) as memory:
        began = time.perf_counter()
        for _ in range(rounds):
            threads = [
                threading.Thread(target=download_once, args=(url, outcome, lock))
                for _ in range(clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        outcome.seconds = time.perf_counter() - began
    outcome.rss_growth_mb = memory.peak - before
    outcome.dicom_mb = study_mb * (rounds * clients - outcome.errors)
    return outcome


def report(downloads: Sequence[Download], compare: bool) -> None:
    rows = [
        (
            d.server,
            d.clients,
            d.errors,
            d.dicom_mb,
            d.archive_mb,
            d.seconds,
            d.rate,
            sorted(d.first_byte_ms)[len(d.first_byte_ms) // 2] if d.first_byte_ms else None,
            d.rss_growth_mb,
        )
        for d in downloads
    ]
    headers = ("server", "clients", "errors", "DICOM MB", "ZIP MB", "s", "DICOM MB/s")
    headers += ("first byte ms", "RSS +MB")
    print(table(headers, rows))
    if not compare:
        return
    by_key = {(d.server, d.clients): d for d in downloads}
    ratios = []
    for d in downloads:
        other = by_key.get(("orthanc", d.clients))
        if is_chronicle(d.server) and other is not None and other.rate:
            ratios.append((d.clients, d.rate, other.rate, d.rate / other.rate))
    print()
    headers = ("clients", "chronicle DICOM MB/s", "orthanc DICOM MB/s", "chronicle/orthanc")
    print(table(headers, ratios))


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_arguments("tests.bench.archives", __doc__, argv, 400, "unused", 600, "download")
    isolated_run = isolate_if_comparing("tests.bench.archives", args, argv)
    if isolated_run is not None:
        return isolated_run
    print(f"archives benchmark: {machine_summary()}", file=sys.stderr)
    files = make_series(args.count, "ARCHIVE-BENCH", size=512)
    study_mb = sum(map(len, files)) / 1e6
    downloads: list[Download] = []
    with contextlib.ExitStack() as stack:
        servers: list[Server] = [stack.enter_context(ChronicleServer()).start()]
        if args.orthanc:
            servers.append(stack.enter_context(OrthancServer()).start())
        for server in servers:
            print(f"  {server.name}: uploading {len(files)} files…", file=sys.stderr)
            study = upload(server, files)
            pid = server.process.pid  # type: ignore[attr-defined]
            downloads += [measure(server, pid, study, c, study_mb) for c in CLIENTS]
    print()
    print(f"Study archive download: {machine_summary()}")
    print(f"one study of {len(files)} files of 512x512 CT ({study_mb:.0f} MB of DICOM); "
          f"1 client {REPEATS} times, 4 clients once each")  # fmt: skip
    print()
    report(downloads, args.orthanc)
    return 1 if any(d.errors for d in downloads) else 0


if __name__ == "__main__":
    sys.exit(main())
