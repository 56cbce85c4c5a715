"""Orthanc's main DICOM tags, identifiers and IndexInSeries rule.

The lists are Orthanc 1.11.3's defaults (DicomMap.cpp, unchanged since 1.4.2), in its order.
Values are the DICOM summary values: DCMTK's padding rule, UTF-8 by the dataset's Specific
Character Set (or the configured default encoding), multiple values joined by backslashes,
absent tags omitted, present-but-empty ones "". A value that is null for Orthanc (binary,
empty number, or over 256 UTF-8 bytes) is omitted as well.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from pydicom import Dataset
from pydicom.datadict import tag_for_keyword

from domain.dicom_files import DicomIdentifiers
from domain.dicom_text import Encoding, detect_charset, main_string_value

PATIENT_MAIN_TAGS = (
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDs",
    "PatientID",
)
STUDY_MAIN_TAGS = (
    "StudyDate",
    "StudyTime",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "StudyInstanceUID",
    "RequestedProcedureDescription",
    "InstitutionName",
    "RequestingPhysician",
    "ReferringPhysicianName",
)
SERIES_MAIN_TAGS = (
    "SeriesDate",
    "SeriesTime",
    "Modality",
    "Manufacturer",
    "StationName",
    "SeriesDescription",
    "BodyPartExamined",
    "SequenceName",
    "ProtocolName",
    "SeriesNumber",
    "CardiacNumberOfImages",
    "ImagesInAcquisition",
    "NumberOfTemporalPositions",
    "NumberOfSlices",
    "NumberOfTimeSlices",
    "SeriesInstanceUID",
    "ImageOrientationPatient",
    "SeriesType",
    "OperatorsName",
    "PerformedProcedureStepDescription",
    "AcquisitionDeviceProcessingDescription",
    "ContrastBolusAgent",
)
INSTANCE_MAIN_TAGS = (
    "InstanceCreationDate",
    "InstanceCreationTime",
    "AcquisitionNumber",
    "ImageIndex",
    "InstanceNumber",
    "NumberOfFrames",
    "TemporalPositionIdentifier",
    "SOPInstanceUID",
    "ImagePositionPatient",
    "ImageComments",
    "ImageOrientationPatient",
)

LEVELS = ("Patient", "Study", "Series", "Instance")
MAIN_TAGS: dict[str, tuple[str, ...]] = dict(
    zip(
        LEVELS,
        (PATIENT_MAIN_TAGS, STUDY_MAIN_TAGS, SERIES_MAIN_TAGS, INSTANCE_MAIN_TAGS),
        strict=True,
    )
)


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag


MAIN_TAG_NUMBERS: dict[str, int] = {
    keyword: _tag(keyword) for keywords in MAIN_TAGS.values() for keyword in keywords
}


# InstanceNumber, else ImageIndex.
INDEX_IN_SERIES_TAGS = (MAIN_TAG_NUMBERS["InstanceNumber"], MAIN_TAG_NUMBERS["ImageIndex"])


def extract_main_tags(
    ds: Dataset, default_encoding: Encoding | str = Encoding.LATIN1
) -> dict[str, dict[str, str]]:
    """{"Patient": {...}, "Study": {...}, "Series": {...}, "Instance": {...}}.

    As in Orthanc 1.10/1.11, a resource's main tags are those of the instance that created it;
    a study reports its patient's tags ("PatientMainDicomTags") from that same instance, see
    study_patient_main_tags().
    """
    charset = detect_charset(ds, default_encoding)
    numbers = set(MAIN_TAG_NUMBERS.values())
    return main_tags_from({n: main_string_value(ds, n, charset=charset) for n in numbers})


def main_tags_from(values: Mapping[int, str | None]) -> dict[str, dict[str, str]]:
    """extract_main_tags() from values already read (tag number -> summary value)."""
    result: dict[str, dict[str, str]] = {}
    for level, keywords in MAIN_TAGS.items():
        found = {k: values.get(MAIN_TAG_NUMBERS[k]) for k in keywords}
        result[level] = {k: v for k, v in found.items() if v is not None}
    return result


def study_patient_main_tags(main_tags: dict[str, dict[str, str]]) -> dict[str, str]:
    """A study's "PatientMainDicomTags": the patient-level tags of the study's first instance."""
    return dict(main_tags.get("Patient", {}))


def orthanc_id(*parts: str) -> str:
    """SHA-1 of the parts joined by "|", as 5 dash-separated groups of 8 hex digits."""
    digest = hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()
    return "-".join(digest[i : i + 8] for i in range(0, 40, 8))


def orthanc_ids(ids: DicomIdentifiers) -> tuple[str, str, str, str]:
    """(patient, study, series, instance) identifiers, as DicomInstanceHasher computes them."""
    path = (ids.patient_id, ids.study_uid, ids.series_uid, ids.sop_uid)
    return (
        orthanc_id(*path[:1]),
        orthanc_id(*path[:2]),
        orthanc_id(*path[:3]),
        orthanc_id(*path),
    )


def index_in_series_metadata(
    ds: Dataset, default_encoding: Encoding | str = Encoding.LATIN1
) -> str | None:
    """The "IndexInSeries" metadata: InstanceNumber, else ImageIndex, spaces stripped.

    An InstanceNumber that is present but empty gives "" (ImageIndex is then not looked at);
    None means Orthanc stores no such metadata.
    """
    charset = detect_charset(ds, default_encoding)
    return index_in_series_from(
        {n: main_string_value(ds, n, charset=charset) for n in INDEX_IN_SERIES_TAGS}
    )


def index_in_series_from(values: Mapping[int, str | None]) -> str | None:
    """index_in_series_metadata() from values already read (tag number -> summary value)."""
    for number in INDEX_IN_SERIES_TAGS:
        value = values.get(number)
        if value is not None:
            return value.strip(" \t\n\v\f\r")
    return None


def parse_index_in_series(metadata: str | None) -> int | None:
    """The "IndexInSeries" field of GET /instances/{id}: the metadata as a 32-bit integer.

    Orthanc reads "+12" as 12 and "000013" as 13, wraps 99999999999 to 1215752191, and
    reports null for anything else ("abc", "1.5", "").
    """
    if metadata is None or not re.fullmatch(r"[+-]?[0-9]+", metadata):
        return None
    number = int(metadata) % (1 << 32)
    return number - (1 << 32) if number >= 1 << 31 else number


def index_in_series(ds: Dataset, default_encoding: Encoding | str = Encoding.LATIN1) -> int | None:
    return parse_index_in_series(index_in_series_metadata(ds, default_encoding))
