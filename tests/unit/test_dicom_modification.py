"""Modification and anonymization of datasets (domain/dicom_modification.py), the de-identification
profiles (domain/deidentification.py and the generated tables), DicomPath and dataset_bytes.

Expectations come from Orthanc 1.10.1 (DicomModification.cpp, its generated
DicomModification_Anonymization{2017c,2021b}.impl.h, DicomPath.cpp, ParsedDicomFile.cpp,
FromDcmtkBridge.cpp and the unit tests in FromDcmtkTests.cpp) and from PS3.15 Table E.1-1.
Pure unit tests: datasets are built here with pydicom, nothing is served or stored.
"""

from __future__ import annotations

import ast
import base64
import re
import struct
from collections.abc import Callable
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.sequence import Sequence
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from adapters.deidentification_standard import TARGET, basic_profile, render
from api.errors import OrthancCode
from domain import deidentification
from domain.deidentification_tables import BASIC_PROFILE
from domain.dicom_modification import (
    DEIDENTIFICATION_METHOD,
    PATIENT_IDENTITY_REMOVED,
    Modification,
    ModificationRefused,
    anonymization,
    anonymization_from_request,
    modification_from_request,
    modify_level,
    with_method,
)
from domain.dicom_paths import ANY_ITEM, BadDicomPath, DicomPath
from domain.dicom_text import UnknownDicomTag
from domain.dicom_writing import dataset_bytes
from domain.levels import INSTANCE, PATIENT, SERIES, STUDY

ROOT = "1.2.826.0.1.3680043.8.498.77."
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
DETACHED_STUDY = "1.2.840.10008.3.1.2.3.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SOFTWARE = "Orthanc 1.10.1"
METHOD_2021B = f"{SOFTWARE} - PS 3.15-2021b Table E.1-1 Basic Profile"
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OWN_RULES = {0x00080018, 0x0020000D, 0x0020000E, 0x00100010, 0x00100020}
SAMPLE_VALUES: dict[str, Any] = {
    "AE": "STATION1",
    "AS": "042Y",
    "CS": "CODE",
    "DA": "20200101",
    "DS": "1.5",
    "DT": "20200101120000",
    "IS": "7",
    "LO": "a long string",
    "LT": "a long text",
    "PN": "Doe^Jane",
    "SH": "short",
    "ST": "a short text",
    "TM": "120000",
    "UC": "characters",
    "UI": ROOT + "999",
    "UT": "an unlimited text",
    "US": 7,
    "OB": b"ab",
}


def uid(number: int) -> str:
    return f"{ROOT}{number}"


def is_uid(text: object) -> bool:
    return isinstance(text, str) and len(text) <= 64 and _UID.match(text) is not None


def item(**elements: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def instance(
    sop: str = uid(3),
    *,
    patient_id: str = "PAT-1",
    study: str = uid(1),
    series: str = uid(2),
    frame: str = uid(9),
) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.PatientID = patient_id
    ds.PatientName = "Doe^Jane"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame
    ds.Modality = "CT"
    ds.StudyDate = "20240115"
    ds.AccessionNumber = "ACC-1"
    ds.InstitutionName = "Hospital"
    ds.Rows = 8
    return ds


def anonymized(ds: Dataset, request: dict[str, Any] | None = None) -> Modification:
    """`ds` anonymized in place by the request, as the REST layer builds it (with the method)."""
    modification, _ = anonymization_from_request(request or {})
    with_method(modification, SOFTWARE)
    modification.apply(ds)
    return modification


def modified(ds: Dataset, request: dict[str, Any], level: int | None = None) -> Modification:
    modification = modification_from_request(request)
    modification.level = modify_level(modification) if level is None else level
    modification.apply(ds)
    return modification


def refusal(call: Callable[[], object]) -> ModificationRefused:
    with pytest.raises(ModificationRefused) as refused:
        call()
    assert refused.value.code in OrthancCode.__members__
    return refused.value


def tag_of(name: str) -> int:
    tag = tag_for_keyword(name)
    assert tag is not None, name
    return int(tag)


def sample_element(tag: int) -> DataElement:
    vr = str(dictionary_VR(tag)).split(" or ")[0]
    if vr == "SQ":
        return DataElement(tag, vr, Sequence([item(CodeValue="1")]))
    return DataElement(tag, vr, SAMPLE_VALUES[vr])


def is_empty(element: DataElement) -> bool:
    return element.value in ("", None, b"") or (element.VR == "SQ" and len(element.value) == 0)


def orthanc_sample() -> Dataset:
    """The dataset of Orthanc's unit test "ParsedDicomFile.DicomPath" (FromDcmtkTests.cpp)."""
    ds = Dataset()
    ds.PatientName = "Hello"
    ds.ReferencedSOPClassUID = MR_IMAGE
    ds.ReferencedImageSequence = Sequence(
        [
            item(
                ReferencedSOPClassUID=MR_IMAGE,
                ReferencedSOPInstanceUID="1.2.840.113619.2.176.2025.1499492.7040.1171286241.719",
            ),
            item(
                ReferencedSOPClassUID=MR_IMAGE,
                ReferencedSOPInstanceUID="1.2.840.113619.2.176.2025.1499492.7040.1171286241.726",
            ),
        ]
    )
    code = item(CodeValue="122403", SeriesDescription="WORLD")
    ds.RelatedSeriesSequence = Sequence(
        [
            item(
                StudyInstanceUID="1.2.840.113704.1.111.7016.1342451220.40",
                PurposeOfReferenceCodeSequence=Sequence([code]),
            )
        ]
    )
    return ds


# -- the Basic Profile, tag by tag ------------------------------------------------------------


@pytest.mark.parametrize(
    ("edition", "tag", "code"),
    [
        ("2017c", "0008,0050", "Z"),
        ("2017c", "0008,0080", "X/Z/D"),
        ("2017c", "0008,0023", "Z/D"),
        ("2017c", "0008,002a", "X/D"),
        ("2017c", "0020,3404", "X"),
        ("2017c", "0040,a730", "X"),
        ("2017c", "0040,a027", "X"),
        ("2017c", "0400,0100", "X"),
        ("2017c", "0020,0052", "U"),
        ("2017c", "0008,1140", "X/Z/U*"),
        ("2017c", "0008,2112", "X/Z/U*"),
        ("2017c", "50xx,xxxx", "X"),
        ("2017c", "60xx,3000", "X"),
        ("2017c", "60xx,4000", "X"),
        ("2021b", "0008,0050", "Z"),
        ("2021b", "0008,002a", "X/Z/D"),
        ("2021b", "0040,a730", "D"),
        ("2021b", "0040,a027", "D"),
        ("2021b", "0400,0100", "U"),
        ("2021b", "0018,100b", "U"),
        ("2021b", "0012,0021", "Z"),
        ("2021b", "0034,0002", "D"),
        ("2021b", "0040,0513", "Z"),
        ("2021b", "0070,0084", "Z/D"),
        ("2021b", "3006,0026", "Z"),
        ("2021b", "0008,1140", "X/Z/U*"),
        ("2021b", "50xx,xxxx", "X"),
        ("2021b", "60xx,3000", "X"),
        ("2021b", "60xx,4000", "X"),
    ],
)
def test_generated_tables_hold_the_standards_basic_profile(
    edition: str, tag: str, code: str
) -> None:
    assert BASIC_PROFILE[edition][tag] == code


@pytest.mark.parametrize(
    ("edition", "tag"),
    [
        ("2017c", "0008,0016"),  # SOP Class UID
        ("2017c", "0012,0021"),  # Clinical Trial Protocol Name, new in the profile after 2017c
        ("2017c", "0018,100b"),  # Manufacturer's Device Class UID, idem
        ("2021b", "0020,3404"),  # Modifying Device Manufacturer, gone from the 2021b table
        ("2021b", "0008,0060"),  # Modality
        ("2021b", "0028,0010"),  # Rows
    ],
)
def test_attributes_outside_the_table_are_not_in_it(edition: str, tag: str) -> None:
    assert tag not in BASIC_PROFILE[edition]


@pytest.mark.parametrize(
    ("version", "removals", "clearings", "uids", "ranges"),
    [
        # The sizes of Orthanc 1.10.1's generated removals_, clearings_, uids_, removedRanges_
        ("2017c", 216, 20, 31, 3),
        ("2021b", 317, 85, 47, 3),
        # SetupAnonymization2008() and SetupUidsFromOrthanc_1_9_3()
        ("2008", 39, 0, 8, 0),
    ],
)
def test_profiles_have_the_size_of_orthancs(
    version: str, removals: int, clearings: int, uids: int, ranges: int
) -> None:
    chosen = deidentification.profile(version)
    assert (len(chosen.removals), len(chosen.clearings), len(chosen.uids)) == (
        removals,
        clearings,
        uids,
    )
    assert len(chosen.removed_ranges) == ranges
    assert not chosen.removals & chosen.clearings
    assert not (chosen.removals | chosen.clearings) & chosen.uids
    assert not OWN_RULES & (chosen.removals | chosen.clearings | chosen.uids)


@pytest.mark.parametrize("version", deidentification.VERSIONS)
def test_profile_uids_are_all_unique_identifiers(version: str) -> None:
    """Orthanc's sanity check in SetupAnonymization(): every mapped tag is a UI (bar the
    patient's name and ID, mapped to a new UUID)."""
    target = anonymization(version)
    assert {0x00100010, 0x00100020} <= target.uids
    for tag in target.uids - {0x00100010, 0x00100020}:
        assert dictionary_VR(tag) == "UI", hex(tag)


@pytest.mark.parametrize(
    ("edition", "keyword", "outcome"),
    [
        ("2017c", "AccessionNumber", "emptied"),
        ("2017c", "StudyDate", "emptied"),
        ("2017c", "ContentDate", "emptied"),
        ("2017c", "PatientBirthDate", "emptied"),
        ("2017c", "InstitutionName", "removed"),
        ("2017c", "SeriesDate", "removed"),
        ("2017c", "PatientAge", "removed"),
        ("2017c", "ModifyingDeviceManufacturer", "removed"),
        ("2017c", "ContentSequence", "removed"),
        ("2017c", "VerifyingOrganization", "removed"),
        ("2017c", "DigitalSignatureUID", "removed"),
        ("2017c", "FrameOfReferenceUID", "uid"),
        ("2017c", "InstanceCreatorUID", "uid"),
        ("2017c", "ClinicalTrialProtocolName", "kept"),
        ("2017c", "ManufacturerDeviceClassUID", "kept"),
        ("2017c", "Modality", "kept"),
        ("2017c", "SOPClassUID", "kept"),
        ("2021b", "ContentSequence", "emptied"),
        ("2021b", "VerifyingOrganization", "emptied"),
        ("2021b", "ClinicalTrialProtocolName", "emptied"),
        ("2021b", "StudyID", "emptied"),
        ("2021b", "PatientSex", "emptied"),
        ("2021b", "FlowIdentifier", "emptied"),
        ("2021b", "IssuerOfTheContainerIdentifierSequence", "emptied"),
        ("2021b", "AcquisitionDateTime", "removed"),
        ("2021b", "StudyDescription", "removed"),
        ("2021b", "GPSLatitude", "removed"),
        ("2021b", "ReferencedStudySequence", "removed"),
        ("2021b", "DigitalSignatureUID", "uid"),
        ("2021b", "ManufacturerDeviceClassUID", "uid"),
        ("2021b", "SynchronizationFrameOfReferenceUID", "uid"),
        ("2021b", "ModifyingDeviceManufacturer", "kept"),
        ("2021b", "Modality", "kept"),
        ("2021b", "SliceThickness", "kept"),
        ("2021b", "Rows", "kept"),
    ],
)
def test_profile_action_applied_to_a_tag(edition: str, keyword: str, outcome: str) -> None:
    tag = tag_of(keyword)
    ds = instance()
    ds[tag] = sample_element(tag)
    original = ds[tag].value
    anonymization(edition).apply(ds)
    if outcome == "removed":
        assert tag not in ds
    elif outcome == "emptied":
        assert tag in ds and is_empty(ds[tag])
    elif outcome == "uid":
        assert is_uid(ds[tag].value) and ds[tag].value != original
    else:
        assert ds[tag].value == original


@pytest.mark.parametrize("edition", ["2017c", "2021b"])
def test_every_attribute_of_the_table_gets_its_action(edition: str) -> None:
    ds = Dataset()
    codes: dict[int, str] = {}
    for text, code in BASIC_PROFILE[edition].items():
        tag = int(text.replace(",", ""), 16) if "x" not in text else None
        if tag is None or tag in OWN_RULES:
            continue
        ds[tag] = sample_element(tag)
        codes[tag] = code
    assert len(codes) > 250
    anonymization(edition).apply(ds)
    new_uids = set()
    for tag, code in codes.items():
        if code == "X/Z/U*":  # the two image references keep their items
            assert tag in ds and len(ds[tag].value) == 1, hex(tag)
        elif code == "U":
            assert is_uid(ds[tag].value) and ds[tag].value != SAMPLE_VALUES["UI"], hex(tag)
            new_uids.add(ds[tag].value)
        elif code == "X" or code.startswith("X/"):
            assert tag not in ds, (hex(tag), code)
        else:
            assert code in ("Z", "D") or code.startswith("Z/")
            assert tag in ds and is_empty(ds[tag]), (hex(tag), code)
    assert len(new_uids) == 1  # one source UID, one new UID wherever it appears


@pytest.mark.parametrize("edition", ["2017c", "2021b"])
def test_curve_and_overlay_data_groups_are_removed(edition: str) -> None:
    ds = instance()
    ds.add_new(0x50000010, "US", 3)  # Curve Dimensions
    ds.add_new(0x50023000, "OB", b"\x01\x02")  # Curve Data, another group
    ds.add_new(0x50FE0005, "US", 2)
    ds.add_new(0x60003000, "OW", b"\x00\x01")  # Overlay Data
    ds.add_new(0x60023000, "OW", b"\x00\x01")
    ds.add_new(0x60004000, "LT", "overlay comment")  # Overlay Comments
    ds.add_new(0x60FE4000, "LT", "overlay comment")
    ds.add_new(0x60000010, "US", 8)  # Overlay Rows: not in the table
    ds.add_new(0x60000050, "SS", [1, 1])  # Overlay Origin: idem
    nested = item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(4))
    nested.add_new(0x60003000, "OW", b"\x00\x01")
    nested.add_new(0x50000010, "US", 3)
    ds.ReferencedImageSequence = Sequence([nested])
    anonymization(edition).apply(ds)
    for tag in (0x50000010, 0x50023000, 0x50FE0005, 0x60003000, 0x60023000, 0x60004000):
        assert tag not in ds, hex(tag)
    assert 0x60FE4000 not in ds
    assert ds[0x60000010].value == 8
    assert ds[0x60000050].value == [1, 1]
    kept_item = ds.ReferencedImageSequence[0]
    assert 0x60003000 not in kept_item and 0x50000010 not in kept_item
    assert kept_item.ReferencedSOPClassUID == CTImageStorage


