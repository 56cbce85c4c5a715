"""What Orthanc makes of a decoded frame (domain.pixel_frames) for /preview, /image-uint8,
/image-uint16, /image-int16 and /rendered, and how it writes it (PNG, JPEG, PAM, Octave/Matlab
text, NumPy), with Orthanc's arithmetic so that the pixels come out the same:

* preview: a grayscale image's full range stretched to [0, 255] (rounded), colour as it is,
  MONOCHROME1 inverted;
* uint8, uint16, int16: grayscale values clamped to the type's range, colour refused;
* rendered: the modality rescale and the window (the file's, the query's, or the whole range
  of BitsStored) mapped to [0, 255] in single precision, then resized to the asked width or
  height by nearest neighbour, after a 5x5 Gaussian smoothing when asked and shrinking.
"""

from __future__ import annotations

import enum
import io
import math
from typing import Any

import attrs
import numpy as np

from domain.pixel_frames import DecodedFrame, PixelFormat

Pixels = Any  # a numpy array


class Mode(enum.Enum):
    PREVIEW = "preview"
    UINT8 = "image-uint8"
    UINT16 = "image-uint16"
    INT16 = "image-int16"


class NotConvertible(ValueError):
    """The frame cannot be given in the asked form (a colour image as grayscale values...)."""


class BadEncoding(ValueError):
    """The asked encoding cannot hold the image (JPEG of 16-bit values)."""


_TARGETS = {
    Mode.UINT8: (PixelFormat.GRAY8, np.uint8),
    Mode.UINT16: (PixelFormat.GRAY16, np.uint16),
    Mode.INT16: (PixelFormat.SIGNED16, np.int16),
}


@attrs.frozen
class Image:
    pixels: Pixels
    format: PixelFormat


def _clamped(values: Pixels, dtype: Any) -> Pixels:
    limits = np.iinfo(dtype)
    return np.clip(values, limits.min, limits.max).astype(dtype)


def extracted(frame: DecodedFrame, mode: Mode, invert: bool) -> Image:
    if mode is Mode.PREVIEW:
        image = _preview(frame)
    else:
        target, dtype = _TARGETS[mode]
        if frame.format.is_color:
            raise NotConvertible(f"A {frame.format.value} image has no {mode.value} form")
        image = Image(_clamped(frame.pixels.astype(np.int64), dtype), target)
    return _inverted(image) if invert else image


def _inverted(image: Image) -> Image:
    if image.format is not PixelFormat.GRAY8:
        raise NotConvertible(f"Cannot invert a {image.format.value} image")
    return Image(255 - image.pixels, image.format)


def _preview(frame: DecodedFrame) -> Image:
    if frame.format is PixelFormat.RGB24:
        return Image(frame.pixels, frame.format)
    if frame.format is PixelFormat.RGB48:
        return Image((frame.pixels >> 8).astype(np.uint8), PixelFormat.RGB24)
    pixels = frame.pixels
    low, high = int(pixels.min()), int(pixels.max())
    if low == high:
        return Image(np.zeros(pixels.shape, np.uint8), PixelFormat.GRAY8)
    scaling = np.float32(255.0) / np.float32(high - low)
    stretched = shift_scale(pixels, np.float32(-low), scaling, pixels.dtype, rounded=True)
    return Image(_clamped(stretched.astype(np.int64), np.uint8), PixelFormat.GRAY8)


def shift_scale(pixels: Pixels, offset: Any, scaling: Any, dtype: Any, rounded: bool) -> Pixels:
    """Orthanc's ShiftScale: (x + offset) * scaling as a * x + b in single precision, clamped
    to the target type, rounded half away from zero or floored."""
    a = np.float32(scaling)
    b = np.float32(np.float32(offset) * a)
    values = a * pixels.astype(np.float32) + b
    limits = np.iinfo(dtype)
    low, high = np.float32(limits.min), np.float32(limits.max)
    if rounded:
        inner = np.sign(values) * np.floor(np.abs(values) + np.float32(0.5))
    else:
        inner = np.floor(values)
    result = np.where(values >= high, high, np.where(values <= low, low, inner))
    return result.astype(dtype)


# -- rendered -------------------------------------------------------------------------------------


