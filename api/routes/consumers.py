"""GET /tools/projections (a Chronicle extension): every read model and processor that follows
the log, with its position, lag behind the log's head, rate and last error."""

from __future__ import annotations

from typing import Any

from litestar import get

from adapters.consumers.supervisor import Consumers


@get("/tools/projections", sync_to_thread=True)
def list_consumers(consumers: Consumers) -> list[dict[str, Any]]:
    return [status.as_json() for status in consumers.statuses()]


consumers_handlers = [list_consumers]
