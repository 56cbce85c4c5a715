"""The pixel data as data, as Orthanc 1.10.1 answers it: /instances/{id}/matlab, /numpy
(`compress`, `rescale`), /frames/{n}/matlab, /numpy, /raw, /raw.gz, and /instances/{id}/pdf
(the document of an Encapsulated PDF instance).

Unlike the image routes (api.routes.images), these answer Orthanc's JSON errors, except where
Orthanc gives a bare 404 (a frame number that is not a number, an instance with no PDF).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from pydicom.dataset import Dataset

from api.context import read_connection
from api.dicom_files import read_pixel_dataset
from api.errors import OrthancCode, OrthancError, unknown_resource
from api.routes.images import FRAME_PATH, INSTANCE_PATH, query_flag, rescale_of
from domain import image_extraction as extraction
from domain import pixel_frames as frames
from domain import slice_ordering as slices
from domain.dicom_files import InvalidDicomFile
from domain.levels import INSTANCE, SERIES
from projections.hierarchy import queries as hierarchy

PDF = "application/pdf"
OCTET_STREAM = "application/octet-stream"
_ENCAPSULATED_DOCUMENT = 0x00420011


def _bare_404() -> Response[bytes]:
    return Response(b"", status_code=404, media_type="text/plain")


def _not_implemented(details: str | None = None) -> OrthancError:
    return OrthancError(OrthancCode.NOT_IMPLEMENTED, details)


def _dataset(request: Request, instance_id: str) -> Dataset:
    with read_connection(request) as conn:
        row = hierarchy.get_resource(conn, INSTANCE, instance_id)
    if row is None:
        raise unknown_resource()
    try:
        return read_pixel_dataset(request, row)
    except InvalidDicomFile as invalid:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, str(invalid)) from None


def _decoded(ds: Dataset, index: int) -> frames.DecodedFrame:
    """The frame, or Orthanc's JSON error."""
    try:
        return frames.decode_frame(ds, index)
    except frames.NoPixelData:
        raise _not_implemented() from None
    except frames.FrameOutOfRange as missing:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, str(missing)) from None
    except frames.UndecodableFrame as error:
        raise _not_implemented(f"Cannot decode DICOM instance: {error}") from None
    except frames.LyingPixelData as lie:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, str(lie)) from None


def _flag(request: Request, name: str, default: bool) -> bool:
    return query_flag(request.query_params.get(name), default, name)


def _numpy_answer(
    request: Request, ds: Dataset, indexes: list[int], depth: bool
) -> Response[bytes]:
    compress = _flag(request, "compress", False)
    rescale = _flag(request, "rescale", True)
    decoded = [_decoded(ds, index) for index in indexes]
    rescales = [rescale_of(ds, index) for index in indexes] if rescale else None
    return _numpy_bytes(decoded, rescales, compress, depth)


def _numpy_bytes(
    decoded: list[frames.DecodedFrame],
    rescales: list[tuple[float, float]] | None,
    compress: bool,
    depth: bool = True,
) -> Response[bytes]:
    try:
        data = extraction.numpy_array(decoded, rescales, depth)
    except extraction.NotConvertible as refused:
        raise _not_implemented(str(refused)) from None
    if compress:  # numpy.savez's layout: one array named as a positional argument is
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("arr_0", data)
        data = out.getvalue()
    return Response(data, media_type=OCTET_STREAM)


@get(f"{INSTANCE_PATH}/numpy", name="instance-numpy", sync_to_thread=True)
def instance_numpy(request: Request, resource_id: str) -> Response[bytes]:
    ds = _dataset(request, resource_id)
    count = frames.frame_count(ds)
    if count == 0:
        raise _not_implemented()
    return _numpy_answer(request, ds, list(range(count)), depth=True)


@get(f"{FRAME_PATH}/numpy", name="frame-numpy", sync_to_thread=True)
def frame_numpy(request: Request, resource_id: str, frame: str) -> Response[bytes]:
    if not frame.isdigit():
        raise OrthancError(
            OrthancCode.PARAMETER_OUT_OF_RANGE,
            'Expected an unsigned integer for the "frame" argument',
        )
    ds = _dataset(request, resource_id)
    return _numpy_answer(request, ds, [int(frame)], depth=False)


def _matlab(request: Request, resource_id: str, frame: str) -> Response[bytes]:
    if not frame.isdigit():
        return _bare_404()
    decoded = _decoded(_dataset(request, resource_id), int(frame))
    return Response(extraction.matlab(decoded).encode("ascii"), media_type="text/plain")


@get(f"{INSTANCE_PATH}/matlab", name="instance-matlab", sync_to_thread=True)
def instance_matlab(request: Request, resource_id: str) -> Response[bytes]:
    return _matlab(request, resource_id, "0")


