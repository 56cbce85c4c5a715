"""Error reports for logs that carry no patient data.

Exception messages can hold DICOM values (PostgreSQL's "Failing row contains (...)", a tag
value in a ValueError), so logs get the exception's type, its SQLSTATE if any, and the
stack frames, never its message.
"""

from __future__ import annotations

import traceback


def error_report(error: BaseException) -> str:
    sqlstate = getattr(getattr(error, "diag", None), "sqlstate", None)
    kind = type(error).__qualname__ + (f" (SQLSTATE {sqlstate})" if sqlstate else "")
    frames = "".join(traceback.format_tb(error.__traceback__))
    return f"{kind}\n{frames}"
