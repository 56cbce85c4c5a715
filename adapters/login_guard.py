"""Failed logins slowed down, and every login recorded.

- LoginThrottle: after FREE_FAILURES failed attempts within WINDOW seconds for one user name
  or from one address, each further failure is answered later, twice as late each time up to
  MAX_DELAY. Only failures wait: a user who gives the right password is never held back, so an
  attack on one account or from one address locks nobody out. Per process, in memory.
- LoginLog: a row per verified password (a cached verification is not a new login), per token
  use (once per token and process every TOKEN_USE_EVERY seconds) and per failure, in
  runtime.logins, for GET /tools/logins.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from adapters.database import Database

FREE_FAILURES = 5
WINDOW = 60.0
FIRST_DELAY = 0.25
MAX_DELAY = 4.0
MAX_LOGINS = 100_000
TOKEN_USE_EVERY = 300.0


class LoginThrottle:
    def __init__(self) -> None:
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def failed(self, user: str, source: str) -> float:
        """Records a failure; returns how long to wait before answering it."""
        now = time.monotonic()
        counts = []
        with self._lock:
            for key in (f"user:{user}", f"source:{source}"):
                recent = self._failures.setdefault(key, collections.deque())
                while recent and recent[0] < now - WINDOW:
                    recent.popleft()
                recent.append(now)
                counts.append(len(recent))
            if len(self._failures) > 10_000:  # forget idle keys
                for key in [k for k, v in self._failures.items() if v[-1] < now - WINDOW]:
                    del self._failures[key]
        beyond = max(counts) - FREE_FAILURES
        return 0.0 if beyond <= 0 else min(FIRST_DELAY * 2 ** (beyond - 1), MAX_DELAY)


class LoginLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._token_uses: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, user: str, source: str, scheme: str, succeeded: bool) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO runtime.logins (user_name, source, scheme, succeeded) "
                "VALUES (%s, %s, %s, %s)",
                (user, source, scheme, succeeded),
            )
            conn.execute(
                "DELETE FROM runtime.logins WHERE number <= "
                "(SELECT max(number) - %s FROM runtime.logins)",
                (MAX_LOGINS,),
            )

    def token_used(self, token_id: str, user: str, source: str) -> None:
        now = time.monotonic()
        with self._lock:
            if self._token_uses.get(token_id, -TOKEN_USE_EVERY) > now - TOKEN_USE_EVERY:
                return
            self._token_uses[token_id] = now
        self.record(user, source, "bearer", True)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "SELECT at, user_name, source, scheme, succeeded FROM runtime.logins "
                "ORDER BY number DESC LIMIT %s",
                (limit,),
            )
            return cursor.fetchall()