def test_tag_ranges_cover_their_groups_and_elements() -> None:
    curves, overlays, comments = deidentification.profile("2021b").removed_ranges
    assert 0x50000000 in curves and 0x50FFFFFF in curves and 0x50011234 in curves
    assert 0x51000000 not in curves and 0x4FFFFFFF not in curves
    assert 0x60003000 in overlays and 0x60FF3000 in overlays
    assert 0x60003001 not in overlays and 0x61003000 not in overlays
    assert 0x60044000 in comments and 0x60043000 not in comments


def test_nested_elements_follow_the_profile() -> None:
    """Orthanc >= 1.9.5 applies the profile inside sequences: removed elements go, emptied
    strings become empty, emptied non-strings (here a sequence and a binary) go, UIDs map."""
    nested = item(
        ReferencedSOPClassUID=CTImageStorage,
        ReferencedSOPInstanceUID=uid(4),
        StudyDate="20240101",  # Z
        AccessionNumber="ACC-9",  # Z
        InstitutionName="Hospital",  # X/Z/D
        StudyDescription="Head",  # X
        FrameOfReferenceUID=uid(9),  # U
        CodeValue="kept",  # not in the table
    )
    nested.IssuerOfTheContainerIdentifierSequence = Sequence([item(LocalNamespaceEntityID="x")])
    nested.add_new(0x00340002, "OB", b"\x01\x02")  # Flow Identifier, D
    ds = instance()
    ds.ReferencedImageSequence = Sequence([nested])
    ds.IssuerOfTheContainerIdentifierSequence = Sequence([item(LocalNamespaceEntityID="y")])
    ds.add_new(0x00340002, "OB", b"\x01\x02")
    anonymization("2021b").apply(ds)
    result = ds.ReferencedImageSequence[0]
    assert result.StudyDate == "" and result.AccessionNumber == ""
    assert "InstitutionName" not in result and "StudyDescription" not in result
    assert "IssuerOfTheContainerIdentifierSequence" not in result
    assert 0x00340002 not in result
    assert result.CodeValue == "kept"
    assert result.ReferencedSOPClassUID == CTImageStorage
    assert result.FrameOfReferenceUID == ds.FrameOfReferenceUID != uid(9)
    # at the first level, the same emptied elements stay, empty
    assert len(ds.IssuerOfTheContainerIdentifierSequence) == 0
    assert ds[0x00340002].value in (b"", None)


@pytest.mark.parametrize("keyword", ["ReferencedImageSequence", "SourceImageSequence"])
def test_image_references_keep_their_items_with_new_uids(keyword: str) -> None:
    """X/Z/U*: Orthanc keeps these sequences and maps the UIDs they hold."""
    ds = instance()
    setattr(
        ds,
        keyword,
        Sequence(
            [
                item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(4)),
                item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(5)),
            ]
        ),
    )
    anonymization("2021b").apply(ds)
    items = getattr(ds, keyword)
    assert len(items) == 2
    assert [i.ReferencedSOPClassUID for i in items] == [CTImageStorage, CTImageStorage]
    new = [i.ReferencedSOPInstanceUID for i in items]
    assert all(is_uid(value) for value in new)
    assert len(set(new) | {uid(4), uid(5)}) == 4


