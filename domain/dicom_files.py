"""Parsing received DICOM files the way Orthanc (DCMTK) accepts or rejects them.

Accepted, as Orthanc 1.10 does: Part 10 files; files whose meta-header starts at byte 0 (no
preamble, no "DICM"); bare datasets with no meta-header at all. Rejected: empty input, anything
DCMTK cannot parse to its end (garbage, truncation anywhere, even inside the pixel data, or an
element overflowing its item), "DICM" without a preamble, and files whose Study, Series or SOP
Instance UID is missing (HTTP 404 "Inexistent tag" in Orthanc) or empty (HTTP 400).
A missing PatientID is fine: the patient's identifier is then the hash of "".
"""

from __future__ import annotations

import io
import struct
from typing import Any

import attrs
import pydicom
from pydicom import Dataset
from pydicom.errors import InvalidDicomError

from domain.dicom_text import Encoding, detect_charset, main_string_value
from domain.parsed_dicom import ParsedDicom

PATIENT_ID = 0x00100020
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
SOP_INSTANCE_UID = 0x00080018
SOP_CLASS_UID = 0x00080016
# What DicomInstanceHasher hashes, in the order of DicomIdentifiers' fields.
IDENTIFIER_TAGS = (PATIENT_ID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID)

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


class InvalidDicomFile(ValueError):
    """A file Orthanc refuses, with the fields of Orthanc's error answer."""

    def __init__(
        self,
        message: str,
        *,
        details: str | None = None,
        http_status: int = 400,
        orthanc_error: str = "Bad file format",
        orthanc_status: int = 15,
    ) -> None:
        super().__init__(message)
        self.details = details
        self.http_status = http_status
        self.orthanc_error = orthanc_error
        self.orthanc_status = orthanc_status


def _empty() -> InvalidDicomFile:
    return InvalidDicomFile(
        "The request body is empty, not a DICOM file", details="Received an empty DICOM file"
    )


def _unparsable(size: int, reason: str) -> InvalidDicomFile:
    return InvalidDicomFile(
        f"Not a readable DICOM file ({reason})",
        details=f"Cannot parse an invalid DICOM file (size: {size} bytes)",
    )


def _missing_identifier(keyword: str) -> InvalidDicomFile:
    return InvalidDicomFile(
        f"The file has no {keyword} (is it a DICOMDIR?)",
        http_status=404,
        orthanc_error="Inexistent tag",
        orthanc_status=21,
    )


def _empty_identifier(keyword: str) -> InvalidDicomFile:
    return InvalidDicomFile(
        f"The file's {keyword} is empty",
        details="missing StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID",
    )


# --- Structure check ----------------------------------------------------------------------------


@attrs.frozen
class _Syntax:
    little_endian: bool
    implicit: bool


class _Unreadable(Exception):
    pass


def check_structure(data: bytes) -> int | None:
    """Walks every element header, without decoding values, as DCMTK's parser would.

    Raises InvalidDicomFile where DCMTK stops with an error: an element, item or fragment that
    runs past the end of the file or of its enclosing item, or stray bytes at the end.
    Returns the offset of the top-level PixelData element, if any (None when deflated).
    """
    try:
        start = 132 if data[128:132] == b"DICM" else 0
        if start == 0 and data[:4] == b"DICM":
            raise _Unreadable("'DICM' without the 128-byte preamble")
        position, transfer_syntax = _walk_meta(data, start)
        if position >= len(data) and position == start:
            raise _Unreadable("no DICOM element at all")
        if transfer_syntax == DEFLATED_LITTLE_ENDIAN:
            return None
        return _walk_top_level(data, position, _syntax(data, position, transfer_syntax))
    except (_Unreadable, struct.error) as error:
        raise _unparsable(len(data), str(error) or "truncated") from None


def pixel_data_offset(data: bytes) -> int | None:
    """Orthanc's "PixelDataOffset" metadata: where (7fe0,0010) starts in a Part 10 file.

    Orthanc records none for files without pixel data, deflated files and bare datasets.
    """
    if data[128:132] != b"DICM":
        return None
    return check_structure(data)


