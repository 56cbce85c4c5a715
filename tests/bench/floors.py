"""What the fixed stack costs before Chronicle does any work, beside Orthanc's whole ingest.

    python -m tests.bench.floors [--orthanc] [--count N]

Each floor is one piece an ingest cannot skip, measured on its own with nothing of Chronicle's
code in it, the same small files (64x64 16-bit CT, about 9 KB) and the same clients as
tests/bench/ingest.py and tests/bench/dicom.py:

- HTTP: POST /instances to a Litestar app under uvicorn (httptools, uvloop, as `chronicle
  serve` runs it) whose handler reads the body and answers a small JSON, nothing else;
- parse: pydicom reads the file from its bytes and converts the top-level elements;
- file: the bytes written to a new file, fsync of the file and of its directory;
- commit: one INSERT of a 2 KB row and its COMMIT on the embedded PostgreSQL (synchronous
  commit, as the event store's appends);
- DIMSE: C-STORE to a pynetdicom SCP (with Chronicle's event-driven reactor waits) whose
  handler answers Success at once.

The HTTP and DIMSE floors run in a server process of their own (`--floor-server`), as a server
would. With `--orthanc` a real Orthanc's whole REST upload and C-STORE are measured in the same
run, and Chronicle's too, so the table shows each floor sum against both.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from pydicom import dcmread

from tests.bench.common import (
    REPO,
    Server,
    _die_with_parent,
    _terminate,
    _wait_ready,
    isolate_if_comparing,
    machine_summary,
    table,
)
from tests.bench.dicom import (
    ChronicleDicomServer,
    OrthancDicomServer,
    StoreOutcome,
    generate_case,
    store_all,
)
from tests.bench.ingest import Case, generate, post_all
from tests.support.server import free_port

FLOOR_AET = "FLOOR"
ROW_BYTES = 2048  # about one stored-instance event with its tags
WARMUP = 30
CLIENTS = 8
ASSOCIATIONS = 4
READY_LINE = "floor server bound"


class FloorServer(Server):
    """`python -m tests.bench.floors --floor-server`: the empty HTTP handler and C-STORE SCP."""

    name = "floor"
    aet = FLOOR_AET

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes
        self.name = "floor" if processes == 1 else f"floor {processes}p"
        self.port = free_port()
        self.dicom_port = free_port()
        while self.dicom_port == self.port:
            self.dicom_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="floor-server-", suffix=".log")[1])
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> FloorServer:
        module = (sys.executable, "-m", "tests.bench.floors")
        command = [*module, "--floor-server", str(self.port), str(self.dicom_port)]
        with open(self.log_path, "wb") as log:
            for _ in range(self.processes):
                process = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=REPO,
                    preexec_fn=_die_with_parent(signal.SIGTERM),
                )
                self.started.append(process)
        self._wait_bound(60)
        _wait_ready(self.url, self.started[0], self.log_path, 60)
        return self

    def _wait_bound(self, timeout: float) -> None:
        """Until every process has bound both ports (each says so in the log)."""
        deadline = time.monotonic() + timeout
        while self.log_path.read_text().count(READY_LINE) < self.processes:
            if any(process.poll() is not None for process in self.started):
                raise RuntimeError(f"a floor server exited:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"floor servers not bound within {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        try:
            for process in self.started:
                _terminate(process)
            self._keep_log_tail()
        finally:
            self.log_path.unlink(missing_ok=True)


def run_floor_server(http_port: int, dicom_port: int) -> None:
    """The server side of the HTTP and DIMSE floors: no storage, no database."""
    import uvicorn
    from litestar import Litestar, Request, get, post
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
    from pynetdicom import AE, evt

    from adapters.dicom import reactor
    from adapters.dicom.scp import SharedPortServer
    from adapters.server import shared_socket

    @post("/instances", status_code=200)
    async def upload(request: Request) -> dict[str, str]:  # type: ignore[type-arg]
        await request.body()
        return {"Status": "Success", "ID": "0", "Path": "/instances/0"}

    @get("/system")
    async def system() -> dict[str, str]:
        return {"Name": "floor"}

    reactor.install()
    ae = AE(ae_title=FLOOR_AET)
    ae.add_supported_context(CTImageStorage, ExplicitVRLittleEndian)
    handlers = [(evt.EVT_C_STORE, lambda event: 0x0000)]
    # Shared ports, as `chronicle serve --workers N` listens: the processes of a floor share them.
    scp = ae.make_server(
        ("127.0.0.1", dicom_port), evt_handlers=handlers, server_class=SharedPortServer
    )
    threading.Thread(target=scp.serve_forever, daemon=True).start()
    http_socket = shared_socket("127.0.0.1", http_port)
    print(READY_LINE, os.getpid(), flush=True)
    config = uvicorn.Config(
        Litestar(route_handlers=[upload, system]),
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="uvloop",
    )
    uvicorn.Server(config).run(sockets=[http_socket])


def timed(action: Callable[[int], object], count: int) -> list[float]:
    """Seconds per call of `action(i)` for i in range(count), after WARMUP unmeasured calls."""
    for i in range(WARMUP):
        action(i)
    seconds = []
    for i in range(count):
        began = time.perf_counter()
        action(i)
        seconds.append(time.perf_counter() - began)
    return seconds


def parse_floor(files: Sequence[bytes]) -> list[float]:
    def parse(i: int) -> None:
        dataset = dcmread(io.BytesIO(files[i % len(files)]))
        for _element in dataset:
            pass

    return timed(parse, len(files))


def file_floor(files: Sequence[bytes], directory: Path) -> list[float]:
    def write(i: int) -> None:
        path = directory / f"{i:06d}-{uuid.uuid4().hex}.dcm"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, files[i % len(files)])
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        directory_descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_descriptor)
        finally:
            os.close(directory_descriptor)

    return timed(write, len(files))


def commit_floor(count: int, data_dir: Path) -> list[float]:
    from adapters.embedded_postgres import EmbeddedPostgres

    postgres = EmbeddedPostgres(data_dir / "pg", owner=True)
    address = postgres.start()
    try:
        with psycopg.connect(address.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE floor_rows (id bigserial PRIMARY KEY, body bytea)")
            row = os.urandom(ROW_BYTES)

            def commit(i: int) -> None:
                with conn.transaction():
                    conn.execute("INSERT INTO floor_rows (body) VALUES (%s)", (row,))

            return timed(commit, count)
    finally:
        postgres.stop()


def upload_latencies(server: Server, files: list[bytes]) -> list[float]:
    post_all(server, Case("warm-up", 64, 1, files[:WARMUP]), 60)
    outcome = post_all(server, Case("measured", 64, 1, files[WARMUP:]), 120)
    if outcome.errors:
        raise RuntimeError(f"{server.name}: {outcome.errors} uploads failed: {outcome.first_error}")
    return outcome.latencies


def upload_rate(server: Server, count: int) -> float:
    """Uploads per second from CLIENTS parallel clients."""
    outcome = post_all(server, Case("parallel", 64, CLIENTS, generate(count, 64, server.name)), 120)
    if outcome.errors:
        raise RuntimeError(f"{server.name}: {outcome.errors} uploads failed: {outcome.first_error}")
    return outcome.rate


def store_latencies(server: Server, directory: Path, count: int) -> list[float]:
    warm = generate_case(directory / f"{server.name}-warm", "warm-up", 1, WARMUP, 64)
    store_all(server, warm, 60)
    case = generate_case(directory / f"{server.name}-1", "measured", 1, count, 64)
    return _stored(server, store_all(server, case, 120)).latencies


def store_rate(server: Server, directory: Path, count: int) -> float:
    """C-STOREs per second over ASSOCIATIONS parallel associations."""
    case = generate_case(directory / f"{server.name}-n", "parallel", ASSOCIATIONS, count, 64)
    return _stored(server, store_all(server, case, 120)).rate


def _stored(server: Server, outcome: StoreOutcome) -> StoreOutcome:
    if outcome.errors:
        raise RuntimeError(f"{server.name}: {outcome.errors} stores failed: {outcome.first_error}")
    return outcome


def p50_ms(seconds: Sequence[float]) -> float:
    return 1000 * statistics.median(seconds)


@dataclass
class Figures:
    """One server's figures: p50 ms of one client/association, rates of parallel ones."""

    upload_ms: float
    store_ms: float
    upload_rate: float
    store_rate: float


