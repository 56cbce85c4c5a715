"""Reads of the changes read model: Orthanc's /changes."""

from __future__ import annotations

import psycopg

from projections.changes.projection import SEQ_STRIDE
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


def changes_of_positions(
    conn: psycopg.Connection, first: int, last: int
) -> list[tuple[int, str, int, str]]:
    """Every change the events at log positions first..last made (removed or not), in order:
    (log position, change type, level number, resource ID)."""
    rows = conn.execute(
        "SELECT seq / %s, change_type, resource_level, resource_id FROM changes.changes "
        "WHERE seq >= %s AND seq < %s ORDER BY seq",
        (SEQ_STRIDE, first * SEQ_STRIDE, (last + 1) * SEQ_STRIDE),
    ).fetchall()
    return [(int(row[0]), row[1], row[2], row[3]) for row in rows]
