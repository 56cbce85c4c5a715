"""Orthanc's query-string conventions: flags are "present", numbers must parse."""

from __future__ import annotations

from typing import Any

from api.dicom_json import TagsFormat
from api.errors import OrthancCode, OrthancError

_FALSE = {"false", "0", "no", "off"}


def flag(value: str | None) -> bool:
    """A Boolean argument: a bare `?short` is true, and `?short=false` is false."""
    return value is not None and value.strip().lower() not in _FALSE


def present(value: str | None) -> bool:
    """Orthanc 1.10 only checks that `expand` is there: `?expand=false` expands too."""
    return value is not None


def integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise OrthancError(
            OrthancCode.BAD_PARAMETER_TYPE, "Syntax error in some user-supplied data"
        ) from None


BIGGEST = 2**63 - 1  # beyond any Seq or offset PostgreSQL can hold: nothing is found there


def list_window(since: str | None, limit: str | None, uri: str) -> tuple[int, int | None]:
    """Orthanc's `since` (an offset) and `limit` on resource lists: both or neither.

    As in Orthanc, a negative `since` counts from the start and a negative `limit` means all.
    """
    if since is None and limit is None:
        return 0, None
    for name, value in (("since", since), ("limit", limit)):
        if value is None:
            raise OrthancError(
                OrthancCode.BAD_REQUEST,
                f'Missing "{name}" argument for GET request against: {uri.rstrip("/")}/',
            )
    assert since is not None and limit is not None
    start, count = integer(since), integer(limit)
    return min(max(start, 0), BIGGEST), (None if count < 0 else min(count, BIGGEST))


def non_negative_int(name: str, value: str | None, default: int | None = None) -> int | None:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise OrthancError(
            OrthancCode.BAD_PARAMETER_TYPE, f"Argument {name} must be an integer: {value!r}"
        ) from None
    if number < 0:
        raise OrthancError(
            OrthancCode.PARAMETER_OUT_OF_RANGE, f"Argument {name} must be >= 0: {value!r}"
        )
    return number


def tags_format(
    simplify: str | None,
    short: str | None,
    full: str | None = None,
    default: TagsFormat = TagsFormat.FULL,
) -> TagsFormat:
    """Orthanc's GetDicomFormat: `simplify` wins over `short`, which wins over `full`; the
    default differs by route (resources answer simplified tags, instance content full ones)."""
    if flag(simplify):
        return TagsFormat.SIMPLIFIED
    if flag(short):
        return TagsFormat.SHORT
    if flag(full):
        return TagsFormat.FULL
    return default


def boolean_body(body: bytes) -> bool:
    """A text body Orthanc reads as a Boolean: 1, 0, true or false."""
    text = body.decode("utf-8", "replace").strip().lower()
    if text not in ("0", "1", "true", "false"):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "Boolean value expected")
    return text in ("1", "true")


def json_boolean(body: dict[str, Any], key: str) -> bool:
    """Orthanc's SerializationToolbox::ReadBoolean: the field must be there, true or false."""
    value = body.get(key)
    if not isinstance(value, bool):
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, f"Boolean value expected in field: {key}")
    return value


def json_tags_format(body: dict[str, Any], default: TagsFormat) -> TagsFormat:
    """Orthanc's GetDicomFormat for a JSON body: the first of Simplify, Short and Full that is
    true wins; each one present is checked to be a Boolean until one is true."""
    for key, tag_format in (
        ("Simplify", TagsFormat.SIMPLIFIED),
        ("Short", TagsFormat.SHORT),
        ("Full", TagsFormat.FULL),
    ):
        if key in body and json_boolean(body, key):
            return tag_format
    return default


LOG_DEFAULT_LIMIT = 100
LOG_MAX_LIMIT = 10_000


def log_window(since: str | None, limit: str | None) -> tuple[int, int]:
    """`since` and `limit` of /changes and /exports (default 100, at most 10000).

    Unlike Orthanc, a malformed or negative value is a 400, never a silent restart from 0
    that would replay history to a router.
    """
    start = non_negative_int("since", since, 0) or 0
    count = non_negative_int("limit", limit, LOG_DEFAULT_LIMIT) or 0
    return min(start, BIGGEST), min(count, LOG_MAX_LIMIT)