def _walk_meta(data: bytes, position: int) -> tuple[int, str | None]:
    transfer_syntax = None
    while position + 8 <= len(data) and struct.unpack_from("<H", data, position)[0] == 0x0002:
        element = struct.unpack_from("<H", data, position + 2)[0]
        header, length = _explicit_header(data, position, little_endian=True)
        end = _checked_end(data, position + header, length, len(data))
        if element == 0x0010:
            transfer_syntax = data[position + header : end].rstrip(b"\0 ").decode("ascii", "ignore")
        position = end
    return position, transfer_syntax


def _syntax(data: bytes, position: int, transfer_syntax: str | None) -> _Syntax:
    if transfer_syntax is None:
        vr = data[position + 4 : position + 6]
        return _Syntax(True, not (len(vr) == 2 and vr.isalpha() and vr.isupper()))
    if transfer_syntax == IMPLICIT_LITTLE_ENDIAN:
        return _Syntax(True, True)
    return _Syntax(transfer_syntax != EXPLICIT_BIG_ENDIAN, False)


def _explicit_header(data: bytes, position: int, little_endian: bool) -> tuple[int, int]:
    order = "<" if little_endian else ">"
    vr = data[position + 4 : position + 6]
    if vr in _LONG_VRS:
        return 12, struct.unpack_from(order + "I", data, position + 8)[0]
    return 8, struct.unpack_from(order + "H", data, position + 6)[0]


def _checked_end(data: bytes, start: int, length: int, limit: int) -> int:
    end = start + length
    if end > limit or start > len(data):
        raise _Unreadable("a value runs past the end of the file")
    return end


def _walk_top_level(data: bytes, position: int, syntax: _Syntax) -> int | None:
    order = "<" if syntax.little_endian else ">"
    pixel_data = None
    while position < len(data):
        if position + 8 > len(data):
            raise _Unreadable("stray bytes where an element should start")
        tag = struct.unpack_from(order + "HH", data, position)
        if tag == (0x7FE0, 0x0010):
            pixel_data = position
        position = _walk_element(data, position, len(data), syntax, tag)
    return pixel_data


def _walk_dataset(data: bytes, position: int, end: int, syntax: _Syntax, nested: bool) -> int:
    """Walks the elements of an item up to `end` or, if undefined-length, to its delimiter."""
    order = "<" if syntax.little_endian else ">"
    while position < end:
        if position + 8 > end:
            raise _Unreadable("stray bytes where an element should start")
        group, element = struct.unpack_from(order + "HH", data, position)
        if nested and (group, element) == _ITEM_END:
            return position + 8
        position = _walk_element(data, position, end, syntax, (group, element))
    if nested:
        raise _Unreadable("an item has no end")
    return position


def _walk_element(
    data: bytes, position: int, end: int, syntax: _Syntax, tag: tuple[int, int]
) -> int:
    order = "<" if syntax.little_endian else ">"
    if syntax.implicit or tag[0] == 0xFFFE:
        header, length, vr = 8, struct.unpack_from(order + "I", data, position + 4)[0], None
    else:
        header, length = _explicit_header(data, position, syntax.little_endian)
        vr = data[position + 4 : position + 6]
    start = position + header
    if length != _UNDEFINED:
        value_end = _checked_end(data, start, length, end)
        if vr == b"SQ":
            _walk_items(data, start, value_end, syntax, fragments=False, delimited=False)
        return value_end
    fragments = tag == (0x7FE0, 0x0010) or vr in (b"OB", b"OW")
    if vr == b"UN":
        syntax = _Syntax(little_endian=True, implicit=True)  # DICOM CP 246
    return _walk_items(data, start, end, syntax, fragments=fragments, delimited=True)


def _walk_items(
    data: bytes, position: int, end: int, syntax: _Syntax, fragments: bool, delimited: bool
) -> int:
    """Items of a sequence (datasets) or of encapsulated pixel data (opaque fragments)."""
    order = "<" if syntax.little_endian else ">"
    while position + 8 <= end:
        group, element, length = struct.unpack_from(order + "HHI", data, position)
        if delimited and (group, element) == _SEQUENCE_END:
            return position + 8
        if (group, element) != _ITEM:
            raise _Unreadable("a sequence holds something that is not an item")
        start = position + 8
        if length == _UNDEFINED and not fragments:
            position = _walk_dataset(data, start, end, syntax, nested=True)
            continue
        position = _checked_end(data, start, length, end)
        if not fragments:
            _walk_dataset(data, start, position, syntax, nested=False)
    if delimited or position != end:
        raise _Unreadable("a sequence has no end")
    return position