def test_anonymization_replaces_patient_identity_and_marks_it_removed() -> None:
    ds = instance()
    anonymized(ds)
    assert _UUID.match(str(ds.PatientID))
    assert _UUID.match(str(ds.PatientName))
    assert ds.PatientID != ds.PatientName
    assert ds[PATIENT_IDENTITY_REMOVED].value == "YES"
    assert ds[DEIDENTIFICATION_METHOD].value == METHOD_2021B
    assert all(is_uid(v) for v in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID))
    assert {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}.isdisjoint(
        {uid(1), uid(2), uid(3)}
    )


# -- the 2008 profile -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "in_2008", "in_2021b"),
    [
        ("AccessionNumber", "removed", "emptied"),
        ("PatientBirthDate", "removed", "emptied"),
        ("PatientSex", "removed", "emptied"),
        ("ReferringPhysicianName", "removed", "emptied"),
        ("StudyID", "removed", "emptied"),
        ("ContentSequence", "removed", "emptied"),
        ("PatientTelephoneNumbers", "removed", "removed"),
        ("StudyDate", "kept", "emptied"),
        ("SeriesDate", "kept", "removed"),
        ("DeviceUID", "kept", "uid"),
        ("InstanceCreatorUID", "uid", "uid"),
        ("StorageMediaFileSetUID", "uid", "uid"),
        ("RequestingPhysician", "removed", "removed"),
    ],
)
def test_2008_profile_against_2021b(keyword: str, in_2008: str, in_2021b: str) -> None:
    tag = tag_of(keyword)
    for version, outcome in (("2008", in_2008), ("2021b", in_2021b)):
        ds = instance()
        ds[tag] = sample_element(tag)
        original = ds[tag].value
        anonymization(version).apply(ds)
        if outcome == "removed":
            assert tag not in ds, version
        elif outcome == "emptied":
            assert tag in ds and is_empty(ds[tag]), version
        elif outcome == "uid":
            assert is_uid(ds[tag].value) and ds[tag].value != original, version
        else:
            assert ds[tag].value == original, version


def test_2008_profile_maps_references_and_names_itself() -> None:
    ds = instance()
    ds.ReferencedImageSequence = Sequence(
        [item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(4))]
    )
    ds.add_new(0x00090010, "LO", "CREATOR")
    ds.add_new(0x00091001, "LO", "private")
    anonymized(ds, {"DicomVersion": "2008"})
    assert ds[DEIDENTIFICATION_METHOD].value == f"{SOFTWARE} - PS 3.15-2008 Table E.1-1"
    assert ds[PATIENT_IDENTITY_REMOVED].value == "YES"
    assert 0x00091001 not in ds and 0x00090010 not in ds
    assert "InstitutionName" not in ds
    assert is_uid(ds.FrameOfReferenceUID) and ds.FrameOfReferenceUID != uid(9)
    reference = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert is_uid(reference) and reference != uid(4)


# -- identifiers mapped consistently ----------------------------------------------------------


def test_one_anonymization_maps_a_series_consistently() -> None:
    first, second = instance(uid(3)), instance(uid(4))
    other_series = instance(uid(5), series=uid(6), frame=uid(10))
    target, _ = anonymization_from_request({})
    for ds in (first, second, other_series):
        target.apply(ds)
    assert first.PatientID == second.PatientID == other_series.PatientID
    assert first.StudyInstanceUID == second.StudyInstanceUID == other_series.StudyInstanceUID
    assert first.SeriesInstanceUID == second.SeriesInstanceUID != other_series.SeriesInstanceUID
    assert first.FrameOfReferenceUID == second.FrameOfReferenceUID
    assert first.FrameOfReferenceUID != other_series.FrameOfReferenceUID
    assert len({first.SOPInstanceUID, second.SOPInstanceUID, other_series.SOPInstanceUID}) == 3
    assert first.StudyInstanceUID != uid(1) and first.FrameOfReferenceUID != uid(9)


def test_two_anonymizations_map_the_same_source_differently() -> None:
    first, second = instance(), instance()
    anonymization("2021b").apply(first)
    anonymization("2021b").apply(second)
    assert first.StudyInstanceUID != second.StudyInstanceUID
    assert first.PatientID != second.PatientID
    assert first.FrameOfReferenceUID != second.FrameOfReferenceUID


def test_references_between_instances_follow_their_new_uids() -> None:
    image = instance(uid(3))
    derived = instance(uid(4))
    derived.ReferencedImageSequence = Sequence(
        [item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(3))]
    )
    derived.SourceImageSequence = Sequence(
        [item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(3))]
    )
    derived.RelatedSeriesSequence = Sequence(
        [item(StudyInstanceUID=uid(1), SeriesInstanceUID=uid(2))]
    )
    derived.ReferencedInstanceSequence = Sequence(
        [item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(3))]
    )
    target = anonymization("2021b")
    target.apply(derived)  # the reference is met before the instance it names
    target.apply(image)
    assert derived.ReferencedImageSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert derived.SourceImageSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert derived.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert derived.RelatedSeriesSequence[0].StudyInstanceUID == image.StudyInstanceUID
    assert derived.RelatedSeriesSequence[0].SeriesInstanceUID == image.SeriesInstanceUID
    assert image.SOPInstanceUID != uid(3)


def structure_set(image: Dataset) -> Dataset:
    contour = item(
        ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=image.SOPInstanceUID
    )
    series = item(SeriesInstanceUID=image.SeriesInstanceUID)
    series.ContourImageSequence = Sequence([contour])
    study = item(
        ReferencedSOPClassUID=DETACHED_STUDY, ReferencedSOPInstanceUID=image.StudyInstanceUID
    )
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = item(FrameOfReferenceUID=image.FrameOfReferenceUID)
    frame.RTReferencedStudySequence = Sequence([study])
    rt = Dataset()
    rt.SOPClassUID = RT_STRUCTURE_SET
    rt.SOPInstanceUID = uid(50)
    rt.PatientID = image.PatientID
    rt.PatientName = image.PatientName
    rt.StudyInstanceUID = image.StudyInstanceUID
    rt.SeriesInstanceUID = uid(51)
    rt.Modality = "RTSTRUCT"
    rt.ReferencedFrameOfReferenceSequence = Sequence([frame])
    rt.StructureSetROISequence = Sequence(
        [
            item(
                ROINumber=1,
                ReferencedFrameOfReferenceUID=image.FrameOfReferenceUID,
                ROIName="GTV",
            )
        ]
    )
    return rt


def test_rt_structure_set_references_follow_the_images() -> None:
    """Orthanc's test_anonymize_relationships_5: the RT Referenced Study's
    ReferencedSOPInstanceUID names a study, so it maps as a StudyInstanceUID."""
    image = instance()
    rt = structure_set(image)
    target = anonymization("2021b")
    target.apply(image)
    target.apply(rt)
    frame = rt.ReferencedFrameOfReferenceSequence[0]
    study = frame.RTReferencedStudySequence[0]
    series = study.RTReferencedSeriesSequence[0]
    contour = series.ContourImageSequence[0]
    assert frame.FrameOfReferenceUID == image.FrameOfReferenceUID != uid(9)
    assert study.ReferencedSOPInstanceUID == image.StudyInstanceUID != uid(1)
    assert study.ReferencedSOPClassUID == DETACHED_STUDY
    assert series.SeriesInstanceUID == image.SeriesInstanceUID != uid(2)
    assert contour.ReferencedSOPInstanceUID == image.SOPInstanceUID != uid(3)
    assert contour.ReferencedSOPClassUID == CTImageStorage
    roi = rt.StructureSetROISequence[0]
    assert roi.ReferencedFrameOfReferenceUID == image.FrameOfReferenceUID
    assert roi.ROIName == ""  # Z in 2021b, emptied inside the sequence
    assert roi.ROINumber == 1
    assert rt.StudyInstanceUID == image.StudyInstanceUID
    assert rt.PatientID == image.PatientID


def test_forced_study_uid_is_the_one_references_get() -> None:
    image = instance()
    rt = structure_set(image)
    rt.RelatedSeriesSequence = Sequence([item(StudyInstanceUID=uid(1), SeriesInstanceUID=uid(2))])
    target, _ = anonymization_from_request(
        {"Replace": {"StudyInstanceUID": uid(700)}, "Force": True}
    )
    target.apply(rt)
    target.apply(image)
    assert rt.StudyInstanceUID == image.StudyInstanceUID == uid(700)
    study = rt.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    assert study.ReferencedSOPInstanceUID == uid(700)
    assert rt.RelatedSeriesSequence[0].StudyInstanceUID == uid(700)
    assert rt.RelatedSeriesSequence[0].SeriesInstanceUID == image.SeriesInstanceUID != uid(2)


def test_frame_of_reference_uid_is_left_alone_by_a_modification() -> None:
    ds = instance()
    ds.ReferencedFrameOfReferenceSequence = Sequence([item(FrameOfReferenceUID=uid(9))])
    modified(ds, {"Replace": {"SeriesDescription": "x"}})
    assert ds.FrameOfReferenceUID == uid(9)
    assert ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == uid(9)
    assert ds.SOPInstanceUID != uid(3) and ds.SeriesInstanceUID == uid(2)


