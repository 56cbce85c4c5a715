"""`chronicle serve`: one process running HTTP, the projection runner, the watcher and reaper."""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import signal
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import attrs
import uvicorn

from adapters.config import ConfigError, Settings
from adapters.node import ChronicleNode
from adapters.process_control import ServeControl
from adapters.workers import WorkerProcesses, worker_command

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listening_policy(settings: Settings, users: int | None = None) -> None:
    """Beyond loopback only with authentication on and someone to log in (`users`: how many
    may log in, once the database is up; None before)."""
    if is_loopback(settings.http_host):
        return
    if not settings.authentication_enabled:
        raise ConfigError(
            f"refusing to listen on {settings.http_host} without authentication: turn it on "
            "(AuthenticationEnabled, or authentication_enabled = true) and add a user "
            "(`chronicle user add NAME`, or RegisteredUsers), or listen on 127.0.0.1"
        )
    anyone = [
        option
        for option in ("store", "find", "move", "get")
        if getattr(settings, f"dicom_always_allow_{option}")
    ]
    if settings.dicom_enabled and anyone and not settings.dicom_check_called_aet:
        raise ConfigError(
            f"refusing to open the DICOM port on {settings.http_host} to any AE title "
            f"(DicomAlwaysAllow{'/'.join(o.capitalize() for o in anyone)} without "
            "DicomCheckCalledAet): check the called AE title, or allow known modalities only"
        )
    if users == 0:
        raise ConfigError(
            f"refusing to listen on {settings.http_host}: authentication is on but no user can "
            "log in; add one with `chronicle user add NAME` (or RegisteredUsers)"
        )


def https_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options from Orthanc's: the key is in the certificate's PEM file."""
    if not settings.ssl_enabled:
        return {}
    options: dict[str, Any] = {"ssl_certfile": settings.ssl_certificate}
    if settings.ssl_verify_peers:
        options["ssl_ca_certs"] = settings.ssl_trusted_client_certificates
        options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    return options


class DataDirectoryLock:
    """One server per data directory."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._handle = open(data_dir / ".server.lock", "w")  # noqa: SIM115

    def acquire(self) -> None:
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                "another Chronicle server is running on this data directory"
            ) from None

    def release(self) -> None:
        self._handle.close()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(settings: Settings, argv: Sequence[str] = ()) -> None:
    """`argv`: the command's arguments, which the other workers are started with."""
    from api.app import create_asgi_app

    check_listening_policy(settings)
    if settings.workers > 1:
        settings = attrs.evolve(settings, shared_ports=True)
    # With the embedded database, this process owns the data directory; with a database URL,
    # several processes (here or on other machines) may share it.
    lock = DataDirectoryLock(settings.data_dir) if settings.database_url is None else None
    if lock is not None:
        lock.acquire()
    # uvicorn re-raises SIGTERM once it has shut down; turn it into SystemExit so that the
    # workers and the embedded database are stopped below instead of the process dying.
    # Installed first, so that a SIGTERM during a long start-up catch-up also stops cleanly.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    node: ChronicleNode | None = None
    workers: WorkerProcesses | None = None
    control = ServeControl()
    try:
        node = ChronicleNode(settings, owns_database=True)
        node.start(workers=False)
        check_listening_policy(settings, node.users.count())
        node.start_workers()
        server = uvicorn.Server(_uvicorn_config(create_asgi_app(node), settings))
        control.install(server)  # before the workers start: they inherit where to ask
        if settings.workers > 1:
            url = node.address.url()
            workers = WorkerProcesses(worker_command(argv), settings.workers - 1, url)
            workers.start()
        scheme = "https" if settings.ssl_enabled else "http"
        log.info(
            "Chronicle listening on %s://%s:%d", scheme, settings.http_host, settings.http_port
        )
        if settings.shared_ports:
            server.run(sockets=[shared_socket(settings.http_host, settings.http_port)])
        else:
            server.run()
    finally:
        if workers is not None:
            workers.stop()
        if node is not None:
            node.close()
        if lock is not None:
            lock.release()
    control.restart_if_asked(argv)


def _uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        log_config=None,  # the process's logging (adapters.safe_logging), one format
        access_log=False,
        # The C parser and event loop: about 0.3 ms less per request than h11 and asyncio.
        http="httptools",
        loop="uvloop",
        timeout_graceful_shutdown=10,
        **https_options(settings),
    )


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket other processes of this archive bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
