"""The runtime settings (domain.runtime_settings) as this process sees them.

Read from the configuration read model at most once every `refresh_after` seconds, and at once
after this process changes one, so a change made through another process applies here within
that delay. Until the read model has a value, the configuration file's applies.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from adapters.config import Settings
from adapters.database import Database
from domain.runtime_settings import (
    ACCEPTED_TRANSFER_SYNTAXES,
    DEFAULT_ENCODING,
    UNKNOWN_SOP_CLASS_ACCEPTED,
    encoding_name,
    matching_transfer_syntaxes,
)
from projections.configuration.queries import runtime_settings

log = logging.getLogger(__name__)

REFRESH_AFTER = 1.0  # seconds


def configured_values(settings: Settings) -> dict[str, Any]:
    """The runtime settings' values the configuration file gives, as the events record them."""
    return {
        DEFAULT_ENCODING: encoding_name(settings.default_encoding),
        ACCEPTED_TRANSFER_SYNTAXES: matching_transfer_syntaxes(settings.accepted_transfer_syntaxes),
        UNKNOWN_SOP_CLASS_ACCEPTED: settings.unknown_sop_class_accepted,
    }


class LiveSettings:
    def __init__(
        self, db: Database, settings: Settings, refresh_after: float = REFRESH_AFTER
    ) -> None:
        self.db = db
        self.refresh_after = refresh_after
        self.configured = configured_values(settings)  # this process's file
        self._values = dict(self.configured)
        self._read_at = float("-inf")
        self._refreshing = threading.Lock()

    @property
    def default_encoding(self) -> str:
        value: str = self._value(DEFAULT_ENCODING)
        return value

    @property
    def accepted_transfer_syntaxes(self) -> list[str]:
        value: list[str] = self._value(ACCEPTED_TRANSFER_SYNTAXES)
        return value

    @property
    def unknown_sop_class_accepted(self) -> bool:
        return bool(self._value(UNKNOWN_SOP_CLASS_ACCEPTED))

    def refresh(self) -> None:
        """Reads the latest values now (after a change this process made and waited for)."""
        try:
            with self.db.connection() as conn:
                stored = runtime_settings(conn)
        except Exception as exc:  # keep the values known; try again after the delay
            log.warning("runtime settings could not be read: %s", type(exc).__name__)
            stored = {}
        self._values = {**self._values, **stored}
        self._read_at = time.monotonic()

    def _value(self, name: str) -> Any:
        stale = time.monotonic() - self._read_at >= self.refresh_after
        if stale and self._refreshing.acquire(blocking=False):  # one reader refreshes
            try:
                self.refresh()
            finally:
                self._refreshing.release()
        return self._values[name]