def measure(server: Server, directory: Path, count: int, single: bool = True) -> Figures:
    print(f"  {server.name}…", file=sys.stderr)
    upload = p50_ms(upload_latencies(server, generate(count + WARMUP, 64, f"1-{server.name}")))
    store = p50_ms(store_latencies(server, directory, count)) if single else 0.0
    return Figures(upload, store, upload_rate(server, count), store_rate(server, directory, count))


def local_floors(count: int, directory: Path) -> list[tuple[str, float]]:
    files = generate(count + WARMUP, 64, "floor")
    (directory / "files").mkdir()
    return [
        ("parse: pydicom dcmread", p50_ms(parse_floor(files))),
        ("file: write + fsync file + fsync dir", p50_ms(file_floor(files, directory / "files"))),
        ("commit: INSERT 2 KB + COMMIT", p50_ms(commit_floor(count, directory))),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.floors", description=__doc__)
    parser.add_argument("--orthanc", action="store_true", help="also run Orthanc and Chronicle")
    parser.add_argument("--count", type=int, default=500, help="measured calls per floor")
    parser.add_argument("--floor-server", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_server:
        run_floor_server(*args.floor_server)
        return 0
    isolated_run = isolate_if_comparing("tests.bench.floors", args, argv)
    if isolated_run is not None:
        return isolated_run
    print(f"floors: {machine_summary()}", file=sys.stderr)
    figures: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="chronicle-floors-") as scratch:
        work = Path(scratch)
        pieces = local_floors(args.count, work)
        for processes in (1, 2):
            with FloorServer(processes).start() as floor:
                figures[floor.name] = measure(floor, work / "dicom", args.count, processes == 1)
        if args.orthanc:
            for server_class, workers in ((ChronicleDicomServer, 1), (ChronicleDicomServer, 2)):
                with server_class(workers=workers).start() as server:
                    figures[server.name] = measure(server, work / "dicom", args.count)
            with OrthancDicomServer().start() as orthanc:
                figures[orthanc.name] = measure(orthanc, work / "dicom", args.count)
    report(pieces, figures, args.count)
    return 0


def report(pieces: list[tuple[str, float]], figures: dict[str, Figures], count: int) -> None:
    floor = figures["floor"]
    rows = [("HTTP: POST to an empty handler", floor.upload_ms), *pieces]
    print(f"floors: {machine_summary()}; {count} measured calls each")
    print()
    rest_sum = sum(ms for _label, ms in rows)
    print(table(("REST ingest, 1 client: piece", "p50 ms"), [*rows, ("sum", rest_sum)]))
    print()
    dimse = [("DIMSE: C-STORE to a no-op SCP, 1 association", floor.store_ms)]
    print(table(("C-STORE: piece", "p50 ms"), dimse))
    print()
    headers = (
        "server",
        "REST 1 client p50 ms",
        "C-STORE 1 assoc p50 ms",
        f"REST {CLIENTS} clients /s",
        f"C-STORE {ASSOCIATIONS} assoc /s",
    )
    rows_out = [
        (name, f.upload_ms, f.store_ms or "-", f.upload_rate, f.store_rate)
        for name, f in figures.items()
    ]
    print(table(headers, rows_out))
    print("(floor: the no-op HTTP handler and SCP; 'floor 2p': two such processes on shared ports)")


if __name__ == "__main__":
    sys.exit(main())
