"""The DICOMDIR of a DICOM media (PS3.10, PS3.3 F.3), with the records Orthanc 1.10.1 writes.

Each instance added (in the order of the media's files) gets an IMAGE record under the SERIES,
STUDY and PATIENT records of its lineage, each made from the first instance that needs it:

* PATIENT: PatientID (when it has a value), PatientName;
* STUDY: StudyDate and StudyTime (or the series', acquisition's or content's, else now, UTC),
  StudyDescription, StudyInstanceUID, StudyID (when it has a value), AccessionNumber;
* SERIES: Modality, SeriesInstanceUID, SeriesNumber (when it has a value), and in an extended
  DICOMDIR SeriesDescription;
* IMAGE: InstanceNumber, the file's ID and its SOP class, instance and transfer syntax;
* each: the instance's SpecificCharacterSet when it has a value.

As in Orthanc, the values are written in ASCII (other characters are left out), records and
items have undefined lengths, and the records are listed depth first.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence

import attrs
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage, generate_uid

FILE_SET_ID = "ORTHANC_MEDIA"
IMAGES_FOLDER = "IMAGES"
_NEXT = 0x00041400
_IN_USE = 0x00041410
_LOWER = 0x00041420
_TYPE = 0x00041430
_FIRST_ROOT = 0x00041200
_LAST_ROOT = 0x00041202
_CHARSET = 0x00080005
_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
_RECORD_SEQUENCE = struct.pack("<HH2sHI", 0x0004, 0x1220, b"SQ", 0, 0xFFFFFFFF)
_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
_TIMES = ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime")


def media_file_name(counter: int) -> str:
    """The name of a media's counter-th file in its ZIP ("IMAGES/IM0"…), as Orthanc names
    them (PS3.10 allows 8 characters per component)."""
    return f"{IMAGES_FOLDER}/IM{counter}"


@attrs.define
class _Record:
    elements: Dataset
    children: list[_Record] = attrs.Factory(list)
    offset: int = 0


class DicomDir:
    """A DICOMDIR being built: `add` each instance, then `encode`."""

    def __init__(self, extended: bool = False, now: float | None = None) -> None:
        self.extended = extended
        self._now = time.gmtime(now)
        self._uid = generate_uid()  # the DICOMDIR's own SOP instance, new each time
        self._patients: list[_Record] = []
        self._index: dict[tuple[str, str], _Record] = {}

    def add(self, file_id: str, ds: Dataset, transfer_syntax: str) -> None:
        """`file_id`: the file's path on the media ("IMAGES/IM0"); `ds`: its dataset (the
        pixel data is not needed)."""
        key = ("IMAGE", _text(ds, "SOPInstanceUID") or "")
        if key in self._index:
            return
        image = self._record(key, ds, self._image(ds, file_id, transfer_syntax))
        lineage = [
            (("SERIES", _text(ds, "SeriesInstanceUID") or ""), self._series),
            (("STUDY", _text(ds, "StudyInstanceUID") or ""), self._study),
            (("PATIENT", _text(ds, "PatientID") or ""), self._patient),
        ]
        child = image
        for parent_key, fill in lineage:
            parent = self._index.get(parent_key)
            if parent is not None:
                parent.children.append(child)
                return
            parent = self._record(parent_key, ds, fill(ds))
            parent.children.append(child)
            child = parent
        self._patients.append(child)

    def _record(self, key: tuple[str, str], ds: Dataset, elements: Dataset) -> _Record:
        elements[_TYPE] = DataElement(_TYPE, "CS", key[0])
        charset = _text(ds, "SpecificCharacterSet")
        if charset:
            elements[_CHARSET] = DataElement(_CHARSET, "CS", charset)
        record = _Record(elements)
        self._index[key] = record
        return record

    @staticmethod
    def _patient(ds: Dataset) -> Dataset:
        record = Dataset()
        _copy(record, ds, "PatientID", when_valued=True)
        _copy(record, ds, "PatientName")
        return record

    def _study(self, ds: Dataset) -> Dataset:
        record = Dataset()
        date = _first(ds, _DATES, time.strftime("%Y%m%d", self._now))
        _put(record, "StudyDate", date)
        _put(record, "StudyTime", _first(ds, _TIMES, time.strftime("%H%M%S", self._now)))
        _copy(record, ds, "StudyDescription")
        _copy(record, ds, "StudyInstanceUID")
        _copy(record, ds, "StudyID", when_valued=True)
        _copy(record, ds, "AccessionNumber")
        return record

    def _series(self, ds: Dataset) -> Dataset:
        record = Dataset()
        _copy(record, ds, "Modality")
        _copy(record, ds, "SeriesInstanceUID")
        _copy(record, ds, "SeriesNumber", when_valued=True)
        if self.extended and "SeriesDescription" in ds:
            _copy(record, ds, "SeriesDescription")
        return record

    @staticmethod
    def _image(ds: Dataset, file_id: str, transfer_syntax: str) -> Dataset:
        record = Dataset()
        _copy(record, ds, "InstanceNumber")
        record.ReferencedFileID = file_id.split("/")
        _put(record, "ReferencedSOPClassUIDInFile", _text(ds, "SOPClassUID") or "")
        _put(record, "ReferencedSOPInstanceUIDInFile", _text(ds, "SOPInstanceUID") or "")
        _put(record, "ReferencedTransferSyntaxUIDInFile", transfer_syntax)
        return record

    # -- encoding -----------------------------------------------------------------------------

    def encode(self) -> bytes:
        records = list(_depth_first(self._patients))
        for record in records:  # placeholders: the offsets are fixed-size values
            record.elements[_IN_USE] = DataElement(_IN_USE, "US", 0xFFFF)
            record.elements[_NEXT] = DataElement(_NEXT, "UL", 0)
            record.elements[_LOWER] = DataElement(_LOWER, "UL", 0)
        head = Dataset()
        head.FileSetID = FILE_SET_ID
        head[_FIRST_ROOT] = DataElement(_FIRST_ROOT, "UL", 0)
        head[_LAST_ROOT] = DataElement(_LAST_ROOT, "UL", 0)
        head.FileSetConsistencyFlag = 0
        offset = len(self._preamble_and_meta()) + len(_encoded(head)) + len(_RECORD_SEQUENCE)
        for record in records:
            record.offset = offset
            offset += len(_ITEM) + len(_encoded(record.elements)) + len(_ITEM_END)
        self._link(self._patients)
        if self._patients:
            head[_FIRST_ROOT].value = self._patients[0].offset
            head[_LAST_ROOT].value = self._patients[-1].offset
        items = b"".join(_ITEM + _encoded(r.elements) + _ITEM_END for r in records)
        return b"".join(
            (self._preamble_and_meta(), _encoded(head), _RECORD_SEQUENCE, items, _SEQUENCE_END)
        )

    def _link(self, siblings: Sequence[_Record]) -> None:
        for index, record in enumerate(siblings):
            following = siblings[index + 1].offset if index + 1 < len(siblings) else 0
            record.elements[_NEXT].value = following
            record.elements[_LOWER].value = record.children[0].offset if record.children else 0
            self._link(record.children)

    def _preamble_and_meta(self) -> bytes:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
        meta.MediaStorageSOPInstanceUID = self._uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out = DicomBytesIO()
        out.is_little_endian, out.is_implicit_VR = True, False
        out.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(out, meta, enforce_standard=True)
        return bytes(out.getvalue())


def _depth_first(records: Sequence[_Record]) -> list[_Record]:
    found: list[_Record] = []
    for record in records:
        found.append(record)
        found.extend(_depth_first(record.children))
    return found


def _encoded(ds: Dataset) -> bytes:
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_dataset(out, ds)
    return bytes(out.getvalue())


def _ascii(text: str) -> str:
    return "".join(c for c in text if 32 <= ord(c) <= 126)


def _text(ds: Dataset, keyword: str) -> str | None:
    """The element's value as text (multiple values joined by "\\"), None if it is absent."""
    if keyword not in ds:
        return None
    value = ds[keyword].value
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(item) for item in value)
    return str(value)


def _first(ds: Dataset, keywords: Sequence[str], default: str) -> str:
    for keyword in keywords:
        found = _text(ds, keyword)
        if found is not None:
            return found
    return default


def _put(record: Dataset, keyword: str, value: str) -> None:
    tag = Tag(keyword)
    record[tag] = DataElement(tag, str(dictionary_VR(tag)), _ascii(value))


def _copy(record: Dataset, ds: Dataset, keyword: str, when_valued: bool = False) -> None:
    """Orthanc's type 1 and 2 copies (always, empty if absent) and type 1C (`when_valued`:
    only a value that is there and not empty)."""
    value = _text(ds, keyword)
    if when_valued and not value:
        return
    _put(record, keyword, value or "")
