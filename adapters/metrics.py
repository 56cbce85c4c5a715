"""Orthanc's metrics switch (MetricsEnabled, /tools/metrics) and what /tools/metrics-prometheus
reports beside the archive's counts. Process-local, as in Orthanc."""

from __future__ import annotations

import time


class Metrics:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.started = time.monotonic()

    def up_time(self) -> int:
        """Seconds since this process started serving."""
        return int(time.monotonic() - self.started)
