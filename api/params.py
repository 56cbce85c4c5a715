"""Orthanc's query-string conventions: flags are "present", numbers must parse."""

from __future__ import annotations

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