@attrs.frozen
class Rendering:
    """What /rendered applies: the modality rescale, the window, the asked size."""

    rescale_intercept: float = 0.0
    rescale_slope: float = 1.0
    window_center: float = 128.0
    window_width: float = 256.0
    width: int = 0  # 0: not asked
    height: int = 0
    smooth: bool = False
    invert: bool = False


def rendered(frame: DecodedFrame, rendering: Rendering) -> Image:
    rows, columns = frame.pixels.shape[:2]
    target = _target_size(columns, rows, rendering.width, rendering.height)
    if frame.format.is_color:
        image = _preview(frame)
    else:
        window_width = max(rendering.window_width, 1.0)
        slope = rendering.rescale_slope
        if abs(slope) <= 0.0001:
            slope = 0.0001
        scaling = 255.0 * slope / window_width
        offset = (rendering.rescale_intercept - rendering.window_center + window_width / 2) / slope
        pixels = shift_scale(frame.pixels, offset, scaling, np.uint8, rounded=False)
        image = Image(pixels, PixelFormat.GRAY8)
    if target != (columns, rows):
        pixels = image.pixels
        if rendering.smooth and (target[0] < columns or target[1] < rows):
            pixels = _smoothed(pixels)
        image = Image(_resized(pixels, target), image.format)
    return _inverted(image) if rendering.invert and not frame.format.is_color else image


def _target_size(columns: int, rows: int, width: int, height: int) -> tuple[int, int]:
    if not columns or not rows:
        return columns, rows
    ratio: Any = np.float32(1.0)
    if width and height:
        ratio = min(np.float32(width) / np.float32(columns), np.float32(height) / np.float32(rows))
    elif width:
        ratio = np.float32(width) / np.float32(columns)
    elif height:
        ratio = np.float32(height) / np.float32(rows)
    return _iround(np.float32(ratio) * np.float32(columns)), _iround(
        np.float32(ratio) * np.float32(rows)
    )


def _iround(value: Any) -> int:
    return math.floor(abs(float(value)) + 0.5) * (1 if value >= 0 else -1)


def _resized(pixels: Pixels, size: tuple[int, int]) -> Pixels:
    """Nearest neighbour, with Orthanc's lookup of the source pixel of each target pixel."""
    width, height = size
    rows, columns = pixels.shape[:2]
    if not width or not height:
        return np.zeros((height, width, *pixels.shape[2:]), pixels.dtype)
    scale_x = np.float32(columns) / np.float32(width)
    scale_y = np.float32(rows) / np.float32(height)
    xs = np.floor((np.arange(width, dtype=np.float32) + np.float32(0.5)) * scale_x)
    ys = np.floor((np.arange(height, dtype=np.float32) + np.float32(0.5)) * scale_y)
    xs = np.clip(xs.astype(np.int64), 0, columns - 1)
    ys = np.clip(ys.astype(np.int64), 0, rows - 1)
    return pixels[np.ix_(ys, xs)] if pixels.ndim == 2 else pixels[ys][:, xs]


def _smoothed(pixels: Pixels) -> Pixels:
    """A separable [1 4 6 4 1] / 16 Gaussian, borders repeated, truncated."""
    kernel = np.array([1, 4, 6, 4, 1], np.float32) / np.float32(16)
    values = pixels.astype(np.float32)
    for axis in (1, 0):
        padding = [(0, 0)] * values.ndim
        padding[axis] = (2, 2)
        padded = np.pad(values, padding, mode="edge")
        length = values.shape[axis]
        values = sum(kernel[k] * np.take(padded, range(k, k + length), axis=axis) for k in range(5))
    return np.clip(np.floor(values), 0, 255).astype(pixels.dtype)


# -- encodings ------------------------------------------------------------------------------------


def png(image: Image) -> bytes:
    from PIL import Image as PillowImage

    pixels = image.pixels
    if image.format in (PixelFormat.GRAY16, PixelFormat.SIGNED16):
        picture = PillowImage.frombytes("I;16", (pixels.shape[1], pixels.shape[0]), _u16(pixels))
    else:
        picture = PillowImage.fromarray(np.ascontiguousarray(pixels))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _u16(pixels: Pixels) -> bytes:
    """16-bit values as little-endian unsigned words (int16 as two's complement)."""
    return bytes(np.ascontiguousarray(pixels.astype("<i4").astype("<u2")).tobytes())


