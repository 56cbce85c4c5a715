"""Which files Orthanc accepts, and how it refuses the others (checked against Orthanc 1.10.1)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from domain.dicom_files import (
    InvalidDicomFile,
    identifiers,
    parse_dataset,
    parse_header,
    pixel_data_offset,
    sop_class_uid,
    transfer_syntax_uid,
)
from domain.dicom_structure import check_structure
from domain.main_tags import orthanc_ids
from tests.support.corpus import CORPUS, corpus_bytes, corpus_path
from tests.unit.test_dicom_json import (
    UIDS,
    capture_module,
    corpus_instance_ids,
    dicom_file,
    element,
    item,
    manifest,
    maybe_fixture,
)

PARSE_ERROR = "Cannot parse an invalid DICOM file (size: {} bytes)"


def _corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return ["(the shared corpus is missing)"]  # fails in corpus_bytes, never skips
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    return sorted(
        str(p.relative_to(CORPUS)) for p in files if p.suffix not in (".png", ".raw", ".md")
    )


def assert_refused(data: bytes, http_status: int, details: str | None) -> None:
    with pytest.raises(InvalidDicomFile) as refusal:
        parse_header(data)
    assert refusal.value.http_status == http_status
    assert refusal.value.details == details
    with pytest.raises(InvalidDicomFile):
        parse_dataset(data)


@pytest.mark.parametrize("relative", _corpus_files())
def test_corpus_files_are_accepted_as_orthanc_accepts_them(relative: str) -> None:
    data = corpus_bytes(relative)
    if relative.endswith("DICOMDIR"):
        with pytest.raises(InvalidDicomFile) as refusal:
            parse_header(data)
        assert refusal.value.http_status == 404
        assert refusal.value.orthanc_error == "Inexistent tag"
        assert refusal.value.orthanc_status == 21
        return
    header = parse_header(data)
    if transfer_syntax_uid(header) != "1.2.840.10008.1.2.1.99":  # deflated: read whole
        assert 0x7FE00010 not in header
    full = parse_dataset(data)
    assert orthanc_ids(identifiers(full)) == orthanc_ids(identifiers(header))


def test_captured_corpus_uploads_agree_with_orthanc() -> None:
    uploads = manifest().get("uploads", {})
    capture = capture_module()
    if not uploads or capture is None:
        pytest.fail("no captured uploads")
    for path in capture.corpus_files():
        answer = uploads.get("upload_" + capture.corpus_slug(path))
        if answer is None:
            continue
        assert path.exists(), path
        data = path.read_bytes()
        if answer["status"] != 200:
            with pytest.raises(InvalidDicomFile) as refusal:
                parse_header(data)
            assert refusal.value.http_status == answer["status"], path
            continue
        body = answer["body"]
        expected = (body["ParentPatient"], body["ParentStudy"], body["ParentSeries"], body["ID"])
        assert orthanc_ids(identifiers(parse_header(data))) == expected, path


def test_captured_bad_uploads_get_orthancs_errors() -> None:
    uploads = manifest().get("uploads", {})
    capture = capture_module()
    ts1_path = corpus_path("TransferSyntaxes/1.2.840.10008.1.2.1.dcm")
    if not uploads or capture is None:
        pytest.fail("no captured uploads")
    ts1 = ts1_path.read_bytes()
    uid = capture.uid
    probe = {"patient_name": "Probe^Patient", "study_uid": uid(3, 1), "series_uid": uid(3, 1, 1)}
    cases = {
        "upload_empty_body": b"",
        "upload_hello": b"hello",
        "upload_truncated_200": ts1[:200],
        "upload_truncated_1000": ts1[:1000],
        "upload_truncated_half": ts1[: len(ts1) // 2],
        "upload_missing_sopinstanceuid": capture.make_dicom(
            patient_id="PROBE", **probe, sop_uid=None, meta_sop_uid=uid(3, 1, 1, 1)
        ),
        "upload_missing_studyuid": capture.make_dicom(
            patient_id="PROBE", series_uid=uid(3, 1, 2), sop_uid=uid(3, 1, 2, 1)
        ),
        "upload_missing_seriesuid": capture.make_dicom(
            patient_id="PROBE", study_uid=uid(3, 1), sop_uid=uid(3, 1, 3, 1)
        ),
    }
    for slug, data in cases.items():
        answer = uploads.get(slug)
        if answer is None:
            continue
        body = answer["body"] or {}
        with pytest.raises(InvalidDicomFile) as refusal:
            parse_header(data)
        error = refusal.value
        assert (error.http_status, error.orthanc_status) == (
            answer["status"],
            body["OrthancStatus"],
        )
        assert error.orthanc_error == body["OrthancError"]
        assert error.details == body.get("Details"), slug


def test_pixel_data_offset_matches_orthanc_metadata() -> None:
    offsets = {
        relative: maybe_fixture(f"/instances/{instance_id}/metadata/PixelDataOffset")
        for relative, instance_id in corpus_instance_ids().items()
    }
    checked = 0
    for relative, response in offsets.items():
        if response is None:
            continue
        expected = int(response["body"]) if response["status"] == 200 else None
        assert pixel_data_offset(corpus_bytes(relative)) == expected, relative
        checked += 1
    if not checked:
        pytest.skip("no PixelDataOffset fixture")
    assert pixel_data_offset(corpus_bytes("ColorTestMalaterre.dcm")) == 928
    assert pixel_data_offset(corpus_bytes("MarekLatin2.dcm")) is None
    assert pixel_data_offset(corpus_bytes("TransferSyntaxes/1.2.840.10008.1.2.dcm")) is None
    assert pixel_data_offset(corpus_bytes("TransferSyntaxes/1.2.840.10008.1.2.1.99.dcm")) is None


def test_empty_input_is_refused() -> None:
    assert_refused(b"", 400, "Received an empty DICOM file")


@pytest.mark.parametrize(
    "data",
    [
        b"hello world, not dicom at all" * 10,
        b"\0" * 128 + b"DICM",
        b"\0" * 100,
    ],
)
def test_non_dicom_input_is_refused(data: bytes) -> None:
    assert_refused(data, 400, PARSE_ERROR.format(len(data)))


def test_truncation_anywhere_is_refused_even_in_pixel_data() -> None:
    data = dicom_file({**UIDS, 0x00100020: ("LO", b"PID "), 0x7FE00010: ("OW", b"\0" * 1000)})
    assert parse_header(data)
    for size in (len(data) - 500, len(data) - 1, 200, 140):
        assert_refused(data[:size], 400, PARSE_ERROR.format(size))


def test_stray_bytes_after_the_dataset_are_refused_but_a_full_element_is_not() -> None:
    data = dicom_file(UIDS)
    for tail in (b"\0", b"\0" * 3, b"\0" * 10, b"\xff" * 5):
        assert_refused(data + tail, 400, PARSE_ERROR.format(len(data) + len(tail)))
    check_structure(data + b"\0" * 8)  # an empty (0000,0000) element, which DCMTK reads


def test_an_element_overflowing_its_item_is_refused() -> None:
    inner = element(0x00081150, "UI", b"1.2\0")
    bad_item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner) - 2) + inner
    data = dicom_file({**UIDS, 0x00081140: ("SQ", bad_item)})
    assert_refused(data, 400, PARSE_ERROR.format(len(data)))
    good = dicom_file({**UIDS, 0x00081140: ("SQ", item(inner))})
    assert parse_header(good)


def test_undefined_length_sequences_need_their_delimiters() -> None:
    inner = element(0x00081150, "UI", b"1.2\0")
    open_item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner
    item_end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    sequence_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    header = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF)
    base = dicom_file(UIDS)
    complete = base + header + open_item + item_end + sequence_end
    assert parse_dataset(complete)["ReferencedImageSequence"][0].ReferencedSOPClassUID == "1.2"
    for cut in (len(sequence_end), len(sequence_end) + len(item_end)):
        assert_refused(complete[:-cut], 400, PARSE_ERROR.format(len(complete) - cut))


def test_preamble_and_meta_header_are_optional() -> None:
    without_preamble = dicom_file(UIDS, preamble=False)
    assert identifiers(parse_header(without_preamble)).sop_uid == "1.2.3.4.102"
    dicm_only = b"DICM" + without_preamble
    assert_refused(dicm_only, 400, PARSE_ERROR.format(len(dicm_only)))
    bare = corpus_bytes("TransferSyntaxes/1.2.840.10008.1.2.dcm")
    assert bare[128:132] != b"DICM"
    ds = parse_header(bare)
    assert transfer_syntax_uid(ds) == "1.2.840.10008.1.2"
    assert sop_class_uid(ds) == "1.2.840.10008.5.1.4.1.1.4"


@pytest.mark.parametrize(
    ("missing", "keyword"),
    [
        (0x0020000D, "StudyInstanceUID"),
        (0x0020000E, "SeriesInstanceUID"),
        (0x00080018, "SOPInstanceUID"),
    ],
)
def test_missing_identifiers_are_orthancs_404(missing: int, keyword: str) -> None:
    elements = {tag: value for tag, value in UIDS.items() if tag != missing}
    with pytest.raises(InvalidDicomFile, match=keyword) as refusal:
        parse_header(dicom_file(elements))
    assert refusal.value.http_status == 404
    assert refusal.value.orthanc_error == "Inexistent tag"


def test_empty_identifiers_are_orthancs_400() -> None:
    data = dicom_file({**UIDS, 0x00080018: ("UI", b"")})
    assert_refused(data, 400, "missing StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID")


def test_missing_patient_id_is_accepted_with_an_empty_id() -> None:
    ds = parse_header(dicom_file(UIDS))
    assert identifiers(ds).patient_id == ""
    assert orthanc_ids(identifiers(ds))[0] == "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709"


def test_compressed_and_deflated_files_parse() -> None:
    for relative in (
        "TransferSyntaxes/1.2.840.10008.1.2.4.50.dcm",
        "TransferSyntaxes/1.2.840.10008.1.2.4.91.dcm",
        "TransferSyntaxes/1.2.840.10008.1.2.5.dcm",
        "TransferSyntaxes/1.2.840.10008.1.2.1.99.dcm",
    ):
        data = corpus_bytes(relative)
        ds = parse_dataset(data)
        assert 0x7FE00010 in ds
        assert transfer_syntax_uid(ds) == Path(relative).stem


def test_refusal_message_is_human() -> None:
    with pytest.raises(InvalidDicomFile) as refusal:
        parse_header(b"hello")
    assert str(refusal.value) == "Not a DICOM file (too short for a DICOM element)"
    assert isinstance(refusal.value, ValueError)
    with pytest.raises(InvalidDicomFile) as refusal:
        parse_header(dicom_file(UIDS)[:-3])
    assert str(refusal.value).startswith("Not a readable DICOM file (")
