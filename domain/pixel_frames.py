"""The frames of an instance's pixel data: how many there are, each one's bytes as stored
(/frames/{n}/raw), and each one decoded into the pixel formats Orthanc decodes into:

* GRAY8 (uint8), GRAY16 (uint16), SIGNED16 (int16): one sample per pixel, by BitsAllocated
  and PixelRepresentation (values sign-extended and masked to BitsStored);
* RGB24 (uint8, three channels): colour images, YBR and palette colour converted to RGB;
  RGB48 (uint16) for 16-bit colour.

Decoding goes through pydicom's pixel handlers with the pylibjpeg plugins (JPEG, JPEG-LS,
JPEG 2000, RLE), and imagecodecs for 12-bit JPEG, which they do not decode. Before anything is
decoded, the image's declared size is checked against the bytes present and against a
ceiling, so that a file that lies about its size is refused rather than read past its end or
allowed a huge allocation.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs
import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import UID, JPEGExtended12Bit

PIXEL_DATA = 0x7FE00010
MAXIMUM_FRAME_BYTES = 1 << 30  # one decoded frame, at most (the ceiling of a lie)
_JPEG_MIME = "image/jpeg"
_JPEG_2000_MIME = "image/jp2"
_RAW_MIME = {
    "1.2.840.10008.1.2.4.50": _JPEG_MIME,
    "1.2.840.10008.1.2.4.90": _JPEG_2000_MIME,
    "1.2.840.10008.1.2.4.91": _JPEG_2000_MIME,
}


class PixelFormat(enum.Enum):
    GRAY8 = "Grayscale8"
    GRAY16 = "Grayscale16"
    SIGNED16 = "SignedGrayscale16"
    RGB24 = "RGB24"
    RGB48 = "RGB48"

    @property
    def is_color(self) -> bool:
        return self in (PixelFormat.RGB24, PixelFormat.RGB48)


@attrs.frozen
class DecodedFrame:
    pixels: Any  # numpy array: (rows, columns) or (rows, columns, 3)
    format: PixelFormat


class NoPixelData(LookupError):
    """The instance has no image (a PDF, a structured report...)."""


class FrameOutOfRange(LookupError):
    pass


class UndecodableFrame(ValueError):
    """No decoder reads this image (its syntax, its photometric interpretation...)."""


class LyingPixelData(ValueError):
    """The image's declared size does not fit the bytes present, or exceeds the ceiling."""


def frame_count(ds: Dataset) -> int:
    if PIXEL_DATA not in ds:
        return 0
    try:
        return max(int(ds.get("NumberOfFrames") or 1), 1)
    except (TypeError, ValueError):
        return 1


def _frame_bytes(ds: Dataset) -> int:
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    samples = int(ds.get("SamplesPerPixel") or 1)
    bits = int(ds.get("BitsAllocated") or 0)
    if rows <= 0 or columns <= 0 or bits <= 0 or samples <= 0:
        raise LyingPixelData("Rows, Columns, BitsAllocated or SamplesPerPixel is missing or 0")
    size = rows * columns * samples * bits // 8
    if size > MAXIMUM_FRAME_BYTES:
        raise LyingPixelData(f"A frame of {size} bytes exceeds the {MAXIMUM_FRAME_BYTES} allowed")
    return size


def _checked(ds: Dataset, index: int) -> UID:
    """The transfer syntax, once the frame is known to exist within the bytes present."""
    if PIXEL_DATA not in ds:
        raise NoPixelData("The instance has no pixel data")
    count = frame_count(ds)
    if not 0 <= index < count:
        raise FrameOutOfRange(f"Frame {index} of {count}")
    frame_size = _frame_bytes(ds)
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID") or "1.2.840.10008.1.2"))
    if not syntax.is_compressed:
        present = len(ds.PixelData or b"")
        if present < frame_size * count:
            raise LyingPixelData(
                f"{count} frames of {frame_size} bytes declared, {present} bytes present"
            )
    return syntax


def raw_frame(ds: Dataset, index: int) -> tuple[bytes, str]:
    """The frame's bytes as stored (a compressed frame's codestream), and their MIME type."""
    syntax = _checked(ds, index)
    if not syntax.is_compressed:
        size = _frame_bytes(ds)
        return bytes(ds.PixelData[index * size : (index + 1) * size]), "application/octet-stream"
    frames = generate_frames(ds.PixelData, number_of_frames=frame_count(ds))
    for number, frame in enumerate(frames):
        if number == index:
            return bytes(frame), _RAW_MIME.get(str(syntax), "application/octet-stream")
    raise FrameOutOfRange(f"Frame {index} is not in the pixel data")


def decode_frame(ds: Dataset, index: int) -> DecodedFrame:
    syntax = _checked(ds, index)
    samples = int(ds.get("SamplesPerPixel") or 1)
    photometric = str(ds.get("PhotometricInterpretation") or "")
    try:
        if syntax == JPEGExtended12Bit:
            pixels = _decode_jpeg_12_bit(ds, index)
        else:
            pixels = pixel_array(ds, index=index)
        if photometric == "PALETTE COLOR":
            pixels = apply_color_lut(pixels, ds)
            samples = 3
    except (RuntimeError, ValueError, NotImplementedError, KeyError, AttributeError) as error:
        raise UndecodableFrame(str(error)) from None
    return DecodedFrame(*_in_orthanc_format(np.asarray(pixels), samples))


def _decode_jpeg_12_bit(ds: Dataset, index: int) -> Any:
    import imagecodecs

    raw, _ = raw_frame(ds, index)
    return imagecodecs.jpeg8_decode(raw)


def _in_orthanc_format(pixels: Any, samples: int) -> tuple[Any, PixelFormat]:
    if samples == 3 and pixels.ndim == 3:
        if pixels.dtype.itemsize == 1:
            return pixels.astype(np.uint8, copy=False), PixelFormat.RGB24
        if pixels.dtype.itemsize == 2:
            return pixels.astype(np.uint16, copy=False), PixelFormat.RGB48
    if samples == 1 and pixels.ndim == 2:
        if pixels.dtype == np.uint8:
            return pixels, PixelFormat.GRAY8
        if pixels.dtype == np.uint16:
            return pixels, PixelFormat.GRAY16
        if pixels.dtype in (np.int8, np.int16):
            return pixels.astype(np.int16, copy=False), PixelFormat.SIGNED16
    raise UndecodableFrame(f"Pixels of type {pixels.dtype} and shape {pixels.shape}")
