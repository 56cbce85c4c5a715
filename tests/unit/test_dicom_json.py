"""Orthanc's JSON views of DICOM files, checked against real Orthanc 1.10.1 answers.

Fixtures come from tests/fixtures/orthanc (captured from a real Orthanc); a missing fixture
skips its test. Byte-level cases built here were checked by hand against the same Orthanc.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import struct
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from api.dicom_json import (
    ContentBytes,
    ContentList,
    Module,
    full_tags,
    header_tags,
    module_tags,
    resolve_content,
    shared_tags_from_full,
    short_tags,
    shorten,
    simplified_tags,
    simplify,
    to_format,
)
from domain.dicom_files import identifiers, parse_dataset, parse_header, read_dicom
from domain.dicom_text import (
    Charset,
    ContentNotFound,
    Encoding,
    PrivateEntry,
    UnknownDicomTag,
    decode_text,
    detect_charset,
    parse_dcmtk_private_dictionary,
    parse_encoding,
    parse_tag,
    tag_name,
)
from domain.main_tags import orthanc_ids
from tests.support.corpus import corpus_bytes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "orthanc"
DCMTK_PRIVATE_DIC = Path("/usr/share/libdcmtk17/private.dic")

# --- helpers shared by the unit tests of domain/ (imported by the other test modules) ---------


@functools.cache
def _fixture_index() -> dict[tuple[str, str], dict[str, Any]]:
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((FIXTURES / "responses").glob("*.json")):
        response = json.loads(path.read_text())
        if isinstance(response, dict) and "path" in response:
            index[(response["path"], response.get("query", ""))] = response
    return index


def maybe_fixture(path: str, query: str = "") -> dict[str, Any] | None:
    return _fixture_index().get((path, query))


def fixture(path: str, query: str = "") -> dict[str, Any]:
    """Orthanc's captured answer to GET path?query (a test without it fails)."""
    response = maybe_fixture(path, query)
    if response is None:
        pytest.fail(f"no Orthanc fixture for {path}?{query}")
    return response


@functools.cache
def manifest() -> dict[str, Any]:
    path = FIXTURES / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def corpus_instance_ids() -> dict[str, str]:
    """Corpus file (relative path) -> Orthanc instance ID, as Orthanc answered the upload."""
    corpus = manifest().get("ids", {}).get("corpus", {})
    return {name: answer["ID"] for name, answer in corpus.items()}


@functools.cache
def capture_module() -> ModuleType | None:
    """The fixture capture script, whose generators rebuild the synthetic files byte for byte."""
    path = FIXTURES / "capture.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("orthanc_capture", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _synthetic_files() -> dict[str, bytes] | None:
    capture = capture_module()
    if capture is None:
        return None
    files = dict(capture.synthetic_patient())
    expected = manifest().get("syn_i1_file_sha1")
    if expected != hashlib.sha1(files["syn_i1"]).hexdigest():
        return None  # different generator or pydicom version: not the files Orthanc saw
    return files


def synthetic_files() -> dict[str, bytes]:
    files = _synthetic_files()
    if files is None:
        pytest.fail("the synthetic files of the Orthanc capture cannot be rebuilt")
    return files


def learned_private_dictionary(*fulls: dict[str, Any]) -> dict[tuple[str, int, int], PrivateEntry]:
    """The private tag names Orthanc printed, so comparisons do not depend on DCMTK's files."""
    entries: dict[tuple[str, int, int], PrivateEntry] = {}

    def visit(full: dict[str, Any]) -> None:
        for key, node in full.items():
            if node.get("Type") == "Sequence":
                for item in node["Value"]:
                    visit(item)
            elif "PrivateCreator" in node:
                tag = int(key.replace(",", ""), 16)
                entry = PrivateEntry("UN", node["Name"])
                entries[(node["PrivateCreator"], tag >> 16, tag & 0xFF)] = entry

    for full in fulls:
        visit(full)
    return entries