def test_the_same_input_twice_gives_the_same_output() -> None:
    """Orthanc's unit test: same anonymization context, same input, same output."""
    first, second = orthanc_sample(), orthanc_sample()
    target = anonymization("2021b")
    target.apply(first)
    target.apply(second)
    assert first == second
    assert _UUID.match(str(first.PatientName))
    references = first.ReferencedImageSequence
    assert references[0].ReferencedSOPClassUID == MR_IMAGE
    assert references[0].ReferencedSOPInstanceUID != (
        "1.2.840.113619.2.176.2025.1499492.7040.1171286241.719"
    )
    related = first.RelatedSeriesSequence[0]
    assert related.StudyInstanceUID != "1.2.840.113704.1.111.7016.1342451220.40"
    # the SeriesDescription (X) is removed from nested sequences too (Orthanc >= 1.9.5)
    code = related.PurposeOfReferenceCodeSequence[0]
    assert list(code.keys()) == [0x00080100] and code.CodeValue == "122403"


def test_kept_paths_are_left_untouched_by_the_anonymization() -> None:
    ds = orthanc_sample()
    anonymization_from_request(
        {"Keep": ["ReferencedImageSequence[1].ReferencedSOPInstanceUID", "RelatedSeriesSequence"]}
    )[0].apply(ds)
    references = ds.ReferencedImageSequence
    assert references[0].ReferencedSOPInstanceUID != (
        "1.2.840.113619.2.176.2025.1499492.7040.1171286241.719"
    )
    assert references[1].ReferencedSOPInstanceUID == (
        "1.2.840.113619.2.176.2025.1499492.7040.1171286241.726"
    )
    related = ds.RelatedSeriesSequence[0]
    assert related.StudyInstanceUID == "1.2.840.113704.1.111.7016.1342451220.40"
    assert related.PurposeOfReferenceCodeSequence[0].SeriesDescription == "WORLD"


@pytest.mark.parametrize(
    ("level", "changed"),
    [
        (INSTANCE, {"SOPInstanceUID"}),
        (SERIES, {"SOPInstanceUID", "SeriesInstanceUID"}),
        (STUDY, {"SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"}),
    ],
)
def test_a_modification_maps_the_identifiers_below_its_level(level: int, changed: set[str]) -> None:
    target = modification_from_request({"Replace": {"InstitutionName": "Elsewhere"}})
    target.level = level
    first, second = instance(uid(3)), instance(uid(4))
    target.apply(first)
    target.apply(second)
    originals = {"StudyInstanceUID": uid(1), "SeriesInstanceUID": uid(2)}
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
        assert getattr(first, keyword) == getattr(second, keyword)
        assert (getattr(first, keyword) != originals[keyword]) == (keyword in changed)
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert {first.SOPInstanceUID, second.SOPInstanceUID}.isdisjoint({uid(3), uid(4)})
    assert first.PatientID == "PAT-1" and first.PatientName == "Doe^Jane"
    assert first.InstitutionName == "Elsewhere" and first.AccessionNumber == "ACC-1"
    assert first.FrameOfReferenceUID == uid(9)


@pytest.mark.parametrize(
    ("replace", "level"),
    [
        ({}, INSTANCE),
        ({"SOPInstanceUID": uid(80)}, INSTANCE),
        ({"SeriesInstanceUID": uid(80)}, SERIES),
        ({"StudyInstanceUID": uid(80), "SeriesInstanceUID": uid(81)}, STUDY),
        ({"PatientID": "P2", "StudyInstanceUID": uid(80)}, PATIENT),
    ],
)
def test_modify_level_is_the_highest_identifier_replaced(
    replace: dict[str, str], level: int
) -> None:
    assert modify_level(modification_from_request({"Replace": replace, "Force": True})) == level


def test_forced_identifiers_are_written_as_given() -> None:
    ds = instance()
    modified(ds, {"Replace": {"SOPInstanceUID": uid(80)}, "Force": True})
    assert ds.SOPInstanceUID == uid(80)
    ds = instance()
    modified(ds, {"Replace": {"PatientID": "P2"}, "Force": True})
    assert ds.PatientID == "P2"
    assert ds.StudyInstanceUID != uid(1) and ds.SOPInstanceUID != uid(3)


def test_kept_instance_uids_survive_the_anonymization() -> None:
    ds = instance()
    anonymized(ds, {"Keep": ["StudyInstanceUID", "SOPInstanceUID"], "Force": True})
    assert ds.StudyInstanceUID == uid(1) and ds.SOPInstanceUID == uid(3)
    assert ds.SeriesInstanceUID != uid(2)
    assert DEIDENTIFICATION_METHOD not in ds


# -- Keep, Remove, Replace --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Modality", "0008,0060", "0008-0060", "00080060"])
def test_remove_by_keyword_or_tag(name: str) -> None:
    ds = instance()
    modified(ds, {"Remove": [name]})
    assert "Modality" not in ds and ds.InstitutionName == "Hospital"


@pytest.mark.parametrize("name", ["InstitutionName", "0008,0080", "0008-0080", "00080080"])
def test_replace_by_keyword_or_tag(name: str) -> None:
    ds = instance()
    modified(ds, {"Replace": {name: "Elsewhere"}})
    assert ds.InstitutionName == "Elsewhere" and ds[0x00080080].VR == "LO"


def test_replace_inserts_an_absent_tag_with_the_dictionarys_vr() -> None:
    ds = instance()
    modified(ds, {"Replace": {"StudyDescription": "Head", "Columns": "512", "SliceThickness": ""}})
    assert ds.StudyDescription == "Head"
    assert ds["Columns"].VR == "US" and ds.Columns == 512
    assert ds["SliceThickness"].VR == "DS" and is_empty(ds["SliceThickness"])


@pytest.mark.parametrize("name", ["StudyDescription", "0008,1030"])
def test_keep_by_keyword_or_tag_in_an_anonymization(name: str) -> None:
    ds = instance()
    ds.StudyDescription = "Head"
    ds.SeriesDescription = "Axial"
    anonymized(ds, {"Keep": [name, "AccessionNumber", "FrameOfReferenceUID"]})
    assert ds.StudyDescription == "Head"
    assert ds.AccessionNumber == "ACC-1"
    assert ds.FrameOfReferenceUID == uid(9)
    assert "SeriesDescription" not in ds


def test_a_kept_sequence_keeps_what_it_holds() -> None:
    ds = instance()
    ds.ReferencedImageSequence = Sequence(
        [
            item(
                ReferencedSOPClassUID=CTImageStorage,
                ReferencedSOPInstanceUID=uid(4),
                StudyDescription="nested",
            )
        ]
    )
    anonymization_from_request({"Keep": ["ReferencedImageSequence"]})[0].apply(ds)
    kept = ds.ReferencedImageSequence[0]
    assert kept.ReferencedSOPInstanceUID == uid(4)
    assert kept.StudyDescription == "nested"


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_replace_paths_in_sequences() -> None:
    """Orthanc's unit test: Replace of a first-level tag and of nested paths."""
    ds = orthanc_sample()
    modified(
        ds,
        {
            "Replace": {
                "PatientName": "Hello1",
                "ReferencedImageSequence[1].ReferencedSOPClassUID": "Hello2",
                "RelatedSeriesSequence[0].PurposeOfReferenceCodeSequence[0].CodeValue": "Hello3",
            }
        },
    )
    assert ds.PatientName == "Hello1"
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == MR_IMAGE
    assert ds.ReferencedImageSequence[1].ReferencedSOPClassUID == "Hello2"
    related = ds.RelatedSeriesSequence[0]
    assert related.PurposeOfReferenceCodeSequence[0].CodeValue == "Hello3"
    assert len(related) == 2


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_replace_every_item_inserts_where_absent() -> None:
    ds = orthanc_sample()
    modified(
        ds,
        {
            "Replace": {
                "ReferencedImageSequence[*].ReferencedSOPClassUID": "Hello1",
                "ReferencedImageSequence[*].PatientID": "Hello3",
                "ReferencedImageSequence[5].PatientName": "nowhere",
                "RelatedSeriesSequence[*].PurposeOfReferenceCodeSequence[*].CodeValue": "Hello5",
            }
        },
    )
    for reference in ds.ReferencedImageSequence:
        assert reference.ReferencedSOPClassUID == "Hello1"
        assert reference.PatientID == "Hello3"
        assert "PatientName" not in reference
    assert ds.ReferencedSOPClassUID == MR_IMAGE
    code = ds.RelatedSeriesSequence[0].PurposeOfReferenceCodeSequence[0]
    assert code.CodeValue == "Hello5"


@pytest.mark.parametrize(
    ("path", "first_has_class", "second_has_class"),
    [
        ("ReferencedImageSequence[*].ReferencedSOPClassUID", False, False),
        ("ReferencedImageSequence[0].ReferencedSOPClassUID", False, True),
        ("ReferencedImageSequence[1].ReferencedSOPClassUID", True, False),
        ("ReferencedImageSequence[2].ReferencedSOPClassUID", True, True),
    ],
)
def test_remove_paths_in_sequences(
    path: str, first_has_class: bool, second_has_class: bool
) -> None:
    ds = orthanc_sample()
    modified(ds, {"Remove": [path]})
    first, second = ds.ReferencedImageSequence
    assert ("ReferencedSOPClassUID" in first) == first_has_class
    assert ("ReferencedSOPClassUID" in second) == second_has_class
    assert "ReferencedSOPInstanceUID" in first and "ReferencedSOPInstanceUID" in second
    assert ds.ReferencedSOPClassUID == MR_IMAGE  # the first-level tag of the same name stays


