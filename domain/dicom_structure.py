"""The structure check every received file passes before pydicom decodes a value of it.

It walks every element header, without decoding values, as DCMTK's parser would, and stops at
the first sign that the bytes are not a DICOM file or would cost more than the bounds allow:

- a value, item or fragment running past the end of the file or of its enclosing item, stray
  bytes at the end, "DICM" without the 128-byte preamble (where DCMTK stops with an error);
- an explicit-VR element whose VR is none of the standard's (a corrupt header: its value
  could not be decoded by any view);
- a bare dataset whose first element is of a group after 0008, which no DICOM file starts with
  (a picture, a text, a random body), or whose first 4 KB are zero bytes: rejected from that
  prefix alone (check_prefix, which ZIP members also pass before they are inflated);
- more elements than `max_elements`, sequences nested deeper than `max_depth`;
- a Deflated-syntax dataset that is not a deflate stream, or that inflates beyond
  `max_inflated_bytes` (inflated piece by piece, so the memory stays bounded).

Runs of zero bytes at the top level are (0000,0000) elements of no length to DCMTK, which
accepts a file padded with them; they are skipped here at C speed, and `padding` lists them so
that the parser can be given the file without them.
"""

from __future__ import annotations

import re
import struct
import zlib

import attrs

IMPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DEFLATED_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
EXPLICIT_BIG_ENDIAN = "1.2.840.10008.1.2.2"

