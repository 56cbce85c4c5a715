"""The DICOM port's listener: connections that have not asked for an association yet.

pynetdicom starts an association thread for every accepted socket and counts it against the
association limit before the peer has said a word, so a few hundred silent connections kept
every modality out until their ARTIM timers ran out (30 s). Here a socket is only handed to
pynetdicom once it has sent its first bytes (an A-ASSOCIATE-RQ). Until then it is *pending*:

- it waits at most `timeout` seconds for those bytes, then is closed;
- at most `per_host` pending sockets per remote address and `total` in all: a new connection
  beyond either closes the oldest pending one (of that address first), so a flood of silent
  sockets ages out in favour of a modality that speaks at once, and costs one waiting thread
  per pending socket, never more than `total`.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import select
import socket
import ssl
import threading
from typing import Any

import attrs
from pynetdicom.transport import ThreadedAssociationServer

log = logging.getLogger(__name__)


@attrs.frozen
class PendingLimits:
    timeout: float = 5.0
    total: int = 32
    per_host: int = 8


class PendingConnections:
    """The sockets accepted but not handed to pynetdicom yet, oldest first."""

    def __init__(self, limits: PendingLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._sockets: collections.OrderedDict[socket.socket, str] = collections.OrderedDict()

    def admit(self, sock: socket.socket, host: str) -> None:
        """Registers `sock`, closing the pending sockets it pushes over a limit."""
        with self._lock:
            evicted = []
            same_host = [s for s, h in self._sockets.items() if h == host]
            if len(same_host) >= self.limits.per_host:
                evicted.append(same_host[0])
                del self._sockets[same_host[0]]
            if len(self._sockets) >= self.limits.total:
                evicted.append(self._sockets.popitem(last=False)[0])
            self._sockets[sock] = host
        for old in evicted:
            log.debug("DICOM: closing a connection that sent nothing, to admit a new one")
            _wake(old)

    def spoke(self, sock: socket.socket) -> bool:
        """Waits until `sock` sends its first bytes; True if it did and was not evicted (it is
        then no longer pending), False if it stayed silent, closed, or was evicted."""
        try:
            readable, _, _ = select.select([sock], [], [], self.limits.timeout)
        except (OSError, ValueError):
            readable = []
        with self._lock:
            still_pending = self._sockets.pop(sock, None) is not None
        if not readable and still_pending:
            log.debug("DICOM: closing a connection that sent nothing in %ss", self.limits.timeout)
        return bool(readable) and still_pending and _has_data(sock)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sockets)


def _wake(sock: socket.socket) -> None:
    """Ends the wait of the thread holding `sock` (it then sees an end of file and closes)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _has_data(sock: socket.socket) -> bool:
    """Readable may also mean closed by the peer: only real bytes go on to pynetdicom."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except (OSError, ValueError):
        return False


class GatedAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with the pending-connection gate; `reuse_port` binds
    beside the other processes of this archive (SO_REUSEPORT)."""

    # socketserver's default backlog is 5: beyond it, connections wait for SYN retries (1 s,
    # 3 s, 7 s...) before the gate even sees them.
    request_queue_size = 256

    def __init__(
        self,
        *args: Any,
        pending: PendingConnections,
        reuse_port: bool = False,
        tls: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> None:
        """`tls`: the port speaks TLS; the handshake runs in the connection's thread, once it
        has spoken (pynetdicom's own wrapping would run it in the accepting thread, where one
        silent client stops every other)."""
        self.pending = pending
        self.reuse_port = reuse_port
        self.tls = tls
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        assert self.socket is not None
        if self.reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        host = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        self.pending.admit(request, host)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        if not self.pending.spoke(request):
            self.shutdown_request(request)
            return
        if self.tls is not None:
            try:
                request = self._handshake(request)
            except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
                log.warning("DICOM TLS handshake with %s failed: %s", client_address[0], error)
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)

    def _handshake(self, request: socket.socket) -> ssl.SSLSocket:
        assert self.tls is not None
        timeout = request.gettimeout()
        request.settimeout(self.pending.limits.timeout)
        wrapped = self.tls.wrap_socket(request, server_side=True)
        wrapped.settimeout(timeout)
        return wrapped