def test_paths_in_an_anonymization_apply_after_the_profile() -> None:
    """Orthanc's step (8): the nested Remove and Replace come after the UIDs are mapped."""
    ds = orthanc_sample()
    target, _ = anonymization_from_request(
        {
            "Replace": {"ReferencedImageSequence[*].ReferencedSOPInstanceUID": uid(70)},
            "Remove": ["ReferencedImageSequence[0].ReferencedSOPClassUID"],
        }
    )
    target.apply(ds)
    first, second = ds.ReferencedImageSequence
    assert first.ReferencedSOPInstanceUID == second.ReferencedSOPInstanceUID == uid(70)
    assert "ReferencedSOPClassUID" not in first
    assert second.ReferencedSOPClassUID == MR_IMAGE


def test_remove_a_nested_sequence_and_a_first_level_tag() -> None:
    ds = orthanc_sample()
    modified(
        ds,
        {
            "Remove": [
                "PatientName",
                "ReferencedImageSequence[1].ReferencedSOPClassUID",
                "RelatedSeriesSequence[0].PurposeOfReferenceCodeSequence",
            ]
        },
    )
    assert "PatientName" not in ds
    assert len(ds.ReferencedImageSequence[0]) == 2
    assert list(ds.ReferencedImageSequence[1].keys()) == [0x00081155]
    assert list(ds.RelatedSeriesSequence[0].keys()) == [0x0020000D]


def test_replace_a_sequence_by_json_items() -> None:
    ds = instance()
    modified(
        ds,
        {
            "Replace": {
                "ReferencedStudySequence": [
                    {"ReferencedSOPClassUID": DETACHED_STUDY, "0008,1155": uid(1)},
                    [],  # what Lua makes of an empty item
                ]
            }
        },
    )
    first, second = ds.ReferencedStudySequence
    assert first.ReferencedSOPClassUID == DETACHED_STUDY
    assert first.ReferencedSOPInstanceUID == uid(1)
    assert len(second) == 0


def test_replace_a_sequence_by_an_empty_string_empties_it() -> None:
    """ParsedDicomFile::Replace creates the element for the tag (a sequence) and fills it only
    with a non-empty string: "" leaves an empty sequence."""
    ds = orthanc_sample()
    modified(ds, {"Replace": {"ReferencedImageSequence": ""}})
    assert ds["ReferencedImageSequence"].VR == "SQ"
    assert len(ds.ReferencedImageSequence) == 0


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (["x"], "BAD_PARAMETER_TYPE"),  # a list for a tag that is no sequence
        (5, "BAD_PARAMETER_TYPE"),
        (True, "BAD_PARAMETER_TYPE"),
        ({"a": "b"}, "BAD_PARAMETER_TYPE"),
    ],
)
def test_replace_values_of_the_wrong_type_are_refused(value: object, code: str) -> None:
    target = modification_from_request({"Replace": {"PatientName": value}})
    refused = refusal(lambda: target.apply(instance()))
    assert (refused.code, refused.details) == (code, "Bad Parameter type for tag 0010,0010")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Rows", "abc"),
        ("Rows", "70000"),  # beyond US
        ("ReferencedImageSequence", "abc"),  # a string for a sequence
    ],
)
def test_replace_values_the_vr_cannot_hold_are_refused(name: str, value: str) -> None:
    """FillElementWithString: BadFileFormat ("... has out-of-range value")."""
    target = modification_from_request({"Replace": {name: value}})
    assert refusal(lambda: target.apply(instance())).code == "BAD_FILE_FORMAT"


def data_uri(content: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64," + base64.b64encode(content).decode("ascii")


@pytest.mark.parametrize(
    ("content", "stored"),
    [
        (b"\x00\x01\x02\xff", b"\x00\x01\x02\xff"),
        (b"\x01\x02\x03", b"\x01\x02\x03\x00"),  # padded to an even length
        (b"", b""),
    ],
)
def test_replace_a_binary_tag_by_a_data_uri(content: bytes, stored: bytes) -> None:
    ds = instance()
    modified(ds, {"Replace": {"ICCProfile": data_uri(content)}})
    assert ds["ICCProfile"].VR == "OB" and ds.ICCProfile in (content, stored)
    assert (dcmread(DicomBytesIO(dataset_bytes(ds))).ICCProfile or b"") == stored


def test_replace_an_existing_ow_tag_by_a_data_uri() -> None:
    ds = instance()
    ds.add_new(0x00281201, "OW", b"\x00\x00")
    modified(ds, {"Replace": {"RedPaletteColorLookupTableData": data_uri(b"\x10\x20\x30\x40")}})
    assert ds[0x00281201].VR == "OW" and ds[0x00281201].value == b"\x10\x20\x30\x40"


def test_a_data_uri_with_bad_base64_is_refused() -> None:
    target = modification_from_request(
        {"Replace": {"ICCProfile": "data:application/octet-stream;base64,@@@"}}
    )
    assert refusal(lambda: target.apply(instance())).code == "BAD_FILE_FORMAT"


def test_a_data_uri_is_decoded_for_a_string_tag_too() -> None:
    """FillElementWithString decodes "data:application/octet-stream;base64," for every VR."""
    ds = instance()
    modified(ds, {"Replace": {"InstitutionName": data_uri(b"Decoded")}})
    assert ds.InstitutionName == "Decoded"


def test_only_the_octet_stream_data_uri_is_decoded() -> None:
    """Orthanc decodes URI_SCHEME_PREFIX_BINARY only: another data URI is stored as it is."""
    text = data_uri(b"Hi", "text/plain")
    ds = instance()
    modified(ds, {"Replace": {"ICCProfile": text}})
    assert ds.ICCProfile.rstrip(b"\0") == text.encode("ascii")


def private_dataset() -> Dataset:
    ds = instance()
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "first")
    ds.add_new(0x00091002, "LO", "second")
    ds.add_new(0x00290010, "LO", "ACME 2.0")
    ds.add_new(0x00291001, "SH", "third")
    nested = item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(4))
    nested.add_new(0x00110010, "LO", "NESTED")
    nested.add_new(0x00111001, "LO", "nested private")
    ds.ReferencedImageSequence = Sequence([nested])
    return ds


def private_tags(ds: Dataset) -> set[int]:
    return {int(element.tag) for element in ds if element.tag.is_private}


def test_a_modification_keeps_private_tags_unless_asked() -> None:
    ds = private_dataset()
    modified(ds, {"Replace": {"InstitutionName": "x"}})
    assert private_tags(ds) == {0x00090010, 0x00091001, 0x00091002, 0x00290010, 0x00291001}
    ds = private_dataset()
    modified(ds, {"RemovePrivateTags": True})
    assert private_tags(ds) == set()
    assert ds.InstitutionName == "Hospital"


def test_an_anonymization_removes_private_tags_at_every_level() -> None:
    ds = private_dataset()
    anonymized(ds)
    assert private_tags(ds) == set()
    assert private_tags(ds.ReferencedImageSequence[0]) == set()
    assert ds[DEIDENTIFICATION_METHOD].value == METHOD_2021B


def test_keep_private_tags() -> None:
    ds = private_dataset()
    anonymized(ds, {"KeepPrivateTags": True})
    assert ds[0x00091001].value == "first" and ds[0x00291001].value == "third"
    assert ds.ReferencedImageSequence[0][0x00111001].value == "nested private"
    assert DEIDENTIFICATION_METHOD not in ds


def test_keep_one_private_tag() -> None:
    """Orthanc's unit test "DicomModification.Anonymization": Keep of a private tag."""
    ds = private_dataset()
    anonymized(ds, {"Keep": ["0009,1001"]})
    assert ds[0x00091001].value == "first"
    assert {0x00091002, 0x00291001}.isdisjoint(private_tags(ds))
    ds = private_dataset()
    anonymized(ds, {"DicomVersion": "2008", "Keep": ["0009-1002"]})
    assert ds[0x00091002].value == "second" and 0x00091001 not in ds


@pytest.mark.parametrize(
    ("request_body", "default_creator", "vr", "value"),
    [
        ({"PrivateCreator": "GEMS_PARM_01"}, "", "SS", 12),
        ({}, "GEMS_PARM_01", "SS", 12),
        ({"PrivateCreator": "GEMS_PARM_01"}, "SOMEONE ELSE", "SS", 12),
        ({}, "", "UN", b"12"),
    ],
)
def test_private_creator_gives_the_vr_of_a_replaced_private_tag(
    request_body: dict[str, Any], default_creator: str, vr: str, value: object
) -> None:
    ds = instance()
    target = modification_from_request(
        {**request_body, "Replace": {"0043,1001": "12"}}, default_creator
    )
    target.apply(ds)
    element = ds[0x00431001]
    assert (element.VR, element.value) == (vr, value)


