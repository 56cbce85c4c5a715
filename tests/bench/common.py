"""What the benchmarks share: servers they start and always stop, isolation, tables."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[2]
ORTHANC_BINARY = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
NETNS_FLAG = "CHRONICLE_BENCH_IN_NETNS"
STABLE_AGE = 3600  # keeps Stable* bookkeeping out of the measured window, on both servers
CHRONICLE_COMMAND = (sys.executable, "-m", "adapters.cli")  # run with cwd=REPO
LOG_TAIL = 4000

_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int) -> Callable[[], None]:
    def setup() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)

    return setup


# ------------------------------------------------------------------------------------------
# Isolation: Orthanc 1.10.1 always binds 0.0.0.0, so it only ever runs in a private network
# namespace whose only interface is loopback (as tests/fixtures/orthanc/capture.py does).
# ------------------------------------------------------------------------------------------
def in_private_netns() -> bool:
    return os.environ.get(NETNS_FLAG) == "1"


def reexec_in_private_netns(module: str, argv: Sequence[str]) -> int:
    """Runs `python -m module argv…` in a new network namespace; returns its exit code."""
    unshare = shutil.which("unshare")
    if not unshare:
        sys.exit("refusing to run Orthanc: 'unshare' is needed to keep it on loopback")
    command = [unshare, "--net"]
    if os.geteuid() != 0:
        command.append("--map-root-user")
    command += ["--", sys.executable, "-m", module, *argv]
    env = dict(os.environ, **{NETNS_FLAG: "1"})
    child = subprocess.Popen(
        command, env=env, cwd=REPO, preexec_fn=_die_with_parent(signal.SIGTERM)
    )
    try:
        return child.wait()
    finally:
        _terminate(child, timeout=60)  # interrupted: the child stops its servers and cleans up


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that servers are stopped and temporary files removed."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def bring_up_loopback_only() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        sys.exit(f"refusing to run Orthanc: the namespace has interfaces {interfaces}")


# ------------------------------------------------------------------------------------------
# Servers
# ------------------------------------------------------------------------------------------
class Server:
    name = "server"
    url = ""
    log_path: Path
    log_tail = ""  # the end of the server's log, kept when its directory is removed

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        raise NotImplementedError

    def _keep_log_tail(self) -> None:
        if self.log_path.exists():
            self.log_tail = self.log_path.read_text(errors="replace")[-LOG_TAIL:]


def _wait_ready(
    url: str,
    process: subprocess.Popen[bytes],
    log: Path,
    timeout: float,
    verify: ssl.SSLContext | bool = True,
) -> None:
    """Until the server answers (401 included: authentication on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-LOG_TAIL:] if log.exists() else ""
            raise RuntimeError(f"server exited early (code {process.returncode}):\n{tail}")
        try:
            if httpx.get(f"{url}/system", timeout=1, verify=verify).status_code in (200, 401):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not answer within {timeout}s")


