"""The bodies Orthanc's POST /instances accepts besides a DICOM file or a ZIP archive: a
gzip-compressed file (`Content-Encoding: gzip`), and multipart/form-data, one file per part,
as Orthanc Explorer sends it (jQuery File Upload, whose large files arrive in chunks over
several requests, named by `X-File-Name` and `X-File-Size`)."""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping

import attrs

from api.errors import OrthancCode, OrthancError

MAX_PENDING_FILES = 10  # Orthanc's chunk store keeps as many partial files


@attrs.frozen
class FormPart:
    headers: dict[str, str]  # lower-cased names
    content: bytes


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type, tolerant as Orthanc is (spaces
    around `;` and `=`, quotes); None for any other type or without a boundary."""
    kind, _, parameters = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for parameter in parameters.split(";"):
        name, separator, value = parameter.partition("=")
        if separator and name.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
            return boundary.encode("latin-1") if boundary else None
    return None


def form_parts(body: bytes, boundary: bytes) -> list[FormPart]:
    parts = []
    for chunk in (b"\r\n" + body).split(b"\r\n--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if separator:
            parts.append(FormPart(_part_headers(head), content))
    return parts


def _part_headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, separator, value = line.partition(":")
        if separator:
            headers[name.strip().lower()] = value.strip()
    return headers


def gunzipped(body: bytes, limit: int) -> bytes:
    """The body of a `Content-Encoding: gzip` upload, at most `limit` bytes once expanded."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise OrthancError(
            OrthancCode.BAD_FILE_FORMAT, "The body is not gzip-compressed data"
        ) from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise OrthancError(OrthancCode.BAD_REQUEST, "The body expands beyond the upload limit")
    if not inflater.eof:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, "The gzip-compressed body is truncated")
    return data


@attrs.frozen
class ChunkedFile:
    name: str
    size: int


def chunked_file(headers: Mapping[str, str], limit: int) -> ChunkedFile | None:
    """What jQuery File Upload's headers announce, checked as Orthanc checks them (Orthanc
    answers these errors with a 500; they are the client's, so Chronicle answers 400)."""
    requested_with = headers.get("x-requested-with")
    if requested_with is not None and requested_with != "XMLHttpRequest":
        raise _protocol_error(
            'HTTP header "X-Requested-With" should be "XMLHttpRequest" in multipart uploads'
        )
    name, size = headers.get("x-file-name"), headers.get("x-file-size")
    if name is None and size is None:
        return None
    if name is None:
        raise _protocol_error('HTTP header "X-File-Name" is missing')
    if size is None:
        raise _protocol_error('HTTP header "X-File-Size" is missing')
    try:
        total = int(size)
    except ValueError:
        raise _protocol_error('HTTP header "X-File-Size" is not an integer') from None
    if total < 0:
        raise _protocol_error('HTTP header "X-File-Size" has negative value')
    if total > limit:
        raise OrthancError(OrthancCode.BAD_REQUEST, "X-File-Size is beyond the upload limit")
    return ChunkedFile(name, total)


def _protocol_error(details: str) -> OrthancError:
    return OrthancError(OrthancCode.NETWORK_PROTOCOL, details, 400)


class ChunkStore:
    """Partial files of chunked uploads, by file name; the oldest is forgotten beyond
    MAX_PENDING_FILES, and a file that grows beyond its announced size is dropped."""

    def __init__(self) -> None:
        self._pending: OrderedDict[str, bytearray] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, announced: ChunkedFile, chunk: bytes) -> bytes | None:
        """The whole file once its last chunk arrived, else None."""
        with self._lock:
            data = self._pending.pop(announced.name, bytearray())
            data += chunk
            if len(data) == announced.size:
                return bytes(data)
            if len(data) > announced.size:
                raise OrthancError(
                    OrthancCode.NETWORK_PROTOCOL,
                    "Error in the multipart form upload: more bytes than X-File-Size",
                    400,
                )
            self._pending[announced.name] = data
            while len(self._pending) > MAX_PENDING_FILES:
                self._pending.popitem(last=False)
            return None