# --- Parsing --------------------------------------------------------------------------------------


def read_dicom(data: bytes, with_pixel_data: bool = False) -> ParsedDicom:
    """Checks the whole file's structure, then parses it (up to the pixel data unless
    `with_pixel_data`), in one walk; the JSON views take the result as it is."""
    if not data:
        raise _empty()
    pixel_data = check_structure(data)
    stop_before_pixels = not with_pixel_data and pixel_data is not None
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=stop_before_pixels)
    except (InvalidDicomError, EOFError, ValueError, KeyError, struct.error) as error:
        raise _unparsable(len(data), str(error)) from None
    overflow = _take_meta_overflow(ds, _meta_overflow(data))
    _check_identifiers(ds)
    return ParsedDicom(
        dataset=ds,
        pixel_data_skipped=stop_before_pixels,
        meta_overflow=overflow,
        pixel_data_offset=pixel_data if data[128:132] == b"DICM" else None,
    )


def parse_header(data: bytes) -> Dataset:
    """The dataset up to (not including) the pixel data, after checking the whole file."""
    return read_dicom(data).dataset


def parse_dataset(data: bytes) -> Dataset:
    """The whole dataset, pixel data included (for /content, rendering, exports)."""
    return read_dicom(data, with_pixel_data=True).dataset


def _meta_overflow(data: bytes) -> list[int]:
    """Dataset elements that start inside the meta-header's declared group length.

    DCMTK reads the meta-header by its (0002,0000) length, pydicom by group number: when the
    length is too large, DCMTK takes the next dataset elements as part of the header.
    """
    start = 132 if data[128:132] == b"DICM" else 0
    if data[start : start + 6] != b"\x02\x00\x00\x00UL":
        return []
    declared_end = start + 12 + struct.unpack_from("<I", data, start + 8)[0]
    position, _ = _walk_meta(data, start)
    tags = []
    while position < declared_end and position + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, position)
        header, length = _explicit_header(data, position, little_endian=True)
        tags.append(group << 16 | element)
        position += header + length
    return tags


def _take_meta_overflow(ds: Dataset, tags: list[int]) -> dict[int, Any]:
    moved = {tag: ds.get_item(tag) for tag in tags if tag in ds}
    for tag in moved:
        del ds[tag]
    return moved


def _check_identifiers(ds: Dataset) -> None:
    keywords = {
        STUDY_INSTANCE_UID: "StudyInstanceUID",
        SERIES_INSTANCE_UID: "SeriesInstanceUID",
        SOP_INSTANCE_UID: "SOPInstanceUID",
    }
    for tag, keyword in keywords.items():
        if tag not in ds:
            raise _missing_identifier(keyword)
    for tag, keyword in keywords.items():
        if not main_string_value(ds, tag):
            raise _empty_identifier(keyword)


# --- Identifiers ----------------------------------------------------------------------------------


@attrs.frozen
class DicomIdentifiers:
    """The four values Orthanc hashes into its identifiers, as Orthanc reads them."""

    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str


def identifiers(
    ds: Dataset, default_encoding: Encoding | str = Encoding.LATIN1
) -> DicomIdentifiers:
    """DicomInstanceHasher's inputs: an absent PatientID is ""; values keep leading spaces."""
    charset = detect_charset(ds, default_encoding)
    return DicomIdentifiers(
        *(main_string_value(ds, tag, charset=charset) or "" for tag in IDENTIFIER_TAGS)
    )


def transfer_syntax_uid(ds: Dataset) -> str:
    """Orthanc's "TransferSyntax" metadata, guessed from the encoding for a bare dataset."""
    meta: Any = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return str(uid)
    implicit, little_endian = ds.original_encoding
    if implicit in (None, True):
        return IMPLICIT_LITTLE_ENDIAN
    return EXPLICIT_LITTLE_ENDIAN if little_endian else EXPLICIT_BIG_ENDIAN


def sop_class_uid(ds: Dataset) -> str | None:
    """Orthanc's "SopClassUid" metadata."""
    return main_string_value(ds, SOP_CLASS_UID)
