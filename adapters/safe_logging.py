"""Error reports for logs that carry no patient data.

Exception messages can hold DICOM values (PostgreSQL's "Failing row contains (...)", a tag
value in a ValueError), so logs get the exception's type, its SQLSTATE if any, and the
stack frames, never its message.
"""

from __future__ import annotations

import traceback


def error_kind(error: BaseException) -> str:
    """The exception's type, with its SQLSTATE for a database error: safe to show anywhere."""
    sqlstate = getattr(getattr(error, "diag", None), "sqlstate", None)
    return type(error).__qualname__ + (f" (SQLSTATE {sqlstate})" if sqlstate else "")


def error_report(error: BaseException) -> str:
    frames = "".join(traceback.format_tb(error.__traceback__))
    return f"{error_kind(error)}\n{frames}"