def element(tag: int, vr: str, value: bytes) -> bytes:
    """One explicit VR little endian element."""
    group, number = tag >> 16, tag & 0xFFFF
    if vr in ("OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL"):
        return struct.pack("<HH2sHI", group, number, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, number, vr.encode(), len(value)) + value


def item(content: bytes) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(content)) + content


UIDS = {
    0x00080016: ("UI", b"1.2.840.10008.5.1.4.1.1.7\0"),
    0x00080018: ("UI", b"1.2.3.4.102\0"),
    0x0020000D: ("UI", b"1.2.3.4.100\0"),
    0x0020000E: ("UI", b"1.2.3.4.101\0"),
}


def dicom_file(elements: dict[int, tuple[str, bytes]], preamble: bool = True) -> bytes:
    """A Part 10 file (explicit VR little endian) with exactly these raw dataset values."""
    meta = element(0x00020001, "OB", b"\0\1") + element(0x00020010, "UI", b"1.2.840.10008.1.2.1\0")
    head = (b"\0" * 128 + b"DICM") if preamble else b""
    head += element(0x00020000, "UL", struct.pack("<I", len(meta))) + meta
    body = b"".join(element(tag, vr, value) for tag, (vr, value) in sorted(elements.items()))
    return head + body


def build(elements: dict[int, tuple[str, bytes]]) -> Any:
    return parse_dataset(dicom_file({**UIDS, **elements}))


# --- corpus files against Orthanc's /tags --------------------------------------------------------


def _corpus_cases(captured: str = "/tags", query: str = "") -> list[tuple[str, str]]:
    """The corpus files for which Orthanc's answer to `captured` was recorded."""
    return [
        (relative, instance_id)
        for relative, instance_id in sorted(corpus_instance_ids().items())
        if maybe_fixture(f"/instances/{instance_id}{captured}", query) is not None
    ]


@pytest.mark.parametrize(("relative", "instance_id"), _corpus_cases())
def test_tags_of_corpus_files_match_orthanc(relative: str, instance_id: str) -> None:
    ds = parse_dataset(corpus_bytes(relative))
    expected = fixture(f"/instances/{instance_id}/tags")["body"]
    names = learned_private_dictionary(expected)
    got = full_tags(ds, private_dictionary=names)
    assert got == expected
    simplified = fixture(f"/instances/{instance_id}/tags", "simplify")["body"]
    assert simplify(got) == simplified
    header_only = read_dicom(corpus_bytes(relative))  # PixelData still reported, as null
    assert simplified_tags(header_only, private_dictionary=names) == simplified


@pytest.mark.parametrize(("relative", "instance_id"), _corpus_cases("/tags", "short"))
def test_short_tags_match_orthanc(relative: str, instance_id: str) -> None:
    expected = fixture(f"/instances/{instance_id}/tags", "short")["body"]
    assert shorten(full_tags(parse_dataset(corpus_bytes(relative)))) == expected


@pytest.mark.parametrize(("relative", "instance_id"), _corpus_cases("/header"))
def test_header_matches_orthanc(relative: str, instance_id: str) -> None:
    ds = read_dicom(corpus_bytes(relative), with_pixel_data=True)  # with the meta overflow
    for query in ("", "short", "simplify"):
        header = fixture(f"/instances/{instance_id}/header", query)["body"]
        assert header_tags(ds, query or "full") == header


def test_real_dcmtk_private_dictionary_gives_orthancs_names() -> None:
    if not DCMTK_PRIVATE_DIC.exists():
        pytest.skip("DCMTK's private.dic is not installed")
    names = parse_dcmtk_private_dictionary(DCMTK_PRIVATE_DIC.read_text())
    for relative, instance_id in _corpus_cases():
        expected = fixture(f"/instances/{instance_id}/tags")["body"]
        ds = parse_dataset(corpus_bytes(relative))
        assert full_tags(ds, private_dictionary=names) == expected, relative