def test_private_creator_in_an_anonymization() -> None:
    ds = instance()
    target, _ = anonymization_from_request(
        {"PrivateCreator": "GEMS_IDEN_01", "Replace": {"0009,1001": "kept text"}}
    )
    target.apply(ds)
    assert ds[0x00091001].VR == "LO" and ds[0x00091001].value == "kept text"
    ds = instance()
    target, _ = anonymization_from_request(
        {"PrivateCreator": "SIEMENS CSA HEADER", "Replace": {"0029,1010": data_uri(b"CSA2")}}
    )
    target.apply(ds)
    assert ds[0x00291010].VR == "OB" and ds[0x00291010].value == b"CSA2"


# -- requests Orthanc refuses -----------------------------------------------------------------


def force_message(name: str, verb: str) -> str:
    return f'Marking tag "{name}" as to be {verb} requires the "Force" option to be set to true'


COMMON_REFUSALS: list[tuple[Any, str, str | None]] = [
    ([], "BAD_FILE_FORMAT", None),
    ("x", "BAD_FILE_FORMAT", None),
    ({"Force": "yes"}, "BAD_FILE_FORMAT", 'Member "Force" should be a Boolean value'),
    ({"Remove": "PatientName"}, "BAD_REQUEST", None),
    ({"Remove": [42]}, "BAD_REQUEST", None),
    ({"Keep": {"PatientName": 1}}, "BAD_REQUEST", None),
    ({"Replace": ["PatientName"]}, "BAD_REQUEST", None),
    ({"Remove": ["NoSuchTag"]}, "UNKNOWN_DICOM_TAG", None),
    ({"Replace": {"NoSuchTag": "x"}}, "UNKNOWN_DICOM_TAG", None),
    ({"Keep": ["ReferencedImageSequence[0].NoSuchTag"]}, "UNKNOWN_DICOM_TAG", None),
    ({"Remove": ["NoSuchSequence[0].PatientName"]}, "UNKNOWN_DICOM_TAG", None),
    ({"Replace": {"PatientID": "x"}}, "BAD_REQUEST", force_message("PatientID", "replaced")),
    (
        {"Replace": {"StudyInstanceUID": "1.2"}},
        "BAD_REQUEST",
        force_message("StudyInstanceUID", "replaced"),
    ),
    ({"Replace": {"0020,000e": "1.2"}}, "BAD_REQUEST", force_message("0020,000e", "replaced")),
    (
        {"Replace": {"SOPInstanceUID": "1.2"}, "Force": False},
        "BAD_REQUEST",
        force_message("SOPInstanceUID", "replaced"),
    ),
    (
        {"Replace": {"StudyInstanceUID": "1.2", "PatientID": "P"}},
        "BAD_REQUEST",
        force_message("PatientID", "replaced"),  # the members in JsonCpp's (sorted) order
    ),
    ({"Remove": ["SOPInstanceUID"]}, "BAD_REQUEST", force_message("SOPInstanceUID", "removed")),
    ({"Remove": ["0010-0020"]}, "BAD_REQUEST", force_message("0010-0020", "removed")),
    ({"Keep": ["SeriesInstanceUID"]}, "BAD_REQUEST", force_message("SeriesInstanceUID", "kept")),
    ({"Keep": ["PatientID"]}, "BAD_REQUEST", force_message("PatientID", "kept")),
]


@pytest.mark.parametrize(("body", "code", "details"), COMMON_REFUSALS)
@pytest.mark.parametrize("anonymize", [False, True])
def test_requests_refused_as_orthanc_refuses_them(
    body: Any, code: str, details: str | None, anonymize: bool
) -> None:
    if anonymize:
        refused = refusal(lambda: anonymization_from_request(body))
    else:
        refused = refusal(lambda: modification_from_request(body))
    assert (refused.code, refused.details) == (code, details)


@pytest.mark.parametrize(
    ("body", "code", "details"),
    [
        (
            {"RemovePrivateTags": 1},
            "BAD_FILE_FORMAT",
            'Member "RemovePrivateTags" should be a Boolean value',
        ),
        (
            {"PrivateCreator": 5},
            "BAD_FILE_FORMAT",
            "String value expected in field: PrivateCreator",
        ),
    ],
)
def test_modify_requests_refused(body: Any, code: str, details: str | None) -> None:
    refused = refusal(lambda: modification_from_request(body))
    assert (refused.code, refused.details) == (code, details)


@pytest.mark.parametrize(
    ("body", "code", "details"),
    [
        ({"DicomVersion": 2021}, "BAD_FILE_FORMAT", None),
        (
            {"DicomVersion": "2099"},
            "PARAMETER_OUT_OF_RANGE",
            "Unknown specific version of the DICOM standard: 2099",
        ),
        (
            {"KeepPrivateTags": "true"},
            "BAD_FILE_FORMAT",
            'Member "KeepPrivateTags" should be a Boolean value',
        ),
        (
            {"PrivateCreator": []},
            "BAD_FILE_FORMAT",
            "String value expected in field: PrivateCreator",
        ),
    ],
)
def test_anonymize_requests_refused(body: Any, code: str, details: str | None) -> None:
    refused = refusal(lambda: anonymization_from_request(body))
    assert (refused.code, refused.details) == (code, details)


@pytest.mark.parametrize(
    ("path", "details"),
    [
        (
            "ReferencedImageSequence.ReferencedSOPInstanceUID",
            "Parent path doesn't contain an index",
        ),
        (
            "ReferencedImageSequence[-1].ReferencedSOPInstanceUID",
            "Negative index in parent path: -1",
        ),
        (
            "ReferencedImageSequence[x].ReferencedSOPInstanceUID",
            "Not a valid index in parent path: [x]",
        ),
        (
            "ReferencedImageSequence[0.ReferencedSOPInstanceUID",
            "Parent path doesn't contain the end of the index",
        ),
    ],
)
def test_malformed_paths_are_refused_as_orthanc_refuses_them(path: str, details: str) -> None:
    """DicomPath::Parse: ParameterOutOfRange."""
    refused = refusal(lambda: modification_from_request({"Remove": [path]}))
    assert (refused.code, refused.details) == ("PARAMETER_OUT_OF_RANGE", details)


def test_nested_identifiers_need_no_force() -> None:
    target = modification_from_request(
        {
            "Remove": ["RelatedSeriesSequence[0].StudyInstanceUID"],
            "Replace": {"ReferencedImageSequence[*].SOPInstanceUID": uid(60)},
            "Keep": ["RelatedSeriesSequence[*].SeriesInstanceUID"],
        }
    )
    ds = orthanc_sample()
    target.apply(ds)
    assert "StudyInstanceUID" not in ds.RelatedSeriesSequence[0]
    assert [i.SOPInstanceUID for i in ds.ReferencedImageSequence] == [uid(60), uid(60)]