def jpeg(image: Image, quality: int) -> bytes:
    if image.format not in (PixelFormat.GRAY8, PixelFormat.RGB24):
        raise BadEncoding(f"JPEG cannot hold a {image.format.value} image")
    from PIL import Image as PillowImage

    out = io.BytesIO()
    PillowImage.fromarray(np.ascontiguousarray(image.pixels)).save(
        out, format="JPEG", quality=quality
    )
    return out.getvalue()


def pam(image: Image) -> bytes:
    pixels = image.pixels
    rows, columns = pixels.shape[:2]
    depth = 3 if image.format.is_color else 1
    wide = image.format in (PixelFormat.GRAY16, PixelFormat.SIGNED16, PixelFormat.RGB48)
    kind = "RGB" if depth == 3 else "GRAYSCALE"
    header = (
        f"P7\nWIDTH {columns}\nHEIGHT {rows}\nDEPTH {depth}\nMAXVAL {65535 if wide else 255}\n"
        f"TUPLTYPE {kind}\nENDHDR\n"
    )
    data = pixels.astype("<i4").astype(">u2") if wide else pixels.astype(np.uint8)
    return header.encode("ascii") + np.ascontiguousarray(data).tobytes()


def matlab(frame: DecodedFrame) -> str:
    """Orthanc's Octave/Matlab text of a decoded frame."""
    pixels = frame.pixels
    if frame.format is PixelFormat.RGB24:
        rows, columns = pixels.shape[:2]
        body = "".join(f"{int(v)} " for row in pixels for v in row.reshape(-1))
        return f"double(permute(reshape([ {body}], [ 3 {rows} {columns} ]), [ 3 2 1 ]))"
    lines = ["".join(f"{_number(v)} " for v in row) for row in pixels]
    return "double([ " + "; ".join(lines) + "])"


def _number(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def numpy_array(
    frames: list[DecodedFrame], rescales: list[tuple[float, float]] | None, depth: bool
) -> bytes:
    """Orthanc's .npy of the frames (shape (frames, rows, columns, channels) when `depth`,
    else (rows, columns, channels)); `rescales`: (intercept, slope) per frame to answer
    rescaled single-precision values (colour frames stay as they are)."""
    first = frames[0]
    rows, columns = first.pixels.shape[:2]
    for frame in frames:
        if frame.pixels.shape[:2] != (rows, columns):
            raise NotConvertible("The size of the frames varies across the instance(s)")
        if frame.format is not first.format:
            raise NotConvertible("The pixel format of the frames varies across the instance(s)")
    if first.format is PixelFormat.RGB48:
        raise NotConvertible("NumPy answers do not hold 16-bit colour")
    rescaled = rescales is not None and first.format is not PixelFormat.RGB24
    descr = "<f4" if rescaled else _NUMPY_TYPES[first.format]
    channels = 3 if first.format.is_color else 1
    shape = f"{len(frames)}, " if depth else ""
    dimensions = f"({shape}{rows},{columns},{channels})"
    info = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {dimensions}, }}"
    minimum = 8 + 2 + len(info) + 1
    length = 64 * math.ceil(minimum / 64)
    header_length = len(info) + (length - minimum) + 1
    parts = [b"\x93NUMPY\x01\x00", header_length.to_bytes(2, "little"), info.encode("ascii")]
    parts.append(b" " * (length - minimum) + b"\n")
    for index, frame in enumerate(frames):
        if rescaled:
            assert rescales is not None
            parts.append(_rescaled(frame.pixels, *rescales[index]).astype("<f4").tobytes())
        else:
            parts.append(np.ascontiguousarray(frame.pixels).astype(descr).tobytes())
    return b"".join(parts)


def _rescaled(pixels: Pixels, intercept: float, slope: float) -> Pixels:
    """Orthanc's ShiftScale2 into single precision: slope * x + intercept, floored (as it
    floors every target type), and nothing done for the identity."""
    values = pixels.astype(np.float32)
    epsilon = np.finfo(np.float32).eps
    if abs(np.float32(intercept)) <= epsilon and abs(np.float32(slope) - 1) <= epsilon:
        return values
    return np.floor(np.float32(slope) * values + np.float32(intercept))


_NUMPY_TYPES = {
    PixelFormat.GRAY8: "<u1",
    PixelFormat.GRAY16: "<u2",
    PixelFormat.SIGNED16: "<i2",
    PixelFormat.RGB24: "<u1",
}