def test_default_private_names_are_a_best_effort_without_dcmtk() -> None:
    ds = parse_dataset(corpus_bytes("TransferSyntaxes/1.2.840.10008.1.2.4.91.dcm"))
    tags = full_tags(ds)
    assert tags["0019,1002"]["Name"] == "DetectorChannel"  # DCMTK: "NumberOfCellsInDetector"
    assert tags["0019,1002"]["PrivateCreator"] == "GEMS_ACQU_01"
    assert tags["0043,1028"] == {
        "Name": "UniqueImageIden",  # Orthanc (DCMTK): "UniqueImageIdentifier"
        "PrivateCreator": "GEMS_PARM_01",
        "Type": "Null",
        "Value": None,
    }


# --- character sets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "tag", "value"),
    [
        ("Encodings/DavidClunie/SCSGERM", "0010,0010", "Äneas^Rüdiger"),
        ("Encodings/DavidClunie/SCSFREN", "0010,0010", "Buc^Jérôme"),
        ("Encodings/DavidClunie/SCSGREEK", "0010,0010", "Διονυσιος"),
        (
            "Encodings/DavidClunie/SCSRUSS",
            "0010,0010",
            "\u041b\u044e\u043a" + "ce\u043c\u0431yp\u0433",
        ),
        ("Encodings/DavidClunie/SCSARAB", "0010,0010", "قباني^لنزار"),
        ("Encodings/DavidClunie/SCSHBRW", "0010,0010", "שרון^דבורה"),
        ("Encodings/DavidClunie/SCSH31", "0010,0010", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("Encodings/DavidClunie/SCSI2", "0010,0010", "Hong^Gildong=洪^吉洞=홍^길동"),
        ("Encodings/DavidClunie/SCSX1", "0010,0010", "Wang^XiaoDong=王^小東="),
        ("Encodings/DavidClunie/SCSX2", "0010,0010", "Wang^XiaoDong=王^小东="),
        # Orthanc decodes the whole value as Shift-JIS and only strips the escapes
        ("Encodings/DavidClunie/SCSH32", "0010,0010", "ﾔﾏﾀﾞ^ﾀﾛｳ=;3ED^B@O:=$d$^$@^$?$m$&"),
        ("Encodings/DavidClunie/SCSH32", "0008,0005", "ISO 2022 IR 13¥ISO 2022 IR 87"),
        ("MarekLatin2.dcm", "0010,0010", "Testowy^Teste"),
    ],
)
def test_text_is_converted_as_orthanc_does(relative: str, tag: str, value: str) -> None:
    assert full_tags(parse_header(corpus_bytes(relative)))[tag]["Value"] == value


def test_latin2_in_nested_sequences() -> None:
    tags = full_tags(parse_header(corpus_bytes("MarekLatin2.dcm")))
    item = tags["0040,a730"]["Value"][1]["0040,a043"]["Value"][0]
    assert item["0008,0104"]["Value"] == "Oddział"


def test_iso_ir_13_maps_backslash_to_yen_like_iconv() -> None:
    ds = parse_header(corpus_bytes("Encodings/ISO_IR13.dcm"))
    assert detect_charset(ds) == Charset(Encoding.JAPANESE)
    assert full_tags(ds)["0020,0032"]["Value"].count("¥") == 2


def test_charset_rules() -> None:
    latin = Charset(Encoding.LATIN1)
    assert decode_text(b"Caf\xe9", latin) == "Café"
    assert decode_text(b"Ab\xe9c\x01d\te\nf", Charset(Encoding.ASCII)) == "Abcde\nf"
    assert decode_text(b"Inv\xffalid\xc3\xa9", Charset(Encoding.UTF8)) == "Invalidé"
    extended = Charset(Encoding.LATIN1, code_extensions=True)
    assert decode_text(b"Caf\xe9=\x1b-F\xe1\xe2\x1b-A", extended) == "Café=áâ"
    assert parse_encoding("latin1") is Encoding.LATIN1
    with pytest.raises(ValueError):
        parse_encoding("Klingon")


