"""New DICOM instances from JSON, as Orthanc's POST /tools/create-dicom makes them: `Tags`
(keywords or `gggg,eeee`, values as modify's Replace takes them), `Content` (a PNG or JPEG
image, a PDF, or an STL, OBJ or MTL 3D model as Orthanc 1.12 takes them, as a data URI; a
list of them makes a series), `Parent` (a patient, study or series whose modules the new
instance inherits), `InterpretBinaryTags`, `PrivateCreator`, `Force`; and the deprecated form
whose members are the tags themselves.

The request is checked, and every instance is built, before anything is stored: a series
whose third image is not an image stores nothing.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, generate_uid

from domain.deidentification import PATIENT_ID, SOP_INSTANCE_UID
from domain.dicom_modification import Modification, ModificationRefused
from domain.dicom_modules import modules_down_to
from domain.dicom_text import UnknownDicomTag, parse_tag
from domain.dicom_writing import dataset_bytes
from domain.levels import INSTANCE, PATIENT, SERIES, STUDY
from domain.study_restructuring import summary_text

SPECIFIC_CHARACTER_SET = 0x00080005
SOP_CLASS_UID = 0x00080016
PIXEL_DATA = 0x7FE00010
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
MODEL_SOP_CLASSES = {  # Encapsulated STL, OBJ and MTL Storage
    "model/stl": "1.2.840.10008.5.1.4.1.1.104.3",
    "model/obj": "1.2.840.10008.5.1.4.1.1.104.4",
    "model/mtl": "1.2.840.10008.5.1.4.1.1.104.5",
}
# What DCMTK names the SOP class of a file whose dataset has none.
GENERIC_FILE_SOP_CLASS = "1.2.276.0.7230010.3.1.0.1"
_DATES = {  # (date, time) Orthanc stamps, by the levels for which it stamps them
    (0x00080022, 0x00080032): (PATIENT, STUDY, SERIES, INSTANCE),  # Acquisition
    (0x00080023, 0x00080033): (PATIENT, STUDY, SERIES, INSTANCE),  # Content
    (0x00080012, 0x00080013): (PATIENT, STUDY, SERIES, INSTANCE),  # InstanceCreation
    (0x00080021, 0x00080031): (PATIENT, STUDY, INSTANCE),  # Series
    (0x00080020, 0x00080030): (PATIENT, INSTANCE),  # Study
}
# The tags a request may set though the new instance has them already (Orthanc's list).
_ALWAYS_SETTABLE = {PATIENT_ID} | {tag for pair in _DATES for tag in pair}


def _refused(code: str, details: str | None = None) -> ModificationRefused:
    return ModificationRefused(code, details)


@attrs.frozen
class CreationRequest:
    tags: dict[str, Any]
    body: dict[str, Any]
    decode_binary: bool = True
    private_creator: str = ""
    force: bool = False
    version1: bool = False  # the deprecated form: the body's members are the tags

    @property
    def parent(self) -> Any:
        return None if self.version1 else self.body.get("Parent")

    @property
    def content(self) -> Any:
        return None if self.version1 else self.body.get("Content")


def creation_request(body: Any) -> CreationRequest:
    """The request a body makes, as far as Orthanc checks it before its parent."""
    if not isinstance(body, dict):
        raise _refused("BAD_REQUEST")
    if "Tags" not in body:
        if not all(isinstance(value, str) for value in body.values()):
            raise _refused("CREATE_DICOM_NOT_STRING")
        return CreationRequest(tags=dict(body), body=body, version1=True)
    tags = body["Tags"]
    if not isinstance(tags, dict):
        raise _refused("BAD_REQUEST")
    return CreationRequest(tags, body)


def with_options(request: CreationRequest, default_private_creator: str) -> CreationRequest:
    """InterpretBinaryTags, PrivateCreator and Force, checked once the parent is known."""
    body = request.body
    decode = body.get("InterpretBinaryTags", True)
    creator = body.get("PrivateCreator", default_private_creator)
    force = body.get("Force", False)
    if request.version1:
        return attrs.evolve(request, private_creator=default_private_creator)
    if not isinstance(decode, bool) or not isinstance(creator, str) or not isinstance(force, bool):
        raise _refused("BAD_REQUEST")
    return attrs.evolve(request, decode_binary=decode, private_creator=creator, force=force)


def requested_charset(request: CreationRequest, default: str, known: Callable[[str], bool]) -> str:
    """The SpecificCharacterSet the new instance gets: the request's, checked by `known`."""
    term = request.tags.get("SpecificCharacterSet")
    if term is None or request.version1:
        return default
    if not isinstance(term, str) or not known(term):
        raise _refused("PARAMETER_OUT_OF_RANGE", f"Unknown specific character set: {term}")
    return term