@pytest.mark.parametrize(
    "keyword", ["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
)
@pytest.mark.parametrize("anonymize", [False, True])
def test_removing_an_identifier_is_refused_even_with_force(keyword: str, anonymize: bool) -> None:
    body = {"Remove": [keyword], "Force": True}
    if anonymize:
        target, _ = anonymization_from_request(body)
    else:
        target = modification_from_request(body)
    refused = refusal(lambda: target.apply(instance()))
    assert (refused.code, refused.details) == ("BAD_REQUEST", None)


@pytest.mark.parametrize(
    ("replace", "level", "details"),
    [
        ({}, PATIENT, "When modifying a patient, her PatientID is required to be modified"),
        (
            {"PatientID": "P2"},
            STUDY,
            "When modifying a study, the parent PatientID cannot be manually modified",
        ),
        (
            {"PatientID": "P2"},
            SERIES,
            "When modifying a series, the parent PatientID cannot be manually modified",
        ),
        (
            {"PatientID": "P2"},
            INSTANCE,
            "When modifying an instance, the parent PatientID cannot be manually modified",
        ),
        (
            {"StudyInstanceUID": uid(80)},
            SERIES,
            "When modifying a series, the parent StudyInstanceUID cannot be manually modified",
        ),
        (
            {"StudyInstanceUID": uid(80)},
            INSTANCE,
            "When modifying an instance, the parent StudyInstanceUID cannot be manually modified",
        ),
        (
            {"SeriesInstanceUID": uid(80)},
            INSTANCE,
            "When modifying an instance, the parent SeriesInstanceUID cannot be manually modified",
        ),
    ],
)
def test_levels_refuse_changes_to_their_parents(
    replace: dict[str, str], level: int, details: str
) -> None:
    target = modification_from_request({"Replace": replace, "Force": True})
    target.level = level
    refused = refusal(target.check)
    assert (refused.code, refused.details) == ("BAD_REQUEST", details)
    ds = instance()
    refusal(lambda: target.apply(ds))
    assert ds == instance()  # refused before any change


@pytest.mark.parametrize(
    ("replace", "level", "details"),
    [
        (
            {"PatientID": "P", "StudyInstanceUID": uid(80)},
            PATIENT,
            "When modifying a patient, the StudyInstanceUID cannot be manually modified",
        ),
        (
            {"PatientID": "P", "SeriesInstanceUID": uid(80)},
            PATIENT,
            "When modifying a patient, the SeriesInstanceUID cannot be manually modified",
        ),
        (
            {"PatientID": "P", "SOPInstanceUID": uid(80)},
            PATIENT,
            "When modifying a patient, the SopInstanceUID cannot be manually modified",
        ),
        (
            {"SeriesInstanceUID": uid(80)},
            STUDY,
            "When modifying a study, the SeriesInstanceUID cannot be manually modified",
        ),
        (
            {"SOPInstanceUID": uid(80)},
            STUDY,
            "When modifying a study, the SopInstanceUID cannot be manually modified",
        ),
        (
            {"SOPInstanceUID": uid(80)},
            SERIES,
            "When modifying a series, the SopInstanceUID cannot be manually modified",
        ),
    ],
)
def test_manual_identifiers_refused_when_not_allowed(
    replace: dict[str, str], level: int, details: str
) -> None:
    target = modification_from_request({"Replace": replace, "Force": True})
    target.level = level
    target.check()  # allowed by default
    target.allow_manual_identifiers = False
    refused = refusal(target.check)
    assert (refused.code, refused.details) == ("BAD_REQUEST", details)


def test_an_anonymization_works_at_the_patient_level_only() -> None:
    target, _ = anonymization_from_request({})
    assert target.level == PATIENT
    target.check()
    target.level = STUDY  # its new PatientID is a change of the study's parent
    refused = refusal(target.check)
    assert refused.details == (
        "When modifying a study, the parent PatientID cannot be manually modified"
    )


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(deidentification.UnknownVersion):
        deidentification.profile("2019c")
    refused = refusal(lambda: anonymization("2019c"))
    assert refused.code == "PARAMETER_OUT_OF_RANGE"


@pytest.mark.parametrize(
    ("body", "name_given"),
    [
        ({}, False),
        ({"Replace": {"PatientName": "Someone"}}, True),
        ({"Keep": ["PatientName"]}, True),
        ({"Remove": ["PatientName"]}, True),
        ({"Replace": {"PatientID": "P"}, "Force": True}, False),
    ],
)
def test_whether_the_request_says_what_patient_name_becomes(
    body: dict[str, Any], name_given: bool
) -> None:
    assert anonymization_from_request(body)[1] is name_given


# -- DeidentificationMethod -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "method"),
    [
        ({}, METHOD_2021B),
        ({"DicomVersion": "2021b"}, METHOD_2021B),
        ({"DicomVersion": "2017c"}, f"{SOFTWARE} - PS 3.15-2017c Table E.1-1 Basic Profile"),
        ({"DicomVersion": "2008"}, f"{SOFTWARE} - PS 3.15-2008 Table E.1-1"),
        ({"KeepPrivateTags": False, "Force": True, "PrivateCreator": "X"}, METHOD_2021B),
        ({"Keep": [], "Remove": [], "Replace": {}}, METHOD_2021B),
        ({"KeepPrivateTags": True}, None),
        ({"Keep": ["StudyDescription"]}, None),
        ({"Keep": ["Modality"]}, None),
        ({"Keep": ["ReferencedImageSequence[0].ReferencedSOPInstanceUID"]}, None),
        ({"Remove": ["Modality"]}, None),
        ({"Remove": ["ReferencedImageSequence[0].ReferencedSOPClassUID"]}, None),
        ({"Replace": {"InstitutionName": "x"}}, None),
        ({"Replace": {"PatientName": "x"}}, None),
        ({"Replace": {"ReferencedImageSequence[0].ReferencedSOPClassUID": "1.2"}}, None),
        ({"DicomVersion": "2008", "Keep": ["AccessionNumber"]}, None),
        ({"Replace": {"DeidentificationMethod": "mine"}}, "mine"),
    ],
)
def test_deidentification_method_names_an_unaltered_profile(
    body: dict[str, Any], method: str | None
) -> None:
    ds = instance()
    ds.ReferencedImageSequence = Sequence(
        [item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid(4))]
    )
    anonymized(ds, body)
    if method is None:
        assert DEIDENTIFICATION_METHOD not in ds
    else:
        assert ds[DEIDENTIFICATION_METHOD].value == method
    assert ds[PATIENT_IDENTITY_REMOVED].value == "YES"


def test_the_generated_patient_name_leaves_the_profile_unaltered() -> None:
    """Orthanc's REST layer replaces PatientName "safe for anonymization"."""
    target, name_given = anonymization_from_request({})
    assert not name_given
    target.replace(DicomPath((), 0x00100010), "Anonymized1", safe_for_anonymization=True)
    with_method(target, SOFTWARE)
    ds = instance()
    target.apply(ds)
    assert ds.PatientName == "Anonymized1"
    assert ds[DEIDENTIFICATION_METHOD].value == METHOD_2021B
    target.replace(DicomPath((), 0x00081030), "Head")
    assert target.profile_method is None


def test_a_modification_has_no_deidentification_method() -> None:
    target = modification_from_request({})
    with_method(target, SOFTWARE)
    ds = instance()
    target.apply(ds)
    assert DEIDENTIFICATION_METHOD not in ds and PATIENT_IDENTITY_REMOVED not in ds


# -- DicomPath --------------------------------------------------------------------------------

REFERENCED_PPS = 0x00081111  # Referenced Performed Procedure Step Sequence


@pytest.mark.parametrize(
    ("text", "prefix", "tag"),
    [
        ("0018,1310", (), 0x00181310),
        ("PatientID", (), 0x00100020),
        ("  PatientName ", (), 0x00100010),
        (
            "ReferencedPerformedProcedureStepSequence[0].PatientName",
            ((REFERENCED_PPS, 0),),
            0x00100010,
        ),
        (
            "0008,1111[1].0008-1111[2].00100010",
            ((REFERENCED_PPS, 1), (REFERENCED_PPS, 2)),
            0x00100010,
        ),
        ("0008,1111[*].PatientName", ((REFERENCED_PPS, ANY_ITEM),), 0x00100010),
        (
            "0008,1111[1].0008,1111[*].0010,0010",
            ((REFERENCED_PPS, 1), (REFERENCED_PPS, ANY_ITEM)),
            0x00100010,
        ),
        ("PatientID[1].PatientName", ((0x00100020, 1),), 0x00100010),
        ("PatientID[42].PatientName", ((0x00100020, 42),), 0x00100010),
        (
            "ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[*]"
            ".ReferencedSOPInstanceUID",
            ((0x30060010, 0), (0x30060012, ANY_ITEM)),
            0x00081155,
        ),
    ],
)
def test_path_parsing(text: str, prefix: tuple[tuple[int, int], ...], tag: int) -> None:
    assert DicomPath.parse(text) == DicomPath(prefix, tag)


@pytest.mark.parametrize(
    ("text", "prefix", "tag"),
    [
        # Orthanc's DicomPath::ParseTag reads "(gggg,eeee)", the form DicomPath::Format writes
        ("(0010,0010)", (), 0x00100010),
        ("(0018,1310)", (), 0x00181310),
        ("(0008,1111)[0].PatientName", ((REFERENCED_PPS, 0),), 0x00100010),
        (
            "(0008,1111)[1].(0008,1111)[2].(0010,0010)",
            ((REFERENCED_PPS, 1), (REFERENCED_PPS, 2)),
            0x00100010,
        ),
        ("(0008,1111)[*].PatientName", ((REFERENCED_PPS, ANY_ITEM),), 0x00100010),
        # and strips the spaces around every token
        ("     PatientID    [  42   ]    .    PatientName     ", ((0x00100020, 42),), 0x00100010),
    ],
)
def test_path_parsing_of_orthancs_other_spellings(
    text: str, prefix: tuple[tuple[int, int], ...], tag: int
) -> None:
    """The samples of Orthanc's unit test "DicomModification.DicomPath"."""
    assert DicomPath.parse(text) == DicomPath(prefix, tag)


@pytest.mark.parametrize(
    "text",
    [
        "PatientID[.PatientName",
        "PatientID[].PatientName",
        "PatientID0].PatientName",
        "PatientID[-1].PatientName",
        "PatientID.PatientName",
        "[0].PatientName",
    ],
)
def test_malformed_paths(text: str) -> None:
    with pytest.raises(BadDicomPath):
        DicomPath.parse(text)


@pytest.mark.parametrize("text", ["nope", "PatientID[0].nope", "nope[0].PatientID", "0010,001"])
def test_paths_with_unknown_tags(text: str) -> None:
    with pytest.raises(UnknownDicomTag):
        DicomPath.parse(text)