def test_default_encoding_applies_only_without_specific_character_set() -> None:
    ds = build({0x00080080: ("LO", b"Caf\xe9 Hospital ")})
    assert full_tags(ds)["0008,0080"]["Value"] == "Café Hospital"
    assert full_tags(ds, default_encoding="Latin2")["0008,0080"]["Value"] == "Café Hospital"
    assert full_tags(ds, default_encoding="Utf8")["0008,0080"]["Value"] == "Caf Hospital"
    unknown = build({0x00080005: ("CS", b"FOO "), 0x00100010: ("PN", b"Ab\xe9c")})
    assert detect_charset(unknown) == Charset(Encoding.ASCII)
    assert full_tags(unknown)["0010,0010"]["Value"] == "Abc"


def test_nested_specific_character_set_is_ignored() -> None:
    inner = element(0x00080005, "CS", b"ISO_IR 192") + element(0x0008103E, "LO", b"S\xc3\xa9rie ")
    ds = build({0x00081115: ("SQ", item(inner) + item(b""))})
    items = full_tags(ds)["0008,1115"]["Value"]
    assert items[0]["0008,103e"]["Value"] == "SÃ©rie "
    assert items[1] == {}


# --- DCMTK value rules ---------------------------------------------------------------------------


def test_string_padding_follows_dcmtk() -> None:
    ds = build(
        {
            0x00100010: ("PN", b"  Doe^John  "),  # even: trailing spaces go, leading stay
            0x00080030: ("TM", b"101010.5 "),  # odd: DCMTK pads with NUL, nothing is stripped
            0x0008103E: ("LO", b"Series\0\0"),
            0x00209161: ("UI", b" 1.2. 3\0"),  # UIDs lose every white space
            0x00200032: ("DS", b" 1.5\\-2 \\3 "),  # multiple values keep their spaces
            0x00200012: ("IS", b""),
        }
    )
    values = {key: node["Value"] for key, node in full_tags(ds).items()}
    assert values["0010,0010"] == "  Doe^John"
    assert values["0008,0030"] == "101010.5 "
    assert values["0008,103e"] == "Series"
    assert values["0020,9161"] == "1.2.3"
    assert values["0020,0032"] == " 1.5\\-2 \\3 "
    assert values["0020,0012"] == ""


def test_numbers_and_attribute_tags() -> None:
    ds = build(
        {
            0x00280010: ("US", struct.pack("<H", 512)),
            0x00280011: ("US", b""),
            0x00189219: ("SS", struct.pack("<3h", -1, 2, -3)),
            0x00209057: ("UL", struct.pack("<3I", 1, 2, 3)),
            0x00189089: ("FD", struct.pack("<3d", 0.1, 1e20, -2.5)),
            0x00189241: ("FL", struct.pack("<f", 0.1)),
            0x00280009: ("AT", struct.pack("<4H", 0x0018, 0x1063, 0x0054, 0x0010)),
            0x00660016: ("OF", struct.pack("<2f", 1.0, 2.0)),
        }
    )
    short = shorten(full_tags(ds))
    assert short["0028,0010"] == "512"
    assert short["0028,0011"] is None
    assert short["0018,9219"] == "-1\\2\\-3"
    assert short["0020,9057"] == "1\\2\\3"
    assert short["0018,9089"] == "0.10000000000000001\\1e+20\\-2.5"
    assert short["0018,9241"] == "0.10000000149011612"
    assert short["0028,0009"] == "0018,1063"  # Orthanc keeps only the first tag
    assert short["0066,0016"] is None


def test_long_values_private_tags_and_unknown_vr() -> None:
    ds = build(
        {
            0x00321060: ("LO", b"y" * 256),
            0x00400254: ("LO", b"z" * 258),
            0x00190010: ("LO", b"GEMS_ACQU_01"),
            0x00191003: ("UN", b"GE string"),
            0x00091011: ("LO", b"no creator "),
            0x00091012: ("UN", b"ascii UN value"),
            0x00080090: ("UN", b"Ref^Phys "),
        }
    )
    tags = full_tags(ds)
    assert tags["0032,1060"]["Type"] == "String"
    assert tags["0040,0254"] == {
        "Name": "PerformedProcedureStepDescription",
        "Type": "TooLong",
        "Value": None,
    }
    assert full_tags(ds, ignore_length=[0x00400254])["0040,0254"]["Value"] == "z" * 258
    assert tags["0019,1003"]["Value"] == "GE string"
    assert tags["0019,1003"]["PrivateCreator"] == "GEMS_ACQU_01"
    assert tags["0009,1011"] == {
        "Name": "Unknown Tag & Data",
        "Type": "String",
        "Value": "no creator ",
    }
    assert tags["0009,1012"]["Type"] == "Null"
    assert tags["0008,0090"]["Value"] == "Ref^Phys "