@attrs.frozen
class Parent:
    """The resource a new instance is attached to, and one of its instances' dataset."""

    level: int
    sibling: Dataset


def new_dataset(charset: str, parent: Parent | None, now: float | None = None) -> Dataset:
    """The instance before its tags and content: new identifiers, the parent's modules, the
    dates and times of its creation (UTC)."""
    ds = Dataset()
    if charset:
        ds[SPECIFIC_CHARACTER_SET] = DataElement(SPECIFIC_CHARACTER_SET, "CS", charset)
    ds.PatientID = str(uuid.uuid4())
    ds.StudyInstanceUID = generate_uid(prefix=None)
    ds.SeriesInstanceUID = generate_uid(prefix=None)
    ds.SOPInstanceUID = generate_uid(prefix=None)
    level = INSTANCE if parent is None else parent.level
    if parent is not None:
        sibling_charset = parent.sibling.get("SpecificCharacterSet")
        if sibling_charset:
            ds.SpecificCharacterSet = sibling_charset
        for tag in sorted(modules_down_to(parent.level)):
            text = summary_text(parent.sibling, tag)
            if text is not None:
                ds[tag] = DataElement(tag, parent.sibling[tag].VR, text)
    stamp = time.gmtime(now)
    date, moment = time.strftime("%Y%m%d", stamp), time.strftime("%H%M%S", stamp) + ".000000"
    for (date_tag, time_tag), levels in _DATES.items():
        if level in levels:
            ds[date_tag] = DataElement(date_tag, "DA", date)
            ds[time_tag] = DataElement(time_tag, "TM", moment)
    return ds


def inject_tags(ds: Dataset, request: CreationRequest, tags: dict[str, Any]) -> None:
    """The request's tags, in Orthanc's order (sorted by name), refused where Orthanc
    refuses them."""
    builder = Modification(private_creator=request.private_creator)
    builder.decode_data_uris = request.decode_binary and not request.version1
    for name in sorted(tags):
        tag = _tag(name)
        value = tags[name]
        if request.version1:
            if tag == PIXEL_DATA:
                embed_content(ds, value)
            else:
                ds[tag] = builder.element(ds, tag, value)
            continue
        if tag == SPECIFIC_CHARACTER_SET:
            continue
        if not request.force and tag not in _ALWAYS_SETTABLE and tag in ds:
            raise _refused("CREATE_DICOM_OVERRIDE_TAG", name)
        if tag == PIXEL_DATA:
            raise _refused("CREATE_DICOM_USE_CONTENT")
        ds[tag] = builder.element(ds, tag, value)


def _tag(name: str) -> int:
    try:
        return parse_tag(name)
    except UnknownDicomTag:
        raise _refused("UNKNOWN_DICOM_TAG") from None


# -- content ----------------------------------------------------------------------------------


def _data_uri(text: str) -> tuple[str, bytes]:
    header, comma, payload = text.partition(",")
    if not text.startswith("data:") or not comma or not header.endswith(";base64"):
        raise _refused("BAD_FILE_FORMAT")
    try:
        return header[5 : -len(";base64")], base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise _refused("BAD_FILE_FORMAT") from None


def embed_content(ds: Dataset, uri: str) -> None:
    mime, data = _data_uri(uri)
    if mime in ("image/png", "image/jpeg"):
        _embed_image(ds, data)
    elif mime == "application/pdf":
        _embed_pdf(ds, data)
    elif mime in MODEL_SOP_CLASSES:
        _embed_model(ds, data, mime)
    else:
        details = f"Unsupported MIME type for the content of a new DICOM file: {mime}"
        raise _refused("NOT_IMPLEMENTED", details)


