"""Images and frames, as Orthanc 1.10.1 answers them: /instances/{id}/preview, /rendered,
/image-uint8, /image-uint16, /image-int16, /matlab, /numpy, /pdf, and under
/instances/{id}/frames/{n}/ the same (a frame's /numpy is 2-D) with /raw and /raw.gz.

Decoding is domain.pixel_frames, the conversions and encodings domain.image_extraction. As in
Orthanc, the image routes answer PNG unless the Accept header asks for JPEG (`quality`) or PAM;
an unknown instance, a frame out of range, a bad argument or an encoding that cannot be given
is a 404 with no body, an image that cannot be decoded or converted a 415 with no body. A file
whose pixel data lies about its size is a 415 that says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from api.context import read_connection
from api.dicom_files import read_pixel_dataset
from api.errors import OrthancCode, OrthancError
from domain import image_extraction as extraction
from domain import pixel_frames as frames
from domain.dicom_files import InvalidDicomFile
from domain.image_extraction import Mode, Rendering
from domain.levels import INSTANCE
from projections.hierarchy import queries as hierarchy

PNG, JPEG, PAM = "image/png", "image/jpeg", "image/x-portable-arbitrarymap"
_ENCODINGS = (PNG, JPEG, PAM)
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
_PER_FRAME = 0x52009230  # PerFrameFunctionalGroupsSequence
INSTANCE_PATH = "/instances/{resource_id:str}"
FRAME_PATH = INSTANCE_PATH + "/frames/{frame:str}"


class _Silent(Exception):
    """Orthanc answers these image requests with a bare status and no body."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _bare(status: int) -> Response[bytes]:
    return Response(b"", status_code=status, media_type="text/plain")


def _dataset(request: Request, instance_id: str) -> Dataset:
    with read_connection(request) as conn:
        row = hierarchy.get_resource(conn, INSTANCE, instance_id)
    if row is None:
        raise frames.FrameOutOfRange(f"Unknown instance {instance_id}")
    try:
        return read_pixel_dataset(request, row)
    except InvalidDicomFile as invalid:
        raise frames.UndecodableFrame(str(invalid)) from None


def _frame_number(text: str) -> int:
    if not text.isdigit():
        raise _Silent(404)
    return int(text)


# -- arguments -------------------------------------------------------------------------------------


def query_flag(text: str | None, default: bool, name: str) -> bool:
    """A boolean query argument as Orthanc reads it (1/true/empty, 0/false)."""
    if text is None:
        return default
    if text.lower() in ("1", "true", ""):
        return True
    if text.lower() in ("0", "false"):
        return False
    raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, f"Bad value for argument: {name}")


def _number(value: str | None, default: float, name: str) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise _Silent(404) from None  # Orthanc: "Bad value for argument", swallowed
    if not math.isfinite(number):
        raise _Silent(404)
    return number


def _size(value: str | None) -> int:
    if value is None:
        return 0
    try:
        number = int(value)
    except ValueError:
        raise _Silent(404) from None
    if number < 0:
        raise _Silent(404)
    return number


def _quality(request: Request) -> int:
    text = request.query_params.get("quality", "90")
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise _Silent(415)  # Orthanc's BadRequest, answered as an unsupported image
    return int(text)


def _negotiated(accept: str | None) -> str | None:
    """The encoding an Accept header asks for (PNG without one), None if none of them."""
    if not accept:
        return PNG
    ranges = []
    for order, part in enumerate(accept.split(",")):
        media, *parameters = (p.strip() for p in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((-quality, order, media.lower()))
    for _, _, media in sorted(ranges):
        kind, _, subtype = media.partition("/")
        for encoding in _ENCODINGS:
            wanted_kind, wanted_subtype = encoding.split("/")
            if kind in ("*", wanted_kind) and subtype in ("*", wanted_subtype):
                return encoding
    return None


# -- answering -------------------------------------------------------------------------------------


def _encoded(request: Request, image: extraction.Image) -> Response[bytes]:
    quality = _quality(request)  # checked whatever the encoding, as Orthanc does
    encoding = _negotiated(request.headers.get("accept"))
    if encoding is None:
        raise _Silent(404)
    if encoding == JPEG:
        try:
            return Response(extraction.jpeg(image, quality), media_type=JPEG)
        except extraction.BadEncoding:
            raise _Silent(404) from None
    if encoding == PAM:
        return Response(extraction.pam(image), media_type=PAM)
    return Response(extraction.png(image), media_type=PNG)


def _image_answer(make: Callable[[], Response[bytes]]) -> Response[bytes]:
    """Orthanc's handling of the image routes' failures."""
    try:
        return make()
    except _Silent as silent:
        return _bare(silent.status)
    except (frames.FrameOutOfRange, frames.NoPixelData) as missing:
        return _bare(404 if isinstance(missing, frames.FrameOutOfRange) else 415)
    except (frames.UndecodableFrame, extraction.NotConvertible):
        return _bare(415)
    except frames.LyingPixelData as lie:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, str(lie), http_status=415) from None


