"""Orthanc's revisions over HTTP: the ETag `"<revision>-<md5>"` of a metadata or attachment,
If-Match on writes (checked whenever sent; required over an existing item with
[CheckRevisions]) and If-None-Match on reads (304)."""

from __future__ import annotations

import re

from litestar import Request, Response

from api.context import settings_of
from api.errors import OrthancCode, OrthancError
from domain.annotations import Revisions

_ETAG = re.compile(r"(\d+)-([0-9a-fA-F]+)")


def etag(revision: int, md5: str) -> str:
    return f'"{revision}-{md5}"'


def _parsed(header: str, value: str) -> tuple[int, str]:
    text = value.strip().strip('"')
    match = _ETAG.fullmatch(text)
    if match is None:
        raise OrthancError(
            OrthancCode.PARAMETER_OUT_OF_RANGE,
            f'The "{header}" HTTP header should contain the ETag (revision followed by MD5 '
            f"hash), but found: {text}",
        )
    return int(match.group(1)), match.group(2).lower()


def write_revisions(request: Request, current_md5: str | None) -> Revisions:
    """What the request says of the revision it replaces. A stale md5 is a conflict here;
    the revision itself is checked by the command, on the aggregate."""
    value = request.headers.get("if-match")
    checked = settings_of(request).check_revisions
    if value is None:
        return Revisions(None, checked)
    revision, md5 = _parsed("if-match", value)
    if current_md5 is not None and md5 != current_md5:
        raise OrthancError(OrthancCode.REVISION)
    return Revisions(revision, checked)


def require_if_match_on_delete(request: Request) -> None:
    """With [CheckRevisions], Orthanc asks a delete for If-Match before anything else."""
    if settings_of(request).check_revisions and request.headers.get("if-match") is None:
        raise OrthancError(
            OrthancCode.REVISION, 'HTTP header "If-Match" is missing, as "CheckRevisions" is "true"'
        )


def not_modified(request: Request, tag: str) -> Response[bytes] | None:
    """304 when If-None-Match names the current ETag."""
    value = request.headers.get("if-none-match")
    if value is None:
        return None
    revision, md5 = _parsed("If-None-Match", value)
    if etag(revision, md5) != tag:
        return None
    return Response(b"", status_code=304, headers={"ETag": tag}, media_type="text/plain")