def test_top_level_tags_after_pixel_data_are_left_out() -> None:
    ds = build(
        {0x7FE00010: ("OW", b"\0\1" * 4), 0xFFFAFFFA: ("SQ", b""), 0x7FE10010: ("LO", b"X ")}
    )
    tags = full_tags(ds)
    assert list(tags)[-1] == "7fe0,0010"
    assert tags["7fe0,0010"] == {"Name": "PixelData", "Type": "Null", "Value": None}
    assert "fffa,fffa" in full_tags(ds, stop_after_pixel_data=False)
    assert resolve_content(ds, []).entries[-1] == "fffa-fffa"


def test_simplified_format_keeps_the_last_duplicate_name() -> None:
    ds = build({0x00091010: ("LO", b"A "), 0x00091011: ("LO", b"B ")})
    assert simplify(full_tags(ds))["Unknown Tag & Data"] == "B"


def test_tag_names() -> None:
    assert tag_name(0x00100010) == "PatientName"
    assert tag_name(0x00101000) == "OtherPatientIDs"  # patched by Orthanc
    assert tag_name(0x00080000) == "GenericGroupLength"
    assert tag_name(0x00020000) == "FileMetaInformationGroupLength"
    assert tag_name(0x00090010) == "PrivateCreator"
    assert tag_name(0x00091010) == "Unknown Tag & Data"
    assert tag_name(0x00081080) == "AdmittingDiagnosesDescription"
    assert tag_name(0x00540400) == "ImageID"
    assert tag_name(0x0008001C) == "Unknown Tag & Data"  # newer than DCMTK 3.6.7
    assert tag_name(0x00181030) == "ProtocolName"
    assert tag_name(0x00080040) == "RETIRED_DataSetType"


def test_parse_tag() -> None:
    assert parse_tag("0010-0010") == parse_tag("0010,0010") == parse_tag("00100010") == 0x00100010
    assert parse_tag("PatientName") == 0x00100010
    assert parse_tag("RETIRED_OtherPatientIDs") == 0x00101000
    for text in ("patientname", "OtherPatientIDs", "(0010,0010)", "0010-001", "zzzz"):
        with pytest.raises(UnknownDicomTag):
            parse_tag(text)


# --- /content ------------------------------------------------------------------------------------


def _content_answer(response: dict[str, Any]) -> Any:
    if response["status"] != 200:
        return response["status"]
    if response["body_kind"] == "json":
        return response["body"]
    if response["body_kind"] == "empty":
        return hashlib.sha1(b"").hexdigest()
    if response["body_kind"] == "binary":
        return response["body_sha1"]
    return hashlib.sha1(response["body"].encode("latin-1")).hexdigest()


def _our_answer(ds: Any, path: list[str]) -> Any:
    try:
        result = resolve_content(ds, path)
    except ContentNotFound:
        return 404
    except UnknownDicomTag:
        return 500
    if isinstance(result, ContentList):
        return list(result.entries)
    return hashlib.sha1(result.data).hexdigest()


def _content_fixtures(instance_id: str) -> list[tuple[list[str], dict[str, Any]]]:
    prefix = f"/instances/{instance_id}/content"
    return [
        ([part for part in path[len(prefix) :].split("/") if part], response)
        for (path, query), response in _fixture_index().items()
        if (path == prefix or path.startswith(prefix + "/")) and not query
    ]