def _embed_image(ds: Dataset, data: bytes) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            pixels, mode = _pixels(image)
    except (UnidentifiedImageError, OSError, ValueError):
        raise _refused("BAD_FILE_FORMAT", "Cannot decode the image") from None
    if PIXEL_DATA in ds:
        del ds[PIXEL_DATA]
    ds.Columns, ds.Rows = pixels.shape[1], pixels.shape[0]
    ds.SamplesPerPixel = 3 if mode == "RGB" else 1
    ds.PixelRepresentation = 0
    bits = 16 if pixels.dtype == np.uint16 else 8
    if mode == "RGB":
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    elif "PhotometricInterpretation" not in ds:
        ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    raw = np.ascontiguousarray(pixels).astype("<u2" if bits == 16 else "u1").tobytes()
    ds[PIXEL_DATA] = DataElement(PIXEL_DATA, "OW", raw + b"\0" * (len(raw) % 2))


def _pixels(image: Any) -> tuple[Any, str]:
    """The image's pixels as Orthanc reads a PNG or JPEG: 8 or 16-bit grey, or RGB (an alpha
    channel dropped, a palette expanded)."""
    if image.mode in ("I;16", "I;16B", "I"):
        return np.asarray(image).astype(np.uint16), "L"
    if image.mode in ("L", "1"):
        return np.asarray(image.convert("L")), "L"
    return np.asarray(image.convert("RGB")), "RGB"


def _embed_model(ds: Dataset, data: bytes, mime: str) -> None:
    """A 3D model (STL, OBJ, MTL) as its Encapsulated storage, as Orthanc 1.12 makes it."""
    ds.MIMETypeOfEncapsulatedDocument = mime
    ds.EncapsulatedDocument = data + b"\0" * (len(data) % 2)
    if SOP_CLASS_UID not in ds:
        ds[SOP_CLASS_UID] = DataElement(SOP_CLASS_UID, "UI", MODEL_SOP_CLASSES[mime])
    if "Modality" not in ds:
        ds.Modality = "M3D"


def _embed_pdf(ds: Dataset, data: bytes) -> None:
    if not data.startswith(b"%PDF-"):
        raise _refused("BAD_FILE_FORMAT", "Not a PDF file")
    ds[SOP_CLASS_UID] = DataElement(SOP_CLASS_UID, "UI", ENCAPSULATED_PDF)
    for keyword, value in (
        ("Modality", "OT"),
        ("ConversionType", "WSD"),
        ("MIMETypeOfEncapsulatedDocument", "application/pdf"),
    ):
        if keyword not in ds:
            setattr(ds, keyword, value)
    ds.EncapsulatedDocument = data + b"\0" * (len(data) % 2)


# -- the instances ----------------------------------------------------------------------------


def created_datasets(base: Dataset, request: CreationRequest) -> list[Dataset]:
    """The instance the request makes, or a series' instances when `Content` is a list."""
    content = request.content
    if content is None or (isinstance(content, list) and not content):
        return [base]
    if isinstance(content, str):
        embed_content(base, content)
        return [base]
    if not isinstance(content, list):
        raise _refused("CREATE_DICOM_USE_DATA_URI_SCHEME")
    base.ImagesInAcquisition = len(content)
    base.NumberOfTemporalPositions = 1
    made = []
    for number, item in enumerate(content, start=1):
        ds = _copy(base)
        payload = item
        if isinstance(item, dict):
            if "Content" not in item:
                raise _refused("UNKNOWN_RESOURCE")  # what Orthanc 1.10.1 answers, see README
            payload = item["Content"]
            if "Tags" in item:
                inject_tags(ds, request, _object(item["Tags"]))
        if not isinstance(payload, str):
            raise _refused("CREATE_DICOM_USE_DATA_URI_SCHEME")
        embed_content(ds, payload)
        ds.InstanceNumber = number
        ds.ImageIndex = number
        made.append(ds)
    return made


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _refused("BAD_REQUEST", "Tags field is not an array")
    return value


def _copy(ds: Dataset) -> Dataset:
    copy = Dataset()
    for element in ds:
        copy[element.tag] = DataElement(element.tag, element.VR, element.value)
    copy[SOP_INSTANCE_UID] = DataElement(SOP_INSTANCE_UID, "UI", generate_uid(prefix=None))
    return copy


def created_bytes(ds: Dataset) -> bytes:
    """The instance as a file; without a SOP class its meta names DCMTK's generic one, as the
    files Orthanc creates do."""
    if SOP_CLASS_UID not in ds:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = UID(GENERIC_FILE_SOP_CLASS)
    return dataset_bytes(ds)
