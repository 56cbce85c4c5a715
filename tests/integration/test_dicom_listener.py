"""Silent connections on the DICOM port cannot keep modalities out (adapters/dicom/listener.py)."""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.support.server import ChronicleProcess
from tests.support.waiting import eventually

SILENT = 200
PENDING_TOTAL = 32


@pytest.fixture
def listening(tmp_path: Path, database_url: str) -> Iterator[ChronicleProcess]:
    config = tmp_path / "chronicle.toml"
    config.write_text(
        "dicom_pre_association_timeout = 1.0\n"
        f"dicom_maximum_pending_connections = {PENDING_TOTAL}\n"
        "dicom_maximum_pending_per_host = 8\n"
        "dicom_maximum_associations = 4\n"
    )
    server = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _echo(server: ChronicleProcess) -> int:
    ae = AE(ae_title="ECHOER")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", server.dicom_port, ae_title="CHRONICLE")
    assert assoc.is_established, "the association was refused or dropped"
    try:
        return int(assoc.send_c_echo().Status)
    finally:
        assoc.release()


def _threads(server: ChronicleProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads")).split()[1])


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except OSError:
        return True  # reset


def _all_closed(remaining: set[socket.socket]) -> Callable[[], bool]:
    def check() -> bool:
        readable, _, _ = select.select(list(remaining), [], [], 0.5)
        remaining.difference_update(s for s in readable if _closed_by_server(s))
        return not remaining

    return check


def test_silent_sockets_do_not_starve_a_modality(listening: ChronicleProcess) -> None:
    threads_before = _threads(listening)
    with contextlib.ExitStack() as stack:
        silent = []
        for _ in range(SILENT):
            address = ("127.0.0.1", listening.dicom_port)
            silent.append(stack.enter_context(socket.create_connection(address)))
        for _ in range(3):  # more echoes than the association limit would let silent sockets hold
            assert _echo(listening) == 0x0000
        # One waiting thread per pending socket at most, not one per socket.
        assert _threads(listening) - threads_before <= PENDING_TOTAL + 8
        # Every silent socket is closed by the server: evicted at once or after its timeout.
        assert eventually(_all_closed(set(silent)))
    assert _echo(listening) == 0x0000