@pytest.mark.parametrize(("relative", "instance_id"), _corpus_cases("/content"))
def test_content_of_corpus_files_matches_orthanc(relative: str, instance_id: str) -> None:
    cases = _content_fixtures(instance_id)
    data = corpus_bytes(relative)
    for path, response in cases:
        assert _our_answer(parse_dataset(data), path) == _content_answer(response), path


def test_content_of_the_rich_synthetic_instance_matches_orthanc() -> None:
    data = synthetic_files()["syn_i1"]
    instance_id = orthanc_ids(identifiers(parse_header(data)))[3]
    cases = _content_fixtures(instance_id)
    assert cases
    for path, response in cases:
        assert _our_answer(parse_dataset(data), path) == _content_answer(response), path


def test_content_paths_and_raw_bytes() -> None:
    ds = parse_dataset(corpus_bytes("MarekLatin2.dcm"))
    assert resolve_content(ds, ["0010-0010"]) == ContentBytes(b"Testowy^Teste ")
    assert resolve_content(ds, ["PatientName"]) == ContentBytes(b"Testowy^Teste ")
    assert resolve_content(ds, ["0008-0016"]).data.endswith(b".88.11\0")
    assert resolve_content(ds, ["0040-a730"]) == ContentList(tuple(str(i) for i in range(7)))
    last = resolve_content(ds, ["0040-a730", "-1"])
    assert last == resolve_content(ds, ["0040-a730", "6"])
    assert last == resolve_content(ds, ["0040-a730", "18446744073709551615"])
    assert resolve_content(ds, ["0040-a730", "+1"]) == resolve_content(ds, ["0040-a730", "01"])
    path = ["0040-a730", "0", "0040-a043", "0", "0008-0104", ""]
    assert resolve_content(ds, path) == ContentBytes(b"Opisywane procedury ")
    for missing in (
        ["0040-a730", "-2"],
        ["0040-a730", "7"],
        ["0040-a730", "x"],
        ["0010-0010", "0"],
    ):
        with pytest.raises(ContentNotFound):
            resolve_content(ds, missing)
    with pytest.raises(ContentNotFound):
        resolve_content(ds, ["7fe0-0010"])
    with pytest.raises(UnknownDicomTag):
        resolve_content(ds, ["Foo"])


def test_content_of_compressed_pixel_data_lists_fragments() -> None:
    ds = parse_dataset(corpus_bytes("TransferSyntaxes/1.2.840.10008.1.2.4.50.dcm"))
    assert resolve_content(ds, ["7fe0-0010"]) == ContentList(("0", "1"))
    assert resolve_content(ds, ["7fe0-0010", "0"]) == ContentBytes(b"\0\0\0\0")  # offset table
    jpeg = resolve_content(ds, ["7fe0-0010", "1"])
    assert isinstance(jpeg, ContentBytes)
    assert jpeg.data[:2] == b"\xff\xd8"
    assert len(jpeg.data) == 53476
    with pytest.raises(ContentNotFound):
        resolve_content(ds, ["7fe0-0010", "2"])


def test_content_of_native_big_endian_values_is_little_endian() -> None:
    ds = parse_dataset(corpus_bytes("TransferSyntaxes/1.2.840.10008.1.2.2.dcm"))
    assert resolve_content(ds, ["0028-0010"]) == ContentBytes(struct.pack("<H", 480))
    assert resolve_content(ds, ["7fe0-0010"]) == ContentList(("0",))
    assert len(resolve_content(ds, ["7fe0-0010", "0"]).data) == 921600


def test_pdf_document_is_null_in_tags_and_raw_in_content() -> None:
    ds = parse_dataset(corpus_bytes("sample-pdf.dcm"))
    assert full_tags(ds)["0042,0011"] == {
        "Name": "EncapsulatedDocument",
        "Type": "Null",
        "Value": None,
    }
    document = resolve_content(ds, ["0042-0011"])
    assert isinstance(document, ContentBytes)
    assert document.data.startswith(b"%PDF")


# --- /module and /shared-tags --------------------------------------------------------------------


def _synthetic_full() -> dict[str, dict[str, Any]]:
    return {name: full_tags(parse_dataset(data)) for name, data in synthetic_files().items()}


