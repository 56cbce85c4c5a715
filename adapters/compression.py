"""How a file may be compressed in the storage area: Orthanc's only scheme, zlib with the
uncompressed size in front (its CompressionType_ZlibWithSize).

The stored bytes are the uncompressed size as an unsigned 64-bit little-endian integer, then
the zlib stream of the data (level 6, zlib's default, as Orthanc), so a file compressed here is
byte for byte the one Orthanc stores, and its MD5 (Orthanc's "compressed MD5") the same. Empty
data is stored as an empty file, with no prefix.
"""

from __future__ import annotations

import struct
import zlib

ZLIB_WITH_SIZE = "ZlibWithSize"  # the name recorded in events (attachment "compression")
COMPRESSIONS = (ZLIB_WITH_SIZE,)
LEVEL = 6
_PREFIX = struct.Struct("<Q")


class CorruptedFile(ValueError):
    """Stored bytes that are not what their compression says."""


def compress(data: bytes, compression: str | None) -> bytes:
    """The bytes to store for `data` (None: stored as it is)."""
    if compression is None:
        return data
    _check(compression)
    if not data:
        return b""
    return _PREFIX.pack(len(data)) + zlib.compress(data, LEVEL)


def decompress(stored: bytes, compression: str | None) -> bytes:
    """The data of stored bytes. Raises CorruptedFile when they do not decompress to the
    size their prefix says."""
    if compression is None:
        return stored
    _check(compression)
    if not stored:
        return b""
    if len(stored) < _PREFIX.size:
        raise CorruptedFile("the compressed file is shorter than its size prefix")
    (size,) = _PREFIX.unpack_from(stored)
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(memoryview(stored)[_PREFIX.size :], size + 1)
    except zlib.error as error:
        raise CorruptedFile(f"the compressed file does not inflate: {error}") from None
    if len(data) != size or not inflater.eof:
        raise CorruptedFile(f"the compressed file holds {len(data)} bytes, not {size}")
    return data


def _check(compression: str) -> None:
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}")