@get(f"{FRAME_PATH}/matlab", name="frame-matlab", sync_to_thread=True)
def frame_matlab(request: Request, resource_id: str, frame: str) -> Response[bytes]:
    return _matlab(request, resource_id, frame)


def _raw(request: Request, resource_id: str, frame: str, compressed: bool) -> Response[bytes]:
    if not frame.isdigit():
        return _bare_404()
    ds = _dataset(request, resource_id)
    try:
        data, mime = frames.raw_frame(ds, int(frame))
    except frames.NoPixelData:
        raise _not_implemented() from None
    except frames.FrameOutOfRange as missing:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, str(missing)) from None
    except frames.LyingPixelData as lie:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, str(lie)) from None
    if compressed:
        return Response(gzip.compress(data), media_type="application/gzip")
    return Response(data, media_type=mime)


@get(f"{FRAME_PATH}/raw", name="frame-raw", sync_to_thread=True)
def frame_raw(request: Request, resource_id: str, frame: str) -> Response[bytes]:
    return _raw(request, resource_id, frame, compressed=False)


@get(f"{FRAME_PATH}/raw.gz", name="frame-raw-gz", sync_to_thread=True)
def frame_raw_gz(request: Request, resource_id: str, frame: str) -> Response[bytes]:
    return _raw(request, resource_id, frame, compressed=True)


@get(f"{INSTANCE_PATH}/pdf", name="instance-pdf", sync_to_thread=True)
def instance_pdf(request: Request, resource_id: str) -> Response[bytes]:
    """The encapsulated document of a PDF instance; a bare 404 for any other instance."""
    ds = _dataset(request, resource_id)
    mime = str(ds.get("MIMETypeOfEncapsulatedDocument") or "").strip()
    document = ds.get(_ENCAPSULATED_DOCUMENT)
    if mime != PDF or document is None or not document.value:
        return _bare_404()
    data = bytes(document.value)
    if data.endswith(b"\0"):  # the padding to an even length
        data = data[:-1]
    return Response(data, media_type=PDF)


def _ordering(request: Request, series_id: str) -> slices.Ordering:
    with read_connection(request) as conn:
        series = hierarchy.get_resource(conn, SERIES, series_id)
        if series is None:
            raise unknown_resource()
        rows = hierarchy.descendants(conn, SERIES, series_id, INSTANCE)
    tags = series["main_tags"] or {}
    members = [_slice(row) for row in rows]
    try:
        return slices.ordered(tags.get("ImageOrientationPatient"), members)
    except slices.CannotOrderSlices:
        details = f"Unable to order the slices of series {series_id}"
        raise OrthancError(OrthancCode.CANNOT_ORDER_SLICES, details) from None


def _slice(row: dict[str, Any]) -> slices.Slice:
    tags = row["main_tags"] or {}
    return slices.Slice(
        row["id"],
        tags.get("ImagePositionPatient"),
        tags.get("ImageOrientationPatient"),
        tags.get("NumberOfFrames"),
        row.get("index_in_series_text"),
    )


@get("/series/{resource_id:str}/ordered-slices", name="series-ordered-slices", sync_to_thread=True)
def ordered_slices(request: Request, resource_id: str) -> dict[str, Any]:
    ordering = _ordering(request, resource_id)
    members = ordering.slices
    return {
        "Dicom": [f"/instances/{s.instance_id}/file" for s in members],
        "Slices": [
            f"/instances/{s.instance_id}/frames/{frame}"
            for s in members
            for frame in range(s.frames_count)
        ],
        "SlicesShort": [[s.instance_id, 0, s.frames_count] for s in members],
        "Type": "Volume" if ordering.volume else "Sequence",
    }


@get("/series/{resource_id:str}/numpy", name="series-numpy", sync_to_thread=True)
def series_numpy(request: Request, resource_id: str) -> Response[bytes]:
    """Every frame of every instance, in the order of ordered-slices."""
    compress = _flag(request, "compress", False)
    rescale = _flag(request, "rescale", True)
    decoded, rescales = [], []
    for member in _ordering(request, resource_id).slices:
        ds = _dataset(request, member.instance_id)
        for index in range(member.frames_count):
            decoded.append(_decoded(ds, index))
            rescales.append(rescale_of(ds, index))
    if not decoded:
        raise OrthancError(OrthancCode.BAD_SEQUENCE_OF_CALLS)
    return _numpy_bytes(decoded, rescales if rescale else None, compress)


def pixel_data_handlers() -> list[HTTPRouteHandler]:
    return [
        ordered_slices,
        series_numpy,
        instance_numpy,
        frame_numpy,
        instance_matlab,
        frame_matlab,
        frame_raw,
        frame_raw_gz,
        instance_pdf,
    ]