def test_shared_tags_match_orthanc() -> None:
    fulls = _synthetic_full()
    ids = manifest()["ids"]["synthetic"]
    study, series = ids["studies"][0], ids["series"][0]
    cases = [
        (f"/patients/{ids['patient']}/shared-tags", list(fulls.values())),
        (f"/studies/{study}/shared-tags", [fulls[n] for n in ("syn_i1", "syn_i2", "syn_i3")]),
        (f"/series/{series}/shared-tags", [fulls[n] for n in ("syn_i1", "syn_i2")]),
    ]
    for path, instances in cases:
        shared = shared_tags_from_full(instances)
        for query in ("", "short", "simplify"):
            assert to_format(shared, query or "full") == fixture(path, query)["body"], path


def test_modules_match_orthanc_from_the_instance_it_reads() -> None:
    fulls = _synthetic_full()
    ids = manifest()["ids"]["synthetic"]
    study, series = ids["studies"][0], ids["series"][0]
    # Orthanc 1.10 reads the most recently stored child instance: syn_i2 in the first series
    cases = [
        (f"/patients/{ids['patient']}/module", "syn_i5", Module.PATIENT),
        (f"/studies/{study}/module", "syn_i2", Module.STUDY),
        (f"/studies/{study}/module-patient", "syn_i2", Module.PATIENT),
        (f"/series/{series}/module", "syn_i2", Module.SERIES),
        (f"/instances/{ids['instances']['syn_i1']}/module", "syn_i1", Module.INSTANCE),
    ]
    for path, name, module in cases:
        for query in ("", "short", "simplify"):
            got = to_format(module_tags(fulls[name], module), query or "full")
            assert got == fixture(path, query)["body"], (path, query)


def test_rich_synthetic_tags_and_ignore_length_match_orthanc() -> None:
    ds = parse_dataset(synthetic_files()["syn_i1"])
    path = f"/instances/{manifest()['ids']['synthetic']['instances']['syn_i1']}"
    assert full_tags(ds) == fixture(f"{path}/tags")["body"]
    assert simplified_tags(ds) == fixture(f"{path}/simplified-tags")["body"]
    image_comments = full_tags(ds, ignore_length=[0x00204000])
    assert image_comments == fixture(f"{path}/tags", "ignore-length=0020-4000")["body"]
    # Orthanc splits "ignore-length" on commas, so "0040,a160" is two unknown tags: HTTP 500
    assert fixture(f"{path}/simplified-tags", "ignore-length=0040,a160")["status"] == 500
    with pytest.raises(UnknownDicomTag):
        parse_tag("0040")
    by_name = simplify(full_tags(ds, ignore_length=[parse_tag("ImageComments")]))
    assert by_name == fixture(f"{path}/tags", "simplify&ignore-length=ImageComments")["body"]


# --- every corpus file against digests of Orthanc 1.10.1's answers -----------------------------

