"""Transcoding: a dataset's pixel data written again in another transfer syntax.

Decoding is domain.pixel_frames (every syntax it reads). Encoding, by target:

* Implicit and Explicit VR Little Endian, Deflated Explicit VR Little Endian: the decoded
  frames as native pixel data (colour as RGB, interleaved);
* RLE Lossless: pydicom's own encoder;
* JPEG Baseline (8-bit samples), JPEG Lossless (process 14, and its first-order prediction,
  selection value 1): libjpeg-turbo through imagecodecs;
* JPEG-LS Lossless and near-lossless: CharLS through imagecodecs;
* JPEG 2000 (lossless only, and lossy): OpenJPEG through imagecodecs.

Colour frames go to lossy JPEG as YBR_FULL_422, to the others as RGB. A lossy target marks the
instance (LossyImageCompression "01", its method), as PS3.3 C.7.6.1.1.5 asks; its SOP
Instance UID is kept, as Orthanc keeps it unless asked otherwise. Anything the chosen codec
cannot take (16-bit samples to JPEG Baseline, a syntax not listed) is refused before the
dataset is touched.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from domain import pixel_frames as frames
from domain.dicom_files import parse_dataset
from domain.dicom_modification import ModificationRefused
from domain.dicom_writing import dataset_bytes

NATIVE = {ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}
LOSSY = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
}
TARGETS = frozenset(
    {*NATIVE, RLELossless, JPEGBaseline8Bit, JPEGLossless, JPEGLosslessSV1}
    | {JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000}
)
JPEG_QUALITY = 90  # Orthanc's default for lossy JPEG
JPEG_2000_PSNR = 80  # dB of the samples' range: a lossy JPEG 2000 the eye cannot tell apart
# How colour frames are held: JPEG Baseline in YCbCr, JPEG 2000 with its colour transforms.
_COLOUR_SPACES = {
    JPEGBaseline8Bit: "YBR_FULL_422",
    JPEG2000Lossless: "YBR_RCT",
    JPEG2000: "YBR_ICT",
}


_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


class CannotTranscode(ValueError):
    """The target syntax is unknown, or cannot hold these pixels."""


def requested_syntax(value: Any) -> UID:
    """The `Transcode` a request asks for, checked as Orthanc checks it; raises
    ModificationRefused (its codes name Orthanc's errors), UNSUPPORTED_HERE for a syntax
    Orthanc knows and Chronicle does not write."""
    if not isinstance(value, str):
        raise ModificationRefused("BAD_FILE_FORMAT", "String value expected in field: Transcode")
    text = value.strip()
    syntax = UID(text) if _UID.fullmatch(text) else UID("0")
    if not syntax.is_transfer_syntax:
        raise ModificationRefused("PARAMETER_OUT_OF_RANGE", f"Unknown transfer syntax: {value}")
    if syntax not in TARGETS:
        raise ModificationRefused("UNSUPPORTED_HERE", f"Chronicle does not write {syntax.name}")
    return syntax


# What transcoding a file may raise besides a refused request.
UNTRANSCODABLE = (
    CannotTranscode,
    frames.UndecodableFrame,
    frames.LyingPixelData,
    frames.NoPixelData,
    frames.FrameOutOfRange,
)


def transcoded_bytes(data: bytes, target: str) -> bytes:
    """A DICOM file in another transfer syntax; raises CannotTranscode or
    domain.pixel_frames' errors."""
    return dataset_bytes(transcoded(parse_dataset(data), target))


def transfer_syntax(ds: Dataset) -> UID:
    return UID(str(ds.file_meta.get("TransferSyntaxUID") or ImplicitVRLittleEndian))


def transcoded(ds: Dataset, target: str) -> Dataset:
    """`ds` in the `target` transfer syntax (changed in place, and returned); raises
    CannotTranscode, or domain.pixel_frames' errors for pixels that cannot be decoded."""
    syntax = UID(target)
    if syntax not in TARGETS:
        raise CannotTranscode(f"Transcoding to {target} is not supported")
    current = transfer_syntax(ds)
    if current == syntax or frames.PIXEL_DATA not in ds:
        ds.file_meta.TransferSyntaxUID = syntax
        return ds
    if current in NATIVE and syntax in NATIVE:  # the same bytes, another encoding around them
        ds.file_meta.TransferSyntaxUID = syntax
        return ds
    decoded = [frames.decode_frame(ds, index) for index in range(frames.frame_count(ds))]
    _check(decoded, syntax)
    if syntax in NATIVE:
        _native(ds, decoded)
    elif syntax == RLELossless:
        _native(ds, decoded)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    else:
        _encapsulated(ds, decoded, syntax)
    ds.file_meta.TransferSyntaxUID = syntax
    if syntax in LOSSY:
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = LOSSY[syntax]
    return ds


def _check(decoded: list[frames.DecodedFrame], syntax: UID) -> None:
    if not decoded:
        raise CannotTranscode("The instance has no frame")
    first = decoded[0]
    if syntax == JPEGBaseline8Bit and first.pixels.dtype.itemsize != 1:
        raise CannotTranscode("JPEG Baseline holds 8-bit samples only")
    if first.format is frames.PixelFormat.RGB48 and syntax not in NATIVE:
        raise CannotTranscode("16-bit colour is written uncompressed only")


def _photometric(ds: Dataset, first: frames.DecodedFrame, syntax: UID) -> None:
    if first.format.is_color:
        ds.PhotometricInterpretation = _COLOUR_SPACES.get(syntax, "RGB")
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
    elif str(ds.get("PhotometricInterpretation") or "") not in ("MONOCHROME1", "MONOCHROME2"):
        ds.PhotometricInterpretation = "MONOCHROME2"
    for keyword in ("RedPaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData"):
        if keyword in ds and first.format.is_color:
            del ds[keyword]


def _native(ds: Dataset, decoded: list[frames.DecodedFrame]) -> None:
    _photometric(ds, decoded[0], ExplicitVRLittleEndian)
    data = b"".join(_little_endian(frame.pixels).tobytes() for frame in decoded)
    ds.PixelData = data + b"\0" * (len(data) % 2)
    ds["PixelData"].VR = "OW" if decoded[0].pixels.dtype.itemsize > 1 else "OB"
    ds["PixelData"].is_undefined_length = False


def _little_endian(pixels: Any) -> Any:
    return np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<"), copy=False)


def _encapsulated(ds: Dataset, decoded: list[frames.DecodedFrame], syntax: UID) -> None:
    import imagecodecs

    _photometric(ds, decoded[0], syntax)
    bits = int(ds.get("BitsStored") or decoded[0].pixels.dtype.itemsize * 8)
    encoded = []
    for frame in decoded:
        pixels = np.ascontiguousarray(frame.pixels)
        if pixels.dtype == np.int16 and syntax not in (JPEG2000, JPEG2000Lossless):
            pixels = pixels.view(np.uint16)  # lossless JPEGs keep the two's complement bits
        encoded.append(bytes(_encode(imagecodecs, pixels, syntax, bits)))
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    if decoded[0].format.is_color:
        ds.PlanarConfiguration = 0


def _encode(codecs: Any, pixels: Any, syntax: UID, bits: int) -> Any:
    colour = pixels.ndim == 3
    if syntax == JPEGBaseline8Bit:
        return codecs.jpeg8_encode(
            pixels, level=JPEG_QUALITY, subsampling="422" if colour else None
        )
    if syntax in (JPEGLossless, JPEGLosslessSV1):
        space = "RGB" if colour else None
        return codecs.jpeg8_encode(
            pixels, lossless=True, predictor=1, bitspersample=bits, colorspace=space,
            outcolorspace=space,
        )  # fmt: skip
    if syntax in (JPEGLSLossless, JPEGLSNearLossless):
        return codecs.jpegls_encode(pixels, level=0 if syntax == JPEGLSLossless else 2)
    if syntax == JPEG2000Lossless:
        return codecs.jpeg2k_encode(pixels, codecformat="J2K", reversible=True, bitspersample=bits)
    return codecs.jpeg2k_encode(pixels, level=JPEG_2000_PSNR, codecformat="J2K", bitspersample=bits)
