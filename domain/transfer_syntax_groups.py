"""Orthanc's groups of transfer syntaxes, as its XXXTransferSyntaxAccepted options and the
Is<Group>TransferSyntaxAccepted Lua callbacks name them (ServerEnumerations.cpp)."""

from __future__ import annotations

_JPEG_PROCESSES = (50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 70)

TRANSFER_SYNTAX_GROUPS: dict[str, tuple[str, ...]] = {
    "Deflated": ("1.2.840.10008.1.2.1.99",),
    "Jpeg": tuple(f"1.2.840.10008.1.2.4.{n}" for n in _JPEG_PROCESSES),
    "Jpeg2000": tuple(f"1.2.840.10008.1.2.4.{n}" for n in (90, 91, 92, 93)),
    "JpegLossless": ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"),  # JPEG-LS
    "Jpip": ("1.2.840.10008.1.2.4.94", "1.2.840.10008.1.2.4.95"),
    "Mpeg2": ("1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101"),
    "Mpeg4": tuple(f"1.2.840.10008.1.2.4.{n}" for n in (102, 103, 104, 105, 106)),
    "Rle": ("1.2.840.10008.1.2.5",),
    "H265": ("1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108"),
}