def _extracted(request: Request, instance_id: str, frame: str, mode: Mode) -> Response[bytes]:
    def make() -> Response[bytes]:
        index = _frame_number(frame)
        ds = _dataset(request, instance_id)
        decoded = frames.decode_frame(ds, index)
        invert = mode is Mode.PREVIEW and _monochrome1(ds)
        return _encoded(request, extraction.extracted(decoded, mode, invert))

    return _image_answer(make)


def _monochrome1(ds: Dataset) -> bool:
    return str(ds.get("PhotometricInterpretation") or "").strip() == "MONOCHROME1"


def _rendered(request: Request, instance_id: str, frame: str) -> Response[bytes]:
    def make() -> Response[bytes]:
        index = _frame_number(frame)
        query = request.query_params
        ds = _dataset(request, instance_id)
        decoded = frames.decode_frame(ds, index)
        intercept, slope = rescale_of(ds, index)
        center, width = default_window(ds, index)
        rendering = Rendering(
            rescale_intercept=intercept,
            rescale_slope=slope,
            window_center=_number(query.get("window-center"), center, "window-center"),
            window_width=_number(query.get("window-width"), width, "window-width"),
            width=_size(query.get("width")),
            height=_size(query.get("height")),
            smooth=_smooth(query.get("smooth")),
            invert=_monochrome1(ds),
        )
        return _encoded(request, extraction.rendered(decoded, rendering))

    return _image_answer(make)


def _smooth(text: str | None) -> bool:
    try:
        return query_flag(text, False, "smooth")
    except OrthancError:
        raise _Silent(404) from None


# -- the file's rescale and window ---------------------------------------------------------------


def _first_number(value: Any) -> float | None:
    """The first of a DS value's numbers, None if it has none."""
    if isinstance(value, list | tuple | MultiValue):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _per_frame_item(ds: Dataset, index: int, sequence: str) -> Dataset | None:
    groups = ds.get(_PER_FRAME)
    if groups is None or index >= len(groups.value):
        return None
    inner = groups.value[index].get(sequence)
    return inner[0] if inner else None


def rescale_of(ds: Dataset, index: int) -> tuple[float, float]:
    """(intercept, slope), as Orthanc reads them (none for an RT dose)."""
    if str(ds.get("SOPClassUID") or "") == RT_DOSE:
        return 0.0, 1.0
    for source in (ds, _per_frame_item(ds, index, "PixelValueTransformationSequence")):
        if source is None:
            continue
        intercept = _first_number(source.get("RescaleIntercept"))
        slope = _first_number(source.get("RescaleSlope"))
        if intercept is not None and slope is not None:
            return intercept, slope
    return 0.0, 1.0


def default_window(ds: Dataset, index: int) -> tuple[float, float]:
    """(center, width): the file's first window, else the whole range of BitsStored."""
    for source in (ds, _per_frame_item(ds, index, "FrameVOILUTSequence")):
        if source is None:
            continue
        center = _first_number(source.get("WindowCenter"))
        width = _first_number(source.get("WindowWidth"))
        if center is not None and width is not None:
            return center, width
    bits = int(ds.get("BitsStored") or 0) or 8
    return float(1 << bits) / 2.0, float(1 << bits)


# -- routes ----------------------------------------------------------------------------------------


def _extraction_handlers(mode: Mode) -> list[HTTPRouteHandler]:
    @get(f"{INSTANCE_PATH}/{mode.value}", name=f"instance-{mode.value}", sync_to_thread=True)
    def of_instance(request: Request, resource_id: str) -> Response[bytes]:
        return _extracted(request, resource_id, "0", mode)

    @get(f"{FRAME_PATH}/{mode.value}", name=f"frame-{mode.value}", sync_to_thread=True)
    def of_frame(request: Request, resource_id: str, frame: str) -> Response[bytes]:
        return _extracted(request, resource_id, frame, mode)

    return [of_instance, of_frame]


@get(f"{INSTANCE_PATH}/rendered", name="instance-rendered", sync_to_thread=True)
def rendered_instance(request: Request, resource_id: str) -> Response[bytes]:
    return _rendered(request, resource_id, "0")


@get(f"{FRAME_PATH}/rendered", name="frame-rendered", sync_to_thread=True)
def rendered_frame(request: Request, resource_id: str, frame: str) -> Response[bytes]:
    return _rendered(request, resource_id, frame)


def image_handlers() -> list[HTTPRouteHandler]:
    extracted = [handler for mode in Mode for handler in _extraction_handlers(mode)]
    return [*extracted, rendered_instance, rendered_frame]
