"""GET/DELETE /changes: Orthanc's change log, for auto-routing scripts that poll it."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, delete, get

from api.context import node_of, read_connection, rest_origin
from api.params import non_negative_int
from api.resource_views import LEVEL_PATHS, LEVEL_TYPES, orthanc_time
from projections import read_models
from projections.read_models import Row

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def change_body(row: Row) -> dict[str, Any]:
    level = row["resource_level"]
    return {
        "ChangeType": row["change_type"],
        "Date": orthanc_time(row["changed_at"]),
        "ID": row["resource_id"],
        "Path": f"/{LEVEL_PATHS[level]}/{row['resource_id']}",
        "ResourceType": LEVEL_TYPES[level],
        "Seq": row["seq"],
    }


@get("/changes", sync_to_thread=True)
def list_changes(
    request: Request, since: str | None = None, limit: str | None = None, last: str | None = None
) -> dict[str, Any]:
    """Changes after `since` (a Seq), at most `limit` (default 100, at most 10000).

    Unlike Orthanc, a malformed or negative `since` or `limit` is a 400, never a silent
    restart from 0 that would replay history to a router.
    """
    start = non_negative_int("since", since, 0) or 0
    count = min(non_negative_int("limit", limit, DEFAULT_LIMIT) or 0, MAX_LIMIT)
    with read_connection(request) as conn:
        if last is not None:
            newest = read_models.last_change(conn)
            changes = [newest] if newest else []
            done = True
        else:
            changes = read_models.list_changes(conn, start, count + 1)
            done = len(changes) <= count
            changes = changes[:count]
        last_seq = changes[-1]["seq"] if changes else read_models.last_seq(conn)
    return {"Changes": [change_body(row) for row in changes], "Done": done, "Last": last_seq}


@delete("/changes", status_code=200, sync_to_thread=True, media_type=MediaType.TEXT)
def clear_changes(request: Request) -> str:
    """Hides every change so far from GET /changes; the log itself keeps them."""
    node = node_of(request)
    position = node.archive.clear_changes(rest_origin(request))
    node.wait_for(position)
    return ""


changes_handlers = [list_changes, clear_changes]
