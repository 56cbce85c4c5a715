"""Orthanc's request bodies: JSON as it reads it, and the options of the routes that may run
as jobs (`Synchronous`/`Asynchronous`, `Priority`)."""

from __future__ import annotations

import json
from typing import Any

from api.errors import OrthancCode, OrthancError


def json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "the request body is not JSON") from None


def json_object(body: bytes) -> dict[str, Any]:
    value = json_body(body)
    if not isinstance(value, dict):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "the request body must be a JSON object")
    return value


def is_synchronous(options: dict[str, Any], default: bool = True) -> bool:
    """Orthanc's rule: `Synchronous` if given, else not `Asynchronous`, else the default; a
    value that is not a JSON boolean is refused, as Orthanc refuses it."""
    for key, synchronous_when_true in (("Synchronous", True), ("Asynchronous", False)):
        if key in options:
            value = options[key]
            if not isinstance(value, bool):
                raise OrthancError(
                    OrthancCode.BAD_FILE_FORMAT, f"Boolean value expected in field: {key}"
                )
            return value if synchronous_when_true else not value
    return default


def job_priority(options: dict[str, Any]) -> int:
    """Orthanc's job Priority: a 32-bit integer (a bigger one could never be projected)."""
    value = options.get("Priority", 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "Priority must be an integer")
    if not -(2**31) <= value < 2**31:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, "Priority is out of range")
    return value