def _terminate(process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def stop_embedded_postgres(pgdata: Path) -> None:
    """Stops a PostgreSQL left running on `pgdata` (only if its server crashed)."""
    from adapters.embedded_postgres import EmbeddedPostgres, Postmaster

    info = Postmaster.read(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return

    print(f"note: stopping a PostgreSQL left running on {pgdata}", file=sys.stderr)
    leftover = EmbeddedPostgres(pgdata, owner=True)
    leftover.start()
    leftover.stop()


class ChronicleServer(Server):
    """`chronicle serve` with its own temporary data directory and embedded PostgreSQL."""

    name = "chronicle"

    def __init__(
        self, data_dir: Path | None = None, stable_age: float = STABLE_AGE, workers: int = 1
    ) -> None:
        self.workers = workers
        self.name = "chronicle" if workers == 1 else f"chronicle {workers}w"
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="chronicle-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stable_age = stable_age
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.verify: ssl.SSLContext | bool = True  # how clients check its HTTPS certificate

    def extra_arguments(self) -> list[str]:
        """More `chronicle serve` arguments, for subclasses."""
        return []

    def start(self, timeout: float = 120) -> ChronicleServer:
        # `chronicle serve` from this checkout: the code beside these benchmarks is what runs.
        command = [
            *CHRONICLE_COMMAND,
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--http-port",
            str(self.port),
            "--stable-age",
            str(self.stable_age),
            "--workers",
            str(self.workers),
            *self.extra_arguments(),
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                # SIGTERM, not SIGKILL: the server then stops its embedded PostgreSQL itself.
                preexec_fn=_die_with_parent(signal.SIGTERM),
            )
        try:
            _wait_ready(self.url, self.process, self.log_path, timeout, self.verify)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            _terminate(self.process)
            stop_embedded_postgres(self.data_dir / "pg")
            self._keep_log_tail()
        finally:
            if self._own_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)


class OrthancServer(Server):
    """A real Orthanc with a temporary configuration and storage; only inside a private netns."""

    name = "orthanc"

    def __init__(self, stable_age: float = STABLE_AGE) -> None:
        if not in_private_netns():
            raise RuntimeError("Orthanc only runs inside the benchmark's private network namespace")
        self.workdir = Path(tempfile.mkdtemp(prefix="orthanc-bench-"))
        self.port = free_port()
        self.dicom_port = free_port()
        while self.dicom_port == self.port:
            self.dicom_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stable_age = stable_age
        self.log_path = self.workdir / "orthanc.log"
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> dict[str, object]:
        return {
            "Name": "ChronicleBench",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "index"),
            "TemporaryDirectory": str(self.workdir / "tmp"),
            "HttpServerEnabled": True,
            "HttpPort": self.port,
            "DicomServerEnabled": True,
            "DicomPort": self.dicom_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "RegisteredUsers": {},
            "SslEnabled": False,
            "StableAge": self.stable_age,
            "Plugins": [],
            "LuaScripts": [],
            "DicomModalities": {},
            "OrthancPeers": {},
            "HttpProxy": "",
            "WebDavEnabled": False,
            "SaveJobs": False,
        }

    def version(self) -> str:
        return str(httpx.get(f"{self.url}/system", timeout=5).json().get("Version"))

    def start(self, timeout: float = 60) -> OrthancServer:
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        config = self.workdir / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=2))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [ORTHANC_BINARY, str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                preexec_fn=_die_with_parent(signal.SIGKILL),
            )
        try:
            _wait_ready(self.url, self.process, self.log_path, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            _terminate(self.process)
            self._keep_log_tail()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------
def machine_summary() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"commit {commit or '?'}{' (modified)' if dirty else ''}"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            value.ljust(width) if i == 0 else value.rjust(width)
            for i, (value, width) in enumerate(zip(row, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def bench_arguments(
    module: str,
    description: str | None,
    argv: Sequence[str] | None,
    count: int,
    large: str,
    time_limit: float,
    action: str,
) -> argparse.Namespace:
    """The options every load benchmark takes: --orthanc, --count, --large-count, --time-limit."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orthanc", action="store_true", help="also run against Orthanc 1.10.1")
    parser.add_argument(
        "--workers",
        type=_worker_counts,
        default=[1],
        help="Chronicle's `serve --workers` values, each a server of its own (default 1; e.g. 1,2)",
    )
    parser.add_argument(
        "--count", type=int, default=count, help=f"instances per small-file case (default {count})"
    )
    parser.add_argument("--large-count", type=int, help=f"instances of 512x512 (default: {large})")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=time_limit,
        help=f"seconds after which a case starts no new {action} (default {time_limit:g})",
    )
    return parser.parse_args(argv)


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of worker counts: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"not a list of worker counts: {text!r}")
    return counts


def is_chronicle(server_name: str) -> bool:
    return server_name.startswith("chronicle")


def isolate_if_comparing(
    module: str, args: argparse.Namespace, argv: Sequence[str] | None
) -> int | None:
    """With --orthanc, reruns the benchmark in a loopback-only network namespace (Orthanc binds
    every interface); returns that run's exit code, or None to go on in this process."""
    exit_on_sigterm()
    if args.orthanc and not in_private_netns():
        return reexec_in_private_netns(module, list(sys.argv[1:] if argv is None else argv))
    if in_private_netns():
        bring_up_loopback_only()
    return None