_UNDEFINED = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_ITEM_END = (0xFFFE, 0xE00D)
_SEQUENCE_END = (0xFFFE, 0xE0DD)
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN"})
_LONG_VRS |= frozenset({b"UR", b"UT", b"UV"})
_KNOWN_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB"}
    | {b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM"}
    | {b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV"}
)
_LAST_FIRST_GROUP = 0x0008  # a dataset holds (0008,0018) SOPInstanceUID, and tags ascend
_NOT_ZERO = re.compile(rb"[^\x00]")
PREFIX = 4096  # what tells whether bytes may be DICOM at all (see check_prefix)
_INFLATE_CHUNK = 1 << 20


@attrs.frozen
class InputBounds:
    """What one received file may cost; each is a configuration option (see the README)."""

    max_inflated_bytes: int = 64 * 1024 * 1024
    max_elements: int = 1_000_000
    max_depth: int = 64


DEFAULT_BOUNDS = InputBounds()


class UnreadableFile(Exception):
    """Why the bytes are not a DICOM file that may be read; `not_dicom` when they do not
    even start like one."""

    def __init__(self, reason: str, not_dicom: bool = False) -> None:
        super().__init__(reason)
        self.not_dicom = not_dicom


@attrs.frozen
class Structure:
    pixel_data_offset: int | None  # of the top-level PixelData; None when deflated or absent
    padding: tuple[tuple[int, int], ...]  # (start, end) of top-level runs of zero bytes


@attrs.frozen
class _Syntax:
    little_endian: bool
    implicit: bool


def check_structure(data: bytes, bounds: InputBounds = DEFAULT_BOUNDS) -> Structure:
    """Raises UnreadableFile; see the module's docstring."""
    try:
        start = 132 if data[128:132] == b"DICM" else 0
        if start == 0 and data[:4] == b"DICM":
            raise UnreadableFile("'DICM' without the 128-byte preamble")
        if start == 0:
            check_prefix(data[:PREFIX])
        position, transfer_syntax = walk_meta(data, start)
        if position >= len(data) and position == start:
            raise UnreadableFile("no DICOM element at all", not_dicom=True)
        if transfer_syntax == DEFLATED_LITTLE_ENDIAN:
            inflated = _inflate(data[position:], bounds.max_inflated_bytes)
            _Walker(inflated, _Syntax(True, False), bounds).walk_top_level(0)
            return Structure(None, ())
        walker = _Walker(data, _syntax(data, position, transfer_syntax), bounds)
        pixel_data = walker.walk_top_level(position)
        return Structure(pixel_data, tuple(walker.padding))
    except struct.error:
        raise UnreadableFile("truncated") from None


def without_padding(data: bytes, structure: Structure) -> bytes:
    """The file without its top-level runs of zero bytes (the same dataset to DCMTK)."""
    if not structure.padding:
        return data
    pieces, position = [], 0
    for start, end in structure.padding:
        pieces.append(data[position:start])
        position = end
    pieces.append(data[position:])
    return b"".join(pieces)


def walk_meta(data: bytes, position: int) -> tuple[int, str | None]:
    """The end of the file meta group starting at `position`, and its transfer syntax."""
    transfer_syntax = None
    while position + 8 <= len(data) and struct.unpack_from("<H", data, position)[0] == 0x0002:
        element = struct.unpack_from("<H", data, position + 2)[0]
        header, length = explicit_header(data, position, little_endian=True)
        end = _checked_end(data, position + header, length, len(data))
        if element == 0x0010:
            transfer_syntax = data[position + header : end].rstrip(b"\0 ").decode("ascii", "ignore")
        position = end
    return position, transfer_syntax


def explicit_header(data: bytes, position: int, little_endian: bool) -> tuple[int, int]:
    """(header size, value length) of the explicit-VR element at `position`."""
    order = "<" if little_endian else ">"
    vr = data[position + 4 : position + 6]
    if vr in _LONG_VRS:
        return 12, struct.unpack_from(order + "I", data, position + 8)[0]
    return 8, struct.unpack_from(order + "H", data, position + 6)[0]


def check_prefix(prefix: bytes) -> None:
    """Raises UnreadableFile (not_dicom) if a file starting with `prefix` (its first PREFIX
    bytes, or all of it) cannot be DICOM: too short for an element, only zero bytes, or a
    first element of a group after 0008 with no "DICM" after a preamble."""
    if prefix[128:132] == b"DICM":
        return
    if len(prefix) < 8:
        raise UnreadableFile("too short for a DICOM element", not_dicom=True)
    if not prefix.strip(b"\0"):
        raise UnreadableFile("it starts with nothing but zero bytes", not_dicom=True)
    group = struct.unpack_from("<H", prefix)[0]
    if group > _LAST_FIRST_GROUP and prefix[:4] != b"DICM":
        raise UnreadableFile("it does not start with a DICOM element", not_dicom=True)


def _syntax(data: bytes, position: int, transfer_syntax: str | None) -> _Syntax:
    if transfer_syntax is None:
        vr = data[position + 4 : position + 6]
        return _Syntax(True, not (len(vr) == 2 and vr.isalpha() and vr.isupper()))
    if transfer_syntax == IMPLICIT_LITTLE_ENDIAN:
        return _Syntax(True, True)
    return _Syntax(transfer_syntax != EXPLICIT_BIG_ENDIAN, False)


def _inflate(stream: bytes, limit: int) -> bytes:
    """The inflated dataset; first measured piece by piece and thrown away, so that a bomb is
    refused with a megabyte of memory, not `limit` bytes."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    size = 0
    pending = stream
    try:
        while not inflater.eof:
            piece = inflater.decompress(pending, _INFLATE_CHUNK)
            size += len(piece)
            if size > limit:
                raise UnreadableFile(f"the deflated dataset inflates beyond {limit} bytes")
            pending = inflater.unconsumed_tail
            if not piece and not pending and not inflater.eof:
                raise UnreadableFile("the deflated dataset is truncated")
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(stream)
    except zlib.error:
        raise UnreadableFile("the deflated dataset is not a valid deflate stream") from None


def _checked_end(data: bytes, start: int, length: int, limit: int) -> int:
    end = start + length
    if end > limit or start > len(data):
        raise UnreadableFile("a value runs past the end of the file")
    return end


class _Walker:
    def __init__(self, data: bytes, syntax: _Syntax, bounds: InputBounds) -> None:
        self.data = data
        self.syntax = syntax
        self.bounds = bounds
        self.elements = 0
        self.padding: list[tuple[int, int]] = []

    def _count(self) -> None:
        self.elements += 1
        if self.elements > self.bounds.max_elements:
            raise UnreadableFile(f"more than {self.bounds.max_elements} elements")

    def walk_top_level(self, position: int) -> int | None:
        data, order = self.data, "<" if self.syntax.little_endian else ">"
        pixel_data = None
        while position < len(data):
            if position + 8 > len(data):
                raise UnreadableFile("stray bytes where an element should start")
            if data[position : position + 8] == bytes(8):
                position = self._skip_zeros(position)
                continue
            tag = struct.unpack_from(order + "HH", data, position)
            if tag == (0x7FE0, 0x0010):
                pixel_data = position
            position = self._element(position, len(data), self.syntax, tag, depth=0)
        return pixel_data

    def _skip_zeros(self, position: int) -> int:
        """The end of the zero-byte (0000,0000) elements starting at `position`."""
        found = _NOT_ZERO.search(self.data, position)
        run_end = len(self.data) if found is None else found.start()
        end = position + (run_end - position) // 8 * 8
        self.padding.append((position, end))
        return end

    def _dataset(self, position: int, end: int, syntax: _Syntax, nested: bool, depth: int) -> int:
        """Walks the elements of an item up to `end` or, if undefined-length, to its delimiter."""
        order = "<" if syntax.little_endian else ">"
        while position < end:
            if position + 8 > end:
                raise UnreadableFile("stray bytes where an element should start")
            group, element = struct.unpack_from(order + "HH", self.data, position)
            if nested and (group, element) == _ITEM_END:
                return position + 8
            position = self._element(position, end, syntax, (group, element), depth)
        if nested:
            raise UnreadableFile("an item has no end")
        return position

    def _element(
        self, position: int, end: int, syntax: _Syntax, tag: tuple[int, int], depth: int
    ) -> int:
        self._count()
        data, order = self.data, "<" if syntax.little_endian else ">"
        if syntax.implicit or tag[0] == 0xFFFE:
            header, length, vr = 8, struct.unpack_from(order + "I", data, position + 4)[0], None
        else:
            vr = data[position + 4 : position + 6]
            if vr not in _KNOWN_VRS:
                raise UnreadableFile(f"an element has an unknown VR {vr!r}")
            header, length = explicit_header(data, position, syntax.little_endian)
        start = position + header
        if length != _UNDEFINED:
            value_end = _checked_end(data, start, length, end)
            if vr == b"SQ":
                self._items(start, value_end, syntax, False, False, depth + 1)
            return value_end
        fragments = tag == (0x7FE0, 0x0010) or vr in (b"OB", b"OW")
        if vr == b"UN":
            syntax = _Syntax(little_endian=True, implicit=True)  # DICOM CP 246
        return self._items(start, end, syntax, fragments, True, depth + 1)

    def _items(
        self,
        position: int,
        end: int,
        syntax: _Syntax,
        fragments: bool,
        delimited: bool,
        depth: int,
    ) -> int:
        """Items of a sequence (datasets) or of encapsulated pixel data (opaque fragments)."""
        if depth > self.bounds.max_depth:
            raise UnreadableFile(f"sequences nested deeper than {self.bounds.max_depth} levels")
        order = "<" if syntax.little_endian else ">"
        while position + 8 <= end:
            group, element, length = struct.unpack_from(order + "HHI", self.data, position)
            if delimited and (group, element) == _SEQUENCE_END:
                return position + 8
            if (group, element) != _ITEM:
                raise UnreadableFile("a sequence holds something that is not an item")
            self._count()
            start = position + 8
            if length == _UNDEFINED and not fragments:
                position = self._dataset(start, end, syntax, True, depth)
                continue
            position = _checked_end(self.data, start, length, end)
            if not fragments:
                self._dataset(start, position, syntax, False, depth)
        if delimited or position != end:
            raise UnreadableFile("a sequence has no end")
        return position
