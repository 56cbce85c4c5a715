"""GET/DELETE /changes: Orthanc's change log, for auto-routing scripts that poll it."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, delete, get

from adapters.node import ReadModelWaiter
from api.context import read_connection, rest_origin, settings_of
from api.params import flag, log_window
from api.resource_views import LEVEL_TYPES, orthanc_time
from domain.archive import Archive
from domain.levels import LEVEL_PATHS
from projections.changes import queries as changes_queries
from projections.hierarchy.queries import Row


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
    request: Request,
    since: str | None = None,
    limit: str | None = None,
    last: str | None = None,
    history: str | None = None,
) -> dict[str, Any]:
    """Changes after `since` (a Seq), at most `limit` (default 100, at most 10000).

    As in Orthanc, the changes of a resource are gone once it is deleted; `?history` (a
    Chronicle extension, or the `changes_full_history` setting) lists every change ever made,
    `Deleted` ones included, with the same Seq values. Unlike Orthanc, a malformed or negative
    `since` or `limit` is a 400, never a silent restart from 0 that would replay history.
    """
    start, count = log_window(since, limit)
    full = flag(history) or settings_of(request).changes_full_history
    with read_connection(request) as conn:
        page = changes_queries.page_changes(
            conn, start, count, newest_only=last is not None, full_history=full
        )
    return {"Changes": [change_body(r) for r in page.rows], "Done": page.done, "Last": page.last}


@delete("/changes", status_code=200, sync_to_thread=True, media_type=MediaType.TEXT)
def clear_changes(request: Request, archive: Archive, wait_for: ReadModelWaiter) -> str:
    """Hides every change so far from GET /changes; the log itself keeps them."""
    wait_for(archive.clear_changes(rest_origin(request)))
    return ""


changes_handlers = [list_changes, clear_changes]
