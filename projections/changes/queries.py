"""Reads of the changes read model: Orthanc's /changes."""

from __future__ import annotations

import psycopg

from projections.log_paging import LogPage, page_log


def page_changes(
    conn: psycopg.Connection,
    since: int,
    limit: int,
    newest_only: bool = False,
    full_history: bool = False,
) -> LogPage:
    """Orthanc's view by default: the changes of resources deleted since are left out, as
    Orthanc erases them. `full_history`: every change ever, `Deleted` ones included."""
    condition = "" if full_history else "NOT e.removed"
    return page_log(
        conn, "changes.changes", "changes.visibility", since, limit, newest_only, condition
    )