def concrete(text: str) -> tuple[tuple[tuple[int, int], ...], int]:
    path = DicomPath.parse(text)
    return path.prefix, path.tag


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # DicomPath::IsMatch in Orthanc's unit test, with keyword spellings
        ("PatientName", "PatientName", True),
        ("PatientName", "PatientID", False),
        ("PatientName", "PatientName[1].PatientID", True),
        ("PatientName[1].PatientID", "PatientName", False),
        ("PatientName[1].PatientID", "PatientName[1].PatientID", True),
        ("PatientName[*].PatientID", "PatientName[1].PatientID", True),
        ("PatientName[2].PatientID", "PatientName[1].PatientID", False),
        (
            "PatientName[*].PatientID[*].PatientBirthDate",
            "PatientName[1].PatientID[2].PatientBirthDate[3].PatientSex",
            True,
        ),
        (
            "PatientName[1].PatientID[2].PatientBirthDate",
            "PatientName[1].PatientID[2].PatientBirthDate[3].PatientSex",
            True,
        ),
        (
            "PatientName[1].PatientID[3].PatientBirthDate",
            "PatientName[1].PatientID[2].PatientBirthDate[3].PatientSex",
            False,
        ),
        (
            "PatientName[2].PatientID[2].PatientBirthDate",
            "PatientName[1].PatientID[2].PatientBirthDate[3].PatientSex",
            False,
        ),
        ("PatientName[*].PatientID", "PatientSex[1].PatientID", False),
    ],
)
def test_path_matching(pattern: str, path: str, expected: bool) -> None:
    parents, tag = concrete(path)
    assert DicomPath.parse(pattern).matches(parents, tag) is expected


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("ReferencedImageSequence[*].ReferencedSOPInstanceUID", ["719", "726"]),
        ("ReferencedImageSequence[0].ReferencedSOPInstanceUID", ["719"]),
        ("ReferencedImageSequence[1].ReferencedSOPInstanceUID", ["726"]),
        ("ReferencedImageSequence[2].ReferencedSOPInstanceUID", []),
        ("PatientName[0].ReferencedSOPInstanceUID", []),  # not a sequence
        ("ReferencedStudySequence[*].ReferencedSOPInstanceUID", []),  # absent
    ],
)
def test_path_items(text: str, values: list[str]) -> None:
    found = [i.ReferencedSOPInstanceUID[-3:] for i in DicomPath.parse(text).items(orthanc_sample())]
    assert found == values


def test_path_items_through_two_levels() -> None:
    ds = orthanc_sample()
    path = DicomPath.parse("RelatedSeriesSequence[*].PurposeOfReferenceCodeSequence[0].CodeValue")
    assert [i.CodeValue for i in path.items(ds)] == ["122403"]
    assert [len(i) for i in DicomPath.parse("PatientName").items(ds)] == [len(ds)]


# -- dataset_bytes ----------------------------------------------------------------------------


def meta_group_length(data: bytes) -> tuple[int, int]:
    """(the declared (0002,0000) value, the length of the rest of group 2)."""
    assert data[128:132] == b"DICM"
    assert data[132:136] == b"\x02\x00\x00\x00" and data[136:138] == b"UL"
    declared = struct.unpack("<I", data[140:144])[0]
    position = 144
    while data[position : position + 2] == b"\x02\x00":
        vr = data[position + 4 : position + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
            length = struct.unpack("<I", data[position + 8 : position + 12])[0]
            position += 12 + length
        else:
            position += 8 + struct.unpack("<H", data[position + 6 : position + 8])[0]
    return declared, position - 144


def test_dataset_bytes_follows_the_new_sop_instance_uid_and_keeps_the_syntax() -> None:
    ds = instance()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.FileMetaInformationGroupLength = 9999
    ds.file_meta.MediaStorageSOPClassUID = UID(MR_IMAGE)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid(3))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    anonymized(ds)
    data = dataset_bytes(ds)
    written = dcmread(DicomBytesIO(data))
    meta = written.file_meta
    assert meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID != uid(3)
    assert meta.MediaStorageSOPClassUID == CTImageStorage
    declared, actual = meta_group_length(data)
    assert declared == actual == meta.FileMetaInformationGroupLength
    assert written.PatientID == ds.PatientID and written.SOPInstanceUID == ds.SOPInstanceUID
    assert written[DEIDENTIFICATION_METHOD].value == METHOD_2021B
    # implicit VR: the first element after the meta header has no VR letters
    assert data[144 + actual + 4 : 144 + actual + 6] != b"UI"


def test_dataset_bytes_of_a_bare_dataset_is_explicit_little_endian() -> None:
    ds = instance()
    modified(ds, {"Replace": {"StudyDescription": "Head"}})
    data = dataset_bytes(ds)
    written = dcmread(DicomBytesIO(data))
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert written.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert written.StudyDescription == "Head"
    declared, actual = meta_group_length(data)
    assert declared == actual
    assert data[144 + actual + 4 : 144 + actual + 6] == b"UI"  # (0008,0016) UI, explicit


# -- the tables' generator --------------------------------------------------------------------


def docbook(rows: str, label: str = "E.1-1") -> bytes:
    return (
        '<book xmlns="http://docbook.org/ns/docbook"><chapter>'
        '<table label="E.2-1"><tbody>' + row("Decoy", "(0008,0050)", "K") + "</tbody></table>"
        f'<table label="{label}"><thead><tr><th><para>Attribute Name</para></th></tr></thead>'
        f"<tbody>{rows}</tbody></table></chapter></book>"
    ).encode()


def row(name: str, tag: str, code: str, cells: int = 15) -> str:
    values = ([name, tag, "N", "Y", code] + [""] * 10)[:cells]
    tds = "".join(
        f'<td><para xml:id="p{i}">{value}</para></td>' if value else "<td/>"
        for i, value in enumerate(values)
    )
    return f'<tr valign="top">{tds}</tr>'


def test_basic_profile_reads_table_e11() -> None:
    xml = docbook(
        row("Accession Number", "(0008,0050)", "Z")
        + row("Series Description", "(0008,103E)", "X")
        + row("Curve Data", "(50xx,xxxx)", "X")
        + row("Referenced Image Sequence", "( 0008 , 1140 )", "X/Z/U*")
        + row(
            "<emphasis>Private attributes</emphasis>",
            "<emphasis>(gggg,eeee) where gggg is odd</emphasis>",
            "X",
        )
        + row("", "(0010,0010)", "Z")  # a row without a name
        + row("Short row", "(0010,0020)", "Z", cells=4)
        + row("Study <emphasis>Date</emphasis>", "(0008,0020)", "<emphasis>Z</emphasis>")
    )
    assert basic_profile(xml) == {
        "0008,0050": "Z",
        "0008,103e": "X",
        "50xx,xxxx": "X",
        "0008,1140": "X/Z/U*",
        "0008,0020": "Z",
    }


def test_basic_profile_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match=r"no Table E\.1-1"):
        basic_profile(docbook(row("Accession Number", "(0008,0050)", "Z"), label="E.1-2"))
    with pytest.raises(ValueError, match="unexpected tag"):
        basic_profile(docbook(row("Accession Number", "0008,0050", "Z")))


def test_render_writes_a_module_with_the_profiles() -> None:
    profiles = {"2021b": {"0010,0020": "Z", "0008,0050": "Z"}, "2017c": {"50xx,xxxx": "X"}}
    source = render(profiles)
    namespace: dict[str, Any] = {}
    exec(compile(source, "tables", "exec"), namespace)
    assert namespace["BASIC_PROFILE"] == profiles
    assert ast.get_docstring(ast.parse(source)) is not None
    assert list(namespace["BASIC_PROFILE"]) == ["2017c", "2021b"]  # editions sorted
    assert source.index("0008,0050") < source.index("0010,0020")  # tags sorted


def test_render_gives_back_the_committed_tables() -> None:
    module = ast.parse(TARGET.read_text())
    assigned = next(node for node in module.body if isinstance(node, ast.AnnAssign))
    assert assigned.value is not None
    assert ast.literal_eval(assigned.value) == BASIC_PROFILE
    rendered = ast.parse(render(BASIC_PROFILE))
    assert ast.dump(rendered) == ast.dump(module)


def test_regenerating_the_tables_changes_nothing() -> None:
    """The module says it is generated by render(): running the generator again must not leave
    a file `ruff format --check` (tests/test_code_quality.py) refuses."""
    assert render(BASIC_PROFILE) == TARGET.read_text()


def test_profiles_read_from_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {
        "50xx,xxxx": "X",
        "0008,0050": "Z",
        "0008,0023": "Z/D",
        "0012,0010": "D",
        "0008,0080": "X/Z/D",
        "0010,1010": "X",
        "0020,0052": "U",
        "0008,1140": "X/Z/U*",
        "0008,0018": "U",
        "0010,0010": "Z",
    }
    monkeypatch.setitem(BASIC_PROFILE, "test", table)
    monkeypatch.setitem(deidentification.METHODS, "test", "the test method")
    chosen = deidentification.profile("test")
    assert chosen.removals == {0x00080080, 0x00101010}
    assert chosen.clearings == {0x00080050, 0x00080023, 0x00120010}
    assert chosen.uids == {0x00200052}
    assert chosen.removed_ranges == (deidentification.TagRange(0x5000, 0x50FF, 0, 0xFFFF),)
    assert chosen.method == "the test method"
    monkeypatch.setitem(BASIC_PROFILE, "test", {"0008,0050": "C"})
    with pytest.raises(ValueError, match="does not use"):
        deidentification.profile("test")
    monkeypatch.setitem(BASIC_PROFILE, "test", {"60xx,3000": "Z"})
    with pytest.raises(ValueError, match="a range"):
        deidentification.profile("test")
