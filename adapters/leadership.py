"""Which process runs the log's consumers and the job engine: the holder of one lock.

Several Chronicle processes can serve one archive (one PostgreSQL, one storage area). Each of
them serves HTTP and DICOM and projects its own appends inline; the runners of the read
models, the processors (side effects) and the job engine's loop run in exactly one of them,
the leader: the process holding a PostgreSQL session advisory lock on a connection of its own.
When the leader dies, its connection closes, the lock is free, and another process takes it at
its next attempt (every RETRY_INTERVAL seconds) and starts them from the tracked positions.
A leader whose lock connection breaks stops its consumers at once: it can no longer know that
it is alone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import zlib
from collections.abc import Callable
from datetime import datetime

import psycopg

from adapters.database import DatabaseAddress
from adapters.safe_logging import error_kind

log = logging.getLogger(__name__)

LEADER_KEY = zlib.crc32(b"chronicle-leader")
Session = tuple[int, datetime]  # a PostgreSQL backend: (pid, backend_start)
RETRY_INTERVAL = 2.0  # seconds between a follower's attempts, and between a leader's checks
CONNECT_TIMEOUT = 10


class Leadership:
    def __init__(
        self,
        address: DatabaseAddress,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self.address = address
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.retry_interval = retry_interval
        self.is_leader = False
        self._conn: psycopg.Connection | None = None
        self._session: Session | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Tries once now (a lone process leads before it serves), then keeps trying."""
        self._stopping.clear()
        self._attempt()
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Steps down: the caller stops its consumers; the lock goes with the connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.is_leader = False
        self._close()

    def session(self) -> Session | None:
        """This process's liveness token: the PostgreSQL session it keeps open while it lives
        (None while it has none). Another process sees it in pg_stat_activity."""
        return self._session

    def _run(self) -> None:
        while not self._stopping.wait(self.retry_interval):
            self._attempt()

    def _attempt(self) -> None:
        try:
            conn = self._connection()
            if self.is_leader:
                conn.execute("SELECT 1")
                return
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_KEY,)).fetchone()
        except psycopg.Error as error:
            self._lost(error)
            return
        if row and row[0]:
            self.is_leader = True
            log.info("this process leads: it runs the read models, processors and jobs")
            self.on_elected()

    def _lost(self, error: BaseException) -> None:
        self._close()
        if self.is_leader:
            self.is_leader = False
            log.error("leadership lost (%s): consumers stopped", error_kind(error))
            self.on_deposed()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._session = None
            self._conn = psycopg.connect(
                self.address.conninfo(),
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="chronicle-leadership",
            )
            row = self._conn.execute(
                "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
            ).fetchone()
            self._session = (int(row[0]), row[1]) if row else None
        return self._conn

    def _close(self) -> None:
        self._session = None
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
