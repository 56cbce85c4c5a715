"""Main DICOM tags, Orthanc identifiers and IndexInSeries, checked against Orthanc 1.10.1."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from domain.dicom_files import DicomIdentifiers, identifiers, parse_header
from domain.main_tags import (
    INSTANCE_MAIN_TAGS,
    PATIENT_MAIN_TAGS,
    SERIES_MAIN_TAGS,
    STUDY_MAIN_TAGS,
    extract_main_tags,
    index_in_series,
    index_in_series_metadata,
    orthanc_id,
    orthanc_ids,
    parse_index_in_series,
    study_patient_main_tags,
)
from tests.support.corpus import corpus_bytes
from tests.unit.test_dicom_json import (
    build,
    capture_module,
    corpus_instance_ids,
    fixture,
    manifest,
    maybe_fixture,
    synthetic_files,
)

# file -> (sha1[:16] of Orthanc's main tags, its "IndexInSeries", whether the file is alone in
# its study so that every level can be compared), recorded from a real Orthanc 1.10.1. The
# digest covers {"Instance", "Series", "Study", "Patient" (the study's PatientMainDicomTags)}
# or, for files sharing a series with another one, {"Instance"} only.
ORTHANC_MAIN_TAGS = {
    "ColorTestMalaterre.dcm": ("57af3e71ade5138c", 0, False),
    "MarekLatin2.dcm": ("9ea957008eb92931", 1, True),
    "SignedCT.dcm": ("49d06a0c73f69f65", 50, True),
    "UnknownSopClassUid.dcm": ("5a600e6bd057511b", 0, False),
    "sample-pdf.dcm": ("23ec6604c23232aa", None, True),
    "Encodings/ISO_IR13.dcm": ("5e92ee662abf7f19", 5, True),
    "Encodings/DavidClunie/SCSARAB": ("8c7ecf0f0759003b", 1, True),
    "Encodings/DavidClunie/SCSFREN": ("54ef2004479650e7", 1, True),
    "Encodings/DavidClunie/SCSGERM": ("0cb0c8c9324e848f", 1, True),
    "Encodings/DavidClunie/SCSGREEK": ("dbbbf2cb996d4aeb", 1, True),
    "Encodings/DavidClunie/SCSH31": ("139ca32459906c33", 1, True),
    "Encodings/DavidClunie/SCSH32": ("65c0b8a042b029f6", 1, True),
    "Encodings/DavidClunie/SCSHBRW": ("2810fefeef8cc3f9", 1, True),
    "Encodings/DavidClunie/SCSI2": ("782d877defd6b5bd", 1, True),
    "Encodings/DavidClunie/SCSRUSS": ("60b1669b646d3c31", 1, True),
    "Encodings/DavidClunie/SCSX1": ("f07db277bb838439", 1, True),
    "Encodings/DavidClunie/SCSX2": ("c12982eef4fe78ac", 1, True),
    "Formats/Jpeg.dcm": ("e388c6906a7b3591", 1, True),
    "Formats/JpegLossless.dcm": ("bc8b879b9dad57a8", 1, True),
    "Formats/Rle.dcm": ("4fd873b3fa7c5b6a", 1, True),
    "Formats/jp2k91YBR-ICT.dcm": ("7531a45706a8c429", 0, True),
    "TransferSyntaxes/1.2.840.10008.1.2.1.99.dcm": ("39963e8cef773a25", 1, True),
    "TransferSyntaxes/1.2.840.10008.1.2.1.dcm": ("92754d694ede55de", 107, True),
    "TransferSyntaxes/1.2.840.10008.1.2.2.dcm": ("ac49dabfb96a725b", 1, True),
    "TransferSyntaxes/1.2.840.10008.1.2.4.50.dcm": ("9ec77408737d74c8", 217, True),
    "TransferSyntaxes/1.2.840.10008.1.2.4.51.dcm": ("bdf7f9bd8ea040e3", 5, True),
    "TransferSyntaxes/1.2.840.10008.1.2.4.57.dcm": ("5380cff504d39b2d", 1, True),
    "TransferSyntaxes/1.2.840.10008.1.2.4.70.dcm": ("f4764aa8a95a5f6b", 1, True),
    "TransferSyntaxes/1.2.840.10008.1.2.4.80.dcm": ("07aa2be85bdbde7f", 6, False),
    "TransferSyntaxes/1.2.840.10008.1.2.4.81.dcm": ("6973c1c0765e06d8", 7, True),
    "TransferSyntaxes/1.2.840.10008.1.2.4.90.dcm": ("68121d51365a0de6", 2, False),
    "TransferSyntaxes/1.2.840.10008.1.2.4.91.dcm": ("775642747aa9f3f8", 3, True),
    "TransferSyntaxes/1.2.840.10008.1.2.5.dcm": ("edbd85d9ef37a169", 8, True),
    "TransferSyntaxes/1.2.840.10008.1.2.dcm": ("72e901d6c7cb5c58", 13, True),
}


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def test_main_tag_lists_are_orthancs() -> None:
    assert PATIENT_MAIN_TAGS == (
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "OtherPatientIDs",
        "PatientID",
    )
    assert len(STUDY_MAIN_TAGS) == 10
    assert STUDY_MAIN_TAGS[-4:] == (
        "RequestedProcedureDescription",
        "InstitutionName",
        "RequestingPhysician",
        "ReferringPhysicianName",
    )
    assert len(SERIES_MAIN_TAGS) == 22
    assert "ImageOrientationPatient" in SERIES_MAIN_TAGS
    assert INSTANCE_MAIN_TAGS[-3:] == (
        "ImagePositionPatient",
        "ImageComments",
        "ImageOrientationPatient",
    )


@pytest.mark.parametrize("relative", sorted(ORTHANC_MAIN_TAGS))
def test_main_tags_of_every_corpus_file_match_orthanc(relative: str) -> None:
    ds = parse_header(corpus_bytes(relative))
    expected_digest, expected_index, alone = ORTHANC_MAIN_TAGS[relative]
    tags = extract_main_tags(ds)
    assert digest(tags if alone else {"Instance": tags["Instance"]}) == expected_digest
    assert index_in_series(ds) == expected_index


def test_main_tags_values() -> None:
    ct = extract_main_tags(parse_header(corpus_bytes("SignedCT.dcm")))
    assert ct["Instance"]["InstanceNumber"] == "50"
    assert ct["Instance"]["ImagePositionPatient"] == "-165.500\\-165.500\\-283.125"
    german = extract_main_tags(parse_header(corpus_bytes("Encodings/DavidClunie/SCSGERM")))
    assert german["Patient"]["PatientName"] == "Äneas^Rüdiger"
    assert german["Study"]["ReferringPhysicianName"] == "^^^^"
    marek = extract_main_tags(parse_header(corpus_bytes("MarekLatin2.dcm")))
    assert marek["Study"]["RequestingPhysician"] == ""  # present but empty
    assert "BodyPartExamined" not in marek["Series"]  # absent
    assert study_patient_main_tags(marek) == marek["Patient"]


def test_main_tags_keep_dcmtk_padding_rules_and_drop_long_values() -> None:
    ds = build(
        {
            0x00100010: ("PN", b"  Doe^John  "),
            0x00080030: ("TM", b"101010.5 "),
            0x00081030: ("LO", b"S" * 300),
            0x00101000: ("LO", b"OTHER1\\OTHER2"),
            0x00080080: ("LO", b"Caf\xe9  "),
        }
    )
    tags = extract_main_tags(ds)
    assert tags["Patient"] == {"PatientName": "  Doe^John", "OtherPatientIDs": "OTHER1\\OTHER2"}
    assert tags["Study"]["StudyTime"] == "101010.5 "
    assert "StudyDescription" not in tags["Study"]  # null for Orthanc: over 256 bytes
    assert tags["Study"]["InstitutionName"] == "Café"
    assert extract_main_tags(ds, "Utf8")["Study"]["InstitutionName"] == "Caf"


def test_orthanc_id_rule() -> None:
    assert orthanc_id("") == "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709"
    ids = DicomIdentifiers("P22", "1.2", "1.2.3", "1.2.3.4")
    patient, study, series, instance = orthanc_ids(ids)
    assert patient == orthanc_id("P22")
    assert study == orthanc_id("P22", "1.2")
    assert series == orthanc_id("P22", "1.2", "1.2.3")
    assert instance == orthanc_id("P22", "1.2", "1.2.3", "1.2.3.4")


KNOWN_IDS = {
    "MarekLatin2.dcm": (
        "2fdd7460-190ce334-59d846d6-c4dd6c0a-c628738f",
        "29bab519-ed249b90-96a948ac-6fe9bc07-df5c12f7",
        "dc775fe3-092acaea-a1419e86-85bda835-37594e99",
        "8ea29122-765ad70a-4912c7be-357d6945-283c7553",
    ),
    "ColorTestMalaterre.dcm": (  # no PatientID at all
        "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709",
        "0c62fe81-16340104-03c4294f-c2b94187-2b07e2fa",
        "473a4354-eb20df2e-7161c188-0a497c4f-1bda13a6",
        "322b315a-50cfd8f5-3d2c6541-489df116-4b772350",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.dcm": (  # bare dataset, no meta-header
        "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709",
        "24a4b7a5-9200f24e-5f18cdc7-af16562f-0fbb15a2",
        "77e59ced-7bfb36ef-b73acc44-5666c260-99688167",
        "9f81a12f-918da67d-bde75b80-63c05648-a8434c1f",
    ),
    "Encodings/DavidClunie/SCSH31": (
        "55b2929d-9e723654-583a5c04-90d317bd-b7c5a0c2",
        "c00ea219-fbd78669-e869e6dd-91ec6849-4ca9f1ba",
        "460bec88-c00354ec-878ee3be-f6ffdb57-f878e710",
        "520e1889-abffd943-39e27a9f-a1c6b7b4-d33bb46b",
    ),
}


@pytest.mark.parametrize("relative", sorted(KNOWN_IDS))
def test_orthanc_ids_of_corpus_files(relative: str) -> None:
    ds = parse_header(corpus_bytes(relative))
    assert orthanc_ids(identifiers(ds)) == KNOWN_IDS[relative]


def test_orthanc_ids_match_every_captured_upload() -> None:
    uploads = corpus_instance_ids()
    if not uploads:
        pytest.fail("no Orthanc fixtures")
    for relative, answer in manifest()["ids"]["corpus"].items():
        ids = orthanc_ids(identifiers(parse_header(corpus_bytes(relative))))
        parents = (answer["ParentPatient"], answer["ParentStudy"], answer["ParentSeries"])
        assert ids == (*parents, answer["ID"]), relative


def test_identifier_values_are_orthancs() -> None:
    ds = build({0x00100020: ("LO", b"  PID 17  "), 0x0020000D: ("UI", b" 1.2.3.17.0 \0")})
    ids = identifiers(ds)
    assert ids.patient_id == "  PID 17"  # leading spaces kept, trailing ones dropped
    assert ids.study_uid == "1.2.3.17.0"
    assert orthanc_ids(ids)[0] == "0af7a81a-b6e2bef1-427853f1-80fd3967-4f6c5869"


@pytest.mark.parametrize(
    ("slug", "patient_id", "charset"),
    [
        ("upload_spaced_patientid", " SPACED ", "ISO_IR 192"),
        ("upload_latin1_patientid", "M\u00fcller", "ISO_IR 100"),
        ("upload_empty_patientid", "", "ISO_IR 192"),
        ("upload_missing_patientid", None, "ISO_IR 192"),
    ],
)
def test_patient_id_variants_match_orthanc(slug: str, patient_id: str | None, charset: str) -> None:
    capture = capture_module()
    uploads = manifest().get("uploads", {})
    if capture is None or slug not in uploads:
        pytest.fail("no capture of this upload")
    number = {"upload_missing_patientid": 2, "upload_empty_patientid": 3}.get(slug)
    number = number or {"upload_spaced_patientid": 4, "upload_latin1_patientid": 5}[slug]
    uid = capture.uid
    data = capture.make_dicom(
        patient_id=patient_id,
        charset=charset,
        study_uid=uid(3, number),
        series_uid=uid(3, number, 1),
        sop_uid=uid(3, number, 1, 1),
    )
    answer = uploads[slug]["body"]
    ids = orthanc_ids(identifiers(parse_header(data)))
    assert ids == (
        answer["ParentPatient"],
        answer["ParentStudy"],
        answer["ParentSeries"],
        answer["ID"],
    )


def test_synthetic_hierarchy_main_tags_match_orthanc() -> None:
    files = synthetic_files()
    ids = manifest()["ids"]["synthetic"]
    first = extract_main_tags(parse_header(files["syn_i1"]))
    study = fixture(f"/studies/{ids['studies'][0]}")["body"]
    assert first["Study"] == study["MainDicomTags"]
    assert first["Patient"] == study["PatientMainDicomTags"]
    assert first["Series"] == fixture(f"/series/{ids['series'][0]}")["body"]["MainDicomTags"]
    assert first["Patient"] == fixture(f"/patients/{ids['patient']}")["body"]["MainDicomTags"]
    instance = fixture(f"/instances/{ids['instances']['syn_i1']}")["body"]
    assert first["Instance"] == instance["MainDicomTags"]


@pytest.mark.parametrize(
    ("metadata", "value"),
    [
        ("1", 1),
        ("+12", 12),
        ("000013", 13),
        ("-3", -3),
        ("99999999999", 1215752191),
        ("abc", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_index_in_series_field(metadata: str | None, value: int | None) -> None:
    assert parse_index_in_series(metadata) == value


def test_index_in_series_metadata_rule() -> None:
    image_index = struct_us(5)
    assert index_in_series_metadata(build({0x00200013: ("IS", b" 0012 ")})) == "0012"
    assert index_in_series_metadata(build({0x00541330: ("US", image_index)})) == "5"
    both = build({0x00200013: ("IS", b""), 0x00541330: ("US", image_index)})
    assert index_in_series_metadata(both) == ""  # an empty InstanceNumber still wins
    assert index_in_series(both) is None
    assert index_in_series_metadata(build({})) is None


def struct_us(value: int) -> bytes:
    return value.to_bytes(2, "little")


def test_index_in_series_metadata_matches_orthanc_fixtures() -> None:
    cases = [
        (relative, maybe_fixture(f"/instances/{instance_id}/metadata/IndexInSeries"))
        for relative, instance_id in corpus_instance_ids().items()
    ]
    cases = [(relative, response) for relative, response in cases if response is not None]
    if not cases:
        pytest.fail("no IndexInSeries fixture")
    for relative, response in cases:
        ds = parse_header(corpus_bytes(relative))
        expected = response["body"] if response["status"] == 200 else None
        assert index_in_series_metadata(ds) == expected, relative
