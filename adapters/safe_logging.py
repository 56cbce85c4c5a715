"""Logs that carry no patient data, and not more than an operator reads.

Exception messages can hold DICOM values (PostgreSQL's "Failing row contains (...)", a tag
value in a ValueError), so logs get the exception's type, its SQLSTATE if any, and the
stack frames, never its message. pydicom's warnings quote the values they complain about
("Invalid value for VR PN: ..."): they are shown only with `--verbose`.
"""

from __future__ import annotations

import logging
import traceback
import warnings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    if verbose:
        return
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?")
    for chatty in ("pynetdicom", "psycopg.pool", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def error_kind(error: BaseException) -> str:
    """The exception's type, with its SQLSTATE for a database error: safe to show anywhere."""
    sqlstate = getattr(getattr(error, "diag", None), "sqlstate", None)
    return type(error).__qualname__ + (f" (SQLSTATE {sqlstate})" if sqlstate else "")


def error_report(error: BaseException) -> str:
    frames = "".join(traceback.format_tb(error.__traceback__))
    return f"{error_kind(error)}\n{frames}"
