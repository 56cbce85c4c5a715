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
import zlib
from typing import Any

import attrs
import pydicom
from pydicom import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError

from domain.dicom_structure import (
    DEFAULT_BOUNDS,
    EXPLICIT_BIG_ENDIAN,
    EXPLICIT_LITTLE_ENDIAN,
    IMPLICIT_LITTLE_ENDIAN,
    InputBounds,
    UnreadableFile,
    check_structure,
    explicit_header,
    walk_meta,
    without_padding,
)
from domain.dicom_text import Encoding, detect_charset, main_string_value
from domain.parsed_dicom import ParsedDicom

PATIENT_ID = 0x00100020
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
SOP_INSTANCE_UID = 0x00080018
SOP_CLASS_UID = 0x00080016
# What DicomInstanceHasher hashes, in the order of DicomIdentifiers' fields.
IDENTIFIER_TAGS = (PATIENT_ID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID)

# What pydicom raises on bytes that passed the structure check but still cannot be read.
PARSER_ERRORS = (
    InvalidDicomError,
    BytesLengthException,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    NotImplementedError,
    OSError,
    struct.error,
    zlib.error,
    RecursionError,
)


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


def _unreadable(size: int, error: UnreadableFile) -> InvalidDicomFile:
    if not error.not_dicom:
        return _unparsable(size, str(error))
    return InvalidDicomFile(
        f"Not a DICOM file ({error})",
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


def pixel_data_offset(data: bytes) -> int | None:
    """Orthanc's "PixelDataOffset" metadata: where (7fe0,0010) starts in a Part 10 file.

    Orthanc records none for files without pixel data, deflated files and bare datasets.
    """
    if data[128:132] != b"DICM":
        return None
    try:
        return check_structure(data).pixel_data_offset
    except UnreadableFile as error:
        raise _unreadable(len(data), error) from None


# --- Parsing --------------------------------------------------------------------------------------


def read_dicom(
    data: bytes, with_pixel_data: bool = False, bounds: InputBounds = DEFAULT_BOUNDS
) -> ParsedDicom:
    """Checks the whole file's structure within `bounds`, then parses it (up to the pixel data
    unless `with_pixel_data`); the JSON views take the result as it is."""
    if not data:
        raise _empty()
    try:
        structure = check_structure(data, bounds)
    except UnreadableFile as error:
        raise _unreadable(len(data), error) from None
    pixel_data = structure.pixel_data_offset
    stop_before_pixels = not with_pixel_data and pixel_data is not None
    try:
        ds = pydicom.dcmread(
            io.BytesIO(without_padding(data, structure)),
            force=True,
            stop_before_pixels=stop_before_pixels,
        )
    except PARSER_ERRORS as error:
        raise _unparsable(len(data), str(error) or type(error).__name__) from None
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
    position, _ = walk_meta(data, start)
    tags = []
    while position < declared_end and position + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, position)
        header, length = explicit_header(data, position, little_endian=True)
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
