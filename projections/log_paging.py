"""Orthanc's paging of its clearable logs (/changes and /exports), shared by both read models."""

from __future__ import annotations

from typing import Any

import attrs
import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]


@attrs.frozen
class LogPage:
    rows: list[Row]
    done: bool
    last: int


def page_log(
    conn: psycopg.Connection,
    table: str,
    visibility: str,
    since: int,
    limit: int,
    newest_only: bool = False,
    condition: str = "",
    empty_last_is_since: bool = False,
) -> LogPage:
    """The entries after `since` (a Seq) that a clear did not hide, at most `limit`; `Last` is
    the last Seq returned or, when nothing is, the highest ever allocated (/changes: a cleared
    log keeps its numbering) or `since` with `empty_last_is_since` (Orthanc's /exports).
    `table`, `visibility` and `condition` (on the entry `e`) are constants of the read model,
    never user input."""
    visible = f"FROM {table} e, {visibility} v WHERE e.seq >= v.hidden_below"
    if condition:
        visible += f" AND {condition}"
    with conn.cursor(row_factory=dict_row) as cursor:
        if newest_only:
            cursor.execute(f"SELECT e.* {visible} ORDER BY e.seq DESC LIMIT 1")
            rows, done = cursor.fetchall(), True
        else:
            cursor.execute(
                f"SELECT e.* {visible} AND e.seq > %s ORDER BY e.seq LIMIT %s", (since, limit + 1)
            )
            rows = cursor.fetchall()
            done, rows = len(rows) <= limit, rows[:limit]
    if rows:
        return LogPage(rows, done, rows[-1]["seq"])
    if empty_last_is_since:
        return LogPage(rows, done, 0 if newest_only else since)
    newest = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()
    return LogPage(rows, done, int(newest[0]) if newest else 0)
