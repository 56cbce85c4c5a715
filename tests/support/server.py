"""Runs `chronicle serve` as a real process on a free loopback port, as users run it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port free now and never handed out before in this process: the kernel may
    offer a just-released port again, and two servers of one test (HTTP and DICOM) collided."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def upload_accepted(client: httpx.Client, data: bytes) -> dict[str, str]:
    """POSTs one DICOM file, which must be accepted; its /instances answer."""
    answer = client.post("/instances", content=data)
    assert answer.status_code == 200, answer.text
    body: dict[str, str] = answer.json()
    return body


class ChronicleProcess:
    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        *extra: str,
        stable_age: float = 3600,
        ca_file: Path | None = None,
        client_certificate: tuple[Path, Path] | None = None,
    ):
        """`database_url` None: the server runs its embedded PostgreSQL in `data_dir`.
        `ca_file`: the server speaks HTTPS, with a certificate this CA signed; clients then
        present `client_certificate` (certificate, key) if given."""
        self.ca_file = ca_file
        self.client_certificate = client_certificate
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra = list(extra)
        self.stable_age = stable_age
        self.port = free_port()
        self.dicom_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        scheme = "https" if self.ca_file else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> httpx.Client:
        if self.ca_file:
            context = ssl.create_default_context(cafile=str(self.ca_file))
            if self.client_certificate:
                context.load_cert_chain(*map(str, self.client_certificate))
            kwargs.setdefault("verify", context)
        kwargs.setdefault("timeout", 60)
        return httpx.Client(base_url=self.url, **kwargs)  # type: ignore[arg-type]

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "adapters.cli",
            "serve",
            "--data-dir",
            str(self.data_dir),
            *(["--database-url", self.database_url] if self.database_url else []),
            "--http-port",
            str(self.port),
            "--stable-age",
            str(self.stable_age),
            *([] if "--dicom-port" in self.extra else ["--dicom-port", str(self.dicom_port)]),
            *self.extra,
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2]
        )
        log.close()
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()  # a server that never answered must not outlive its test
            raise

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                # 401: up, with authentication on.
                with self.client(timeout=1) as client:
                    ready = client.get("/system").status_code in (200, 401)
                if ready:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def __enter__(self) -> ChronicleProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def rebuild(self, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`chronicle rebuild` of this server's archive (every read model), run beside it."""
        return subprocess.run(
            [sys.executable, "-m", "adapters.cli", "rebuild", "--data-dir", str(self.data_dir),
             *(["--database-url", self.database_url] if self.database_url else [])],
            cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def stored_files(self) -> set[Path]:
        """Every file in the storage area (temporary files, dot-prefixed, left out)."""
        storage = self.data_dir / "storage"
        return {
            path for path in storage.rglob("*") if path.is_file() and not path.name.startswith(".")
        }

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
