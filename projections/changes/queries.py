"""Reads of the changes read model: Orthanc's /changes."""

from __future__ import annotations

import psycopg

from projections.log_paging import LogPage, page_log


def page_changes(
    conn: psycopg.Connection, since: int, limit: int, newest_only: bool = False
) -> LogPage:
    return page_log(conn, "changes.changes", "changes.visibility", since, limit, newest_only)
