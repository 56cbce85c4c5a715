"""TCP settings for every DICOM association, sent or received."""

from __future__ import annotations

import socket

from pynetdicom import evt


def set_nodelay(event: evt.Event) -> None:
    """EVT_CONN_OPEN handler: without TCP_NODELAY each C-STORE stalls ~44 ms (Nagle's
    algorithm waiting on the peer's delayed ACK)."""
    sock = event.assoc.dul.socket.socket if event.assoc.dul.socket else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


NODELAY_HANDLERS = [(evt.EVT_CONN_OPEN, set_nodelay)]