# file -> (sha1[:16] of GET /instances/{id}/tags?short, of /header, of /content), each body as
# canonical JSON (sorted keys, UTF-8); recorded from a real Orthanc 1.10.1 on 2026-11-24.
ORTHANC_DIGESTS = {
    "ColorTestMalaterre.dcm": ("4dd7f9f76cf21cf5", "bd3066bd5063fee1", "17f1242aef9ec3c3"),
    "Encodings/DavidClunie/SCSARAB": ("6084e21d4ccb1edb", "940dc86a31cc1d15", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSFREN": ("0268ac44758495da", "aed458f7bae27469", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSGERM": ("145a09a21cb2e259", "614dc7cff36d067c", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSGREEK": ("256b0171b8eabc7a", "41b0b1297b4f7500", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSH31": ("5e86bf23a232faf2", "0c5af4a60cd4df71", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSH32": ("0002abe086824fae", "347d6441e5747a87", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSHBRW": ("364090059a85b290", "7f070cd55478027f", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSI2": ("921b9d9b8c8d192a", "a500562d05760895", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSRUSS": ("f519dc4d7831788d", "57936012deed1048", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSX1": ("a296049dc28f0b3e", "dbd0cc038d72574a", "302f68125ddff6c3"),
    "Encodings/DavidClunie/SCSX2": ("f7a08bd6d5685357", "2aea72515118444a", "302f68125ddff6c3"),
    "Encodings/ISO_IR13.dcm": ("6fdbbabe7a5a7eee", "c2d66031f89227d5", "09fd4e2277a0c995"),
    "Formats/Jpeg.dcm": ("01cb7426ebccba2b", "f815f0a47aa58b6b", "7bcdcd6ce819f1b1"),
    "Formats/JpegLossless.dcm": ("b137f103bbfb64d4", "ed39408cf3276d58", "7bcdcd6ce819f1b1"),
    "Formats/Rle.dcm": ("c6ac83601499268d", "a16fccc0faf98bdc", "7bcdcd6ce819f1b1"),
    "Formats/jp2k91YBR-ICT.dcm": ("983336ddebb41254", "59e0df4560868041", "e649f0d558002ba4"),
    "MarekLatin2.dcm": ("18a5a2ae06aab0f5", "3a86703bd6a65bb9", "2b04368d673f840e"),
    "SignedCT.dcm": ("e293038abc4235de", "9719996b72a4f3a9", "a2969c08a3a5b6c4"),
    "TransferSyntaxes/1.2.840.10008.1.2.1.99.dcm": (
        "e21005e562bc8dba",
        "e137ca5ded4897b2",
        "fa6562ff3e0c441e",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.1.dcm": (
        "5c68565b7365fbbc",
        "4406d7b457c9ed6e",
        "dcb385969506e24b",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.2.dcm": (
        "96ff8a33b4f1139a",
        "f3c641f56af6690d",
        "cf2c20345bc6f81f",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.4.50.dcm": (
        "b82307cd0c3c242a",
        "0c4ff0c49886fe47",
        "b48c8ee97f5772ff",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.4.51.dcm": (
        "1c7a786bd73ed669",
        "ad76a0cd24e40e31",
        "76d3b3e8698ed215",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.4.57.dcm": (
        "7e79b7ae72b613c2",
        "7feedc7ba4473be4",
        "8145de51ac8571b7",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.4.70.dcm": (
        "494cd2b96eb5bac0",
        "b9f6afc069379281",
        "10d1a3b78588ccbc",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.4.80.dcm": (
        "9fadb8ebaac5cd33",
        "fa43d343b29f7fa8",
        "250db3992bdfeb14",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.4.81.dcm": (
        "cb8530d6e84e5773",
        "a01818165accfedd",
        "8ff773c9fa8e8194",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.4.90.dcm": (
        "cad987b6607e0d4f",
        "2be85c126d2d89d4",
        "250db3992bdfeb14",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.4.91.dcm": (
        "6753b2de142f3585",
        "d23974f8ce340b4c",
        "a58c793bf44cfc37",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.5.dcm": (
        "e03250bebaa9655b",
        "baf6b2bf49fbb75d",
        "62ed0331c3f98508",
    ),
    "TransferSyntaxes/1.2.840.10008.1.2.dcm": (
        "a96a2e5044e52223",
        "bf21a9e8fbc5a384",
        "9727ae3126db4a1a",
    ),
    "UnknownSopClassUid.dcm": ("f1c56533a60d208a", "2a761a95a8d9a6c2", "17f1242aef9ec3c3"),
    "sample-pdf.dcm": ("a8fc3fd424296f9f", "293758c23c1f3bcd", "6d2f1f70c7bf9382"),
}


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@pytest.mark.parametrize("relative", sorted(ORTHANC_DIGESTS))
def test_every_corpus_file_matches_orthanc_digests(relative: str) -> None:
    read = read_dicom(corpus_bytes(relative), with_pixel_data=True)
    listing = resolve_content(read.dataset, [])
    assert isinstance(listing, ContentList)
    got = (digest(short_tags(read)), digest(header_tags(read)), digest(list(listing.entries)))
    assert got == ORTHANC_DIGESTS[relative]
