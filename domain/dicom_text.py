"""DICOM text as Orthanc sees it: character sets, tag names and dictionaries, and the values of
elements as DCMTK hands them to Orthanc.

Strings lose trailing padding by DCMTK's rule, binary values become null, numbers are printed
the C++ way, and text is converted to UTF-8 with the dataset's first Specific Character Set
(nested items and code extensions included, exactly as Orthanc does). Values are read from the
raw bytes pydicom keeps, never from pydicom's own decoding, so the two libraries cannot
disagree. Main tags, identifiers and the indexed tags are read with these rules; the REST
views built on them (/tags and its formats, /header, /module, /content) are in api/dicom_json.
"""

from __future__ import annotations

import array
import codecs
import functools
import re
import struct
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

import attrs
from pydicom import Dataset
from pydicom._private_dict import private_dictionaries
from pydicom.datadict import DicomDictionary, get_entry
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence as DicomSequence

PIXEL_DATA = 0x7FE00010
SPECIFIC_CHARACTER_SET = 0x00080005
MAX_STRING_LENGTH = 256  # ORTHANC_MAXIMUM_TAG_LENGTH, applied to REST outputs and main tags
UNKNOWN_TAG_NAME = "Unknown Tag & Data"  # DCMTK's DcmTag_ERROR_TagName
UNDEFINED_LENGTH = 0xFFFFFFFF

FullTags = dict[str, Any]
JsonTags = dict[str, Any]

STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
    | {"UR", "UT"}
)
_NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}
_WORD_SIZES = {"US": 2, "SS": 2, "OW": 2, "AT": 2, "UL": 4, "SL": 4, "FL": 4, "OF": 4}
_WORD_SIZES |= {"OL": 4, "FD": 8, "OD": 8, "SV": 8, "UV": 8, "OV": 8}
_LONG_HEADER_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN"})
_LONG_HEADER_VRS |= frozenset({"UR", "UT", "UV"})
_C_WHITESPACE = b" \t\n\v\f\r"

# Orthanc overrides DCMTK's names of these tags (FromDcmtkBridge::GetTagNameInternal).
_ORTHANC_NAMES = {0x00101000: "OtherPatientIDs"}

# DCMTK 3.6.7 names that are not "RETIRED_" + pydicom's keyword.
_DCMTK_NAMES = {
    0x00380004: "ReferencedPatientAliasSequence",
    0x00701807: "WeightingLookupTableDescriptor",
    0x00701808: "WeightingLookupTableData",
    0x30040010: "RTDoseROISequence",
    0x30040012: "DoseValue",
    0x30060085: "ROIObservationLabel",
    0x30060088: "ROIObservationDescription",
    0x3008002B: "TreatmentTerminationCode",
    0x30100090: "RoboticBaseLocationIndicator",
}

# Tags newer than DCMTK 3.6.7's dictionary: Orthanc names them "Unknown Tag & Data" and, in
# implicit VR, reads them as UN (hence null).
_DCMTK_UNKNOWN_HEX = """
    0008001C 00080202 00080400 00080401 00080402 00080403 00080404 00080405 00080406 00080407
    00080408 00080409 0008040A 0008040B 0008040C 0008040D 0008040E 0008040F 00080410 00080411
    00080412 00080413 00080414 00080415 00080416 00080417 00080418 00080419 0008041A 0008041B
    0008041C 0008041D 0008041E 0008041F 00080420 00080421 00080422 00080423 00080424 00080425
    00080426 00080427 00080428 00080429 00081112 0008119B 00102161 00120022 00120023 00120032
    00120041 00120043 00120054 00120055 00120073 00140200 00140201 00140202 00140203 00140204
    00140205 00140206 00140207 00180061 00181204 00181205 00189445 00189821 00189822 00189823
    00189824 00189825 00189826 00189828 00189829 0018982A 0018982B 0018982C 0018982D 0018982E
    0018982F 00189830 00189831 00189832 00189833 00189834 00189835 00189836 0022000F 00280020
    00283001 003A0317 003A0318 003A0319 003A0320 003A0321 003A0322 003A0323 003A0324 003A0325
    003A0326 003A0327 003A0328 003A0329 003A032A 003A032B 003A032C 003A032D 003A032E 00480114
    00480115 00480116 00480117 00700315 04000315 30020100 30020101 30020102 30020103 30020104
    30020105 30020106 30020107 30020108 30020109 3002010A 3002010B 3002010C 3002010D 3002010E
    3002010F 30020110 30020111 30020112 30020113 30020114 30020115 30020116 30020117 30020118
    30020119 3002011A 3002011B 3002011C 3002011D 3002011E 3002011F 30020120 30020121 30020122
    30020123 30020124 30020125 30020126 30020127 30020128 30020129 3002012A 3002012B 3002012C
    3002012D 3002012E 3002012F 30020130 30020131 30020132 30020133 30020134 30020135 3006002D
    3006002E 3006004B 3006004C 3006004D 3006004E 3006004F 300800A1 300800A2 300800A3 300800A4
    300A0054 300A068B 300A0782 300A079F 300A07A0 300A07A1 300C0129 301000A0 7FE00003
"""
_DCMTK_UNKNOWN = frozenset(int(tag, 16) for tag in _DCMTK_UNKNOWN_HEX.split())


class DicomJsonError(Exception):
    """Base class of the errors the REST layer turns into Orthanc's answers."""


class UnknownDicomTag(DicomJsonError, ValueError):
    """Orthanc answers HTTP 500, OrthancError "Unknown DICOM tag", OrthancStatus 27."""

    orthanc_status = 27

    def __init__(self, text: str) -> None:
        super().__init__(f"Unknown DICOM tag: {text}")
        self.text = text


class ContentNotFound(DicomJsonError, KeyError):
    """Orthanc answers HTTP 404 with an empty body for a path that leads nowhere."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "No such DICOM path"


# --- Character sets ----------------------------------------------------------------------------


class Encoding(StrEnum):
    """Orthanc's encodings, named as in its "DefaultEncoding" configuration option."""

    ASCII = "Ascii"
    UTF8 = "Utf8"
    LATIN1 = "Latin1"
    LATIN2 = "Latin2"
    LATIN3 = "Latin3"
    LATIN4 = "Latin4"
    LATIN5 = "Latin5"
    CYRILLIC = "Cyrillic"
    WINDOWS1251 = "Windows1251"
    ARABIC = "Arabic"
    GREEK = "Greek"
    HEBREW = "Hebrew"
    THAI = "Thai"
    JAPANESE = "Japanese"
    CHINESE = "Chinese"
    KOREAN = "Korean"
    JAPANESE_KANJI = "JapaneseKanji"
    SIMPLIFIED_CHINESE = "SimplifiedChinese"


_CODECS = {
    Encoding.UTF8: "utf-8",
    Encoding.LATIN1: "latin-1",
    Encoding.LATIN2: "iso8859-2",
    Encoding.LATIN3: "iso8859-3",
    Encoding.LATIN4: "iso8859-4",
    Encoding.LATIN5: "iso8859-9",
    Encoding.CYRILLIC: "iso8859-5",
    Encoding.WINDOWS1251: "cp1251",
    Encoding.ARABIC: "iso8859-6",
    Encoding.GREEK: "iso8859-7",
    Encoding.HEBREW: "iso8859-8",
    Encoding.THAI: "tis-620",
    Encoding.JAPANESE: "shift_jis",
    Encoding.CHINESE: "gb18030",
    Encoding.KOREAN: "euc_kr",
    Encoding.JAPANESE_KANJI: "iso2022_jp",
    Encoding.SIMPLIFIED_CHINESE: "gb2312",
}

_DICOM_CHARSETS = {
    "ISO_IR 6": Encoding.UTF8,
    "ISO_IR 192": Encoding.UTF8,
    "ISO 2022 IR 6": Encoding.UTF8,
    "GB18030": Encoding.CHINESE,
    "GBK": Encoding.CHINESE,
    "ISO 2022 IR 87": Encoding.JAPANESE_KANJI,
    "ISO 2022 IR 149": Encoding.KOREAN,
    "ISO 2022 IR 58": Encoding.SIMPLIFIED_CHINESE,
}
for _number, _encoding in {
    "100": Encoding.LATIN1,
    "101": Encoding.LATIN2,
    "109": Encoding.LATIN3,
    "110": Encoding.LATIN4,
    "148": Encoding.LATIN5,
    "144": Encoding.CYRILLIC,
    "127": Encoding.ARABIC,
    "126": Encoding.GREEK,
    "138": Encoding.HEBREW,
    "166": Encoding.THAI,
    "13": Encoding.JAPANESE,
}.items():
    _DICOM_CHARSETS[f"ISO_IR {_number}"] = _encoding
    _DICOM_CHARSETS[f"ISO 2022 IR {_number}"] = _encoding

_ISO2022_ESCAPE = re.compile(
    "\x0e|\x0f|\x1b[\x6e\x6f\x4e\x4f\x7c\x7d\x7e]|\x8e\x1b\x4e|\x8f\x1b\x4f|\x1b[\x20-\x2f]+[\x30-\x7f]"
)


@attrs.frozen
class Charset:
    """How Orthanc decodes a dataset's text: one encoding, escape sequences stripped if needed."""

    encoding: Encoding
    code_extensions: bool = False


# The SpecificCharacterSet Orthanc writes for each of its encodings (none for Windows1251).
_TERMS = {
    Encoding.ASCII: "ISO_IR 6",
    Encoding.UTF8: "ISO_IR 192",
    Encoding.LATIN1: "ISO_IR 100",
    Encoding.LATIN2: "ISO_IR 101",
    Encoding.LATIN3: "ISO_IR 109",
    Encoding.LATIN4: "ISO_IR 110",
    Encoding.LATIN5: "ISO_IR 148",
    Encoding.CYRILLIC: "ISO_IR 144",
    Encoding.ARABIC: "ISO_IR 127",
    Encoding.GREEK: "ISO_IR 126",
    Encoding.HEBREW: "ISO_IR 138",
    Encoding.THAI: "ISO_IR 166",
    Encoding.JAPANESE: "ISO_IR 13",
    Encoding.CHINESE: "GB18030",
    Encoding.KOREAN: "ISO 2022 IR 149",
    Encoding.JAPANESE_KANJI: "ISO 2022 IR 87",
    Encoding.SIMPLIFIED_CHINESE: "ISO 2022 IR 58",
}


def specific_character_set(encoding: Encoding) -> str | None:
    """The (0008,0005) term Orthanc writes for a dataset it encodes in `encoding`."""
    return _TERMS.get(encoding)


def encoding_of_term(term: str) -> Encoding | None:
    """The encoding a (0008,0005) term names, None for a term Orthanc does not know."""
    return _DICOM_CHARSETS.get(term.strip().upper())


def representable(text: str, encoding: Encoding) -> str:
    """`text` without the characters `encoding` cannot hold, as Orthanc drops them when it
    writes a dataset in that encoding (and in plain ASCII when no term names it)."""
    codec = _CODECS.get(encoding, "ascii") if encoding in _TERMS else "ascii"
    return text.encode(codec, errors="ignore").decode(codec)


def parse_encoding(name: str | Encoding) -> Encoding:
    """An Orthanc "DefaultEncoding" value (case-insensitive), e.g. "Latin1"."""
    for encoding in Encoding:
        if encoding.value.lower() == str(name).lower():
            return encoding
    raise ValueError(f"Unknown encoding: {name}")


def detect_charset(ds: Dataset, default: Encoding | str = Encoding.LATIN1) -> Charset:
    """FromDcmtkBridge::DetectEncoding: the first non-empty term of (0008,0005) decides.

    Remembered on the dataset (read-only here), as every tag of a summary needs it.
    """
    remembered: dict[str, Charset] = ds.__dict__.setdefault("_chronicle_charsets", {})
    key = str(default)
    if key not in remembered:
        remembered[key] = _detect_charset(ds, default)
    return remembered[key]


def _detect_charset(ds: Dataset, default: Encoding | str) -> Charset:
    raw = _raw_bytes(ds, SPECIFIC_CHARACTER_SET)
    if raw is None:
        return Charset(parse_encoding(default))
    terms = _machine_string(raw, "CS").decode("latin-1").split("\\")
    code_extensions = len(terms) > 1
    for term in terms:
        term = term.strip(" \t\n\v\f\r")
        if term:
            encoding = _DICOM_CHARSETS.get(term.upper(), Encoding.ASCII)
            return Charset(encoding, code_extensions)
    return Charset(parse_encoding(default), code_extensions)


def decode_text(raw: bytes, charset: Charset) -> str:
    """Toolbox::ConvertToUtf8: invalid bytes are skipped, never an error."""
    if charset.encoding is Encoding.ASCII:
        return to_ascii(raw)
    text = codecs.decode(raw, _CODECS[charset.encoding], "ignore")
    if charset.encoding is Encoding.JAPANESE:
        # iconv's Shift-JIS maps the JIS X 0201 Roman positions, unlike Python's codec
        text = text.replace("\\", "\u00a5").replace("~", "\u203e")
    if charset.code_extensions:
        text = _ISO2022_ESCAPE.sub("", text)
    return text


def to_ascii(raw: bytes) -> str:
    """Toolbox::ConvertToAscii: printable ASCII and newlines only."""
    return "".join(chr(b) for b in raw if b == 0x0A or 0x20 <= b < 0x7F)


def _is_ascii(raw: bytes) -> bool:
    return all(b == 0x0A or 0x20 <= b < 0x7F for b in raw)


# --- Tags, names and dictionaries ---------------------------------------------------------------


@attrs.frozen
class PrivateEntry:
    vr: str
    name: str


PrivateDictionary = Mapping[tuple[str, int, int], PrivateEntry]


def format_tag(tag: int, separator: str = ",") -> str:
    return f"{tag >> 16:04x}{separator}{tag & 0xFFFF:04x}"


def parse_dcmtk_private_dictionary(text: str) -> dict[tuple[str, int, int], PrivateEntry]:
    """DCMTK's private.dic, the dictionary Orthanc names private tags with.

    Keys are (creator, group, element), element being the low byte for "xx" entries and the
    full element for "xxyy" ones.
    """
    pattern = re.compile(r'^\(([0-9A-Fa-f]{4})(?:-o-([0-9A-Fa-f]{4}))?,"([^"]*)",([0-9A-Fa-f]+)\)')
    entries: dict[tuple[str, int, int], PrivateEntry] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        match = pattern.match(fields[0])
        if match is None or len(fields) < 3:
            continue
        first, last, creator, element = match.groups()
        for group in range(int(first, 16), int(last or first, 16) + 1, 2):
            name = "".join(fields[2].split())
            entries[(creator, group, int(element, 16))] = PrivateEntry(fields[1], name)
    return entries


@functools.cache
def _pydicom_private_dictionary() -> dict[tuple[str, int, int], PrivateEntry]:
    entries: dict[tuple[str, int, int], PrivateEntry] = {}
    for creator, tags in private_dictionaries.items():
        for mask, (vr, _vm, description, _retired) in tags.items():
            if "x" in mask[:4] or mask[4:6].lower() != "xx":
                continue
            name = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", description))
            entries[(creator, int(mask[:4], 16), int(mask[6:8], 16))] = PrivateEntry(vr, name)
    return entries


def pydicom_private_dictionary() -> PrivateDictionary:
    """pydicom's private dictionaries, in PrivateDictionary's form (the fallback naming)."""
    return _pydicom_private_dictionary()


def configured_private_entries(
    dictionary: Mapping[str, Any],
) -> dict[tuple[str, int, int], PrivateEntry]:
    """The private tags of Orthanc's `Dictionary` option: "gggg,eeee" -> [VR, name, min VM,
    max VM, private creator]. An entry without a creator names no private tag; a creator on
    an even (public) group is refused, as Orthanc refuses it."""
    entries: dict[tuple[str, int, int], PrivateEntry] = {}
    for key, fields in dictionary.items():
        tag = parse_tag(key)
        if not isinstance(fields, list) or len(fields) < 2:
            raise ValueError(f"Dictionary entry {key}: expected [VR, name, ...]")
        vr, name = str(fields[0]), str(fields[1])
        creator = str(fields[4]) if len(fields) > 4 and fields[4] else ""
        group, element = tag >> 16, tag & 0xFFFF
        if creator and group % 2 == 0:
            raise ValueError(f"Dictionary entry {key}: a private creator on a public group")
        if creator:
            entries[(creator, group, element & 0xFF)] = PrivateEntry(vr, name)
    return entries


def _private_entry(
    tag: int, creator: str | None, private_dictionary: PrivateDictionary | None
) -> PrivateEntry | None:
    if creator is None:
        return None
    entries = _pydicom_private_dictionary() if private_dictionary is None else private_dictionary
    group, element = tag >> 16, tag & 0xFFFF
    return entries.get((creator, group, element & 0xFF)) or entries.get((creator, group, element))


def tag_name(
    tag: int,
    private_creator: str | None = None,
    private_dictionary: PrivateDictionary | None = None,
) -> str:
    """The "Name" Orthanc reports: DCMTK's dictionary name, patched as Orthanc patches it."""
    group, element = tag >> 16, tag & 0xFFFF
    if tag in _ORTHANC_NAMES:
        return _ORTHANC_NAMES[tag]
    if group % 2 == 1:
        return _private_tag_name(tag, private_creator, private_dictionary)
    if tag in _DCMTK_UNKNOWN:
        return UNKNOWN_TAG_NAME
    public = _public_name(tag)
    if public is not None:
        return public
    return "GenericGroupLength" if element == 0 else UNKNOWN_TAG_NAME


def _public_name(tag: int) -> str | None:
    if tag in _DCMTK_NAMES:
        return _DCMTK_NAMES[tag]
    try:
        _vr, _vm, _description, retired, keyword = get_entry(tag)
    except KeyError:
        return None
    if not keyword:
        return None
    return f"RETIRED_{keyword}" if retired else keyword


def _private_tag_name(
    tag: int, creator: str | None, private_dictionary: PrivateDictionary | None
) -> str:
    group, element = tag >> 16, tag & 0xFFFF
    illegal = group <= 0x0007 or group == 0xFFFF
    if element == 0:
        return "IllegalGroupLength" if illegal else "PrivateGroupLength"
    if 0x0010 <= element <= 0x00FF:
        return "IllegalPrivateCreator" if illegal else "PrivateCreator"
    entry = _private_entry(tag, creator, private_dictionary)
    return entry.name if entry is not None else UNKNOWN_TAG_NAME


@functools.cache
def _names_to_tags() -> dict[str, int]:
    names: dict[str, int] = {}
    for tag in DicomDictionary:
        name = _public_name(tag)
        if name is not None and tag not in _DCMTK_UNKNOWN:
            names.setdefault(name, tag)
    return names


def parse_tag(text: str) -> int:
    """FromDcmtkBridge::ParseTag: "gggg,eeee", "gggg-eeee", "ggggeeee" or a DCMTK name."""
    hexadecimal = re.fullmatch(r"([0-9A-Fa-f]{4})[-,]?([0-9A-Fa-f]{4})", text)
    if hexadecimal is not None and len(text) in (8, 9):
        return int(hexadecimal.group(1) + hexadecimal.group(2), 16)
    tag = _names_to_tags().get(text)
    if tag is None:
        raise UnknownDicomTag(text)
    return tag


# --- Raw element access --------------------------------------------------------------------------


@attrs.frozen
class TagElement:
    tag: int
    vr: str
    value: bytes
    items: tuple[Dataset, ...] | None
    creator: str | None


def _raw_bytes(ds: Dataset, tag: int) -> bytes | None:
    if tag not in ds:
        return None
    element = ds.get_item(tag)
    if isinstance(element, RawDataElement):
        return element.value or b""
    return _encoded_value(element, ds)


def _encoded_value(element: DataElement, ds: Dataset) -> bytes:
    """Value bytes of an element pydicom already decoded, written back in explicit little endian."""
    if element.value is None or element.VR == "SQ":
        return b""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    try:
        write_data_element(fp, element, getattr(ds, "_character_set", None) or ["iso8859"])
    except (ValueError, TypeError, struct.error):  # e.g. an ambiguous VR such as "US or SS"
        return b""
    header = 12 if element.VR in _LONG_HEADER_VRS else 8
    return fp.getvalue()[header:]


def _creators(ds: Dataset) -> dict[tuple[int, int], str]:
    creators: dict[tuple[int, int], str] = {}
    for tag in sorted(ds.keys()):
        if tag.group % 2 == 1 and 0x10 <= tag.element <= 0xFF:
            raw = _raw_bytes(ds, tag) or b""
            creators[(tag.group, tag.element)] = _machine_string(raw, "LO").decode("latin-1")
    return creators


def tag_elements(ds: Dataset, private_dictionary: PrivateDictionary | None) -> Iterator[TagElement]:
    creators = _creators(ds)
    for tag in sorted(ds.keys()):
        creator = None
        if tag.group % 2 == 1 and tag.element >= 0x1000:
            creator = creators.get((tag.group, tag.element >> 8))
        yield tag_element(ds, int(tag), creator, private_dictionary)


def tag_element(
    ds: Dataset, tag: int, creator: str | None, private_dictionary: PrivateDictionary | None
) -> TagElement:
    raw = ds.get_item(tag)
    if isinstance(raw, RawDataElement):
        vr = raw.VR or _implicit_vr(tag, creator, private_dictionary)
        if vr == "SQ" or (vr == "UN" and raw.length == UNDEFINED_LENGTH):
            return _sequence(ds, tag, creator)
        value = raw.value or b""
        if not raw.is_little_endian:
            value = _swap(value, _WORD_SIZES.get(vr, 1))
        return TagElement(tag, vr, value, None, creator)
    if raw.VR == "SQ":
        return TagElement(tag, "SQ", b"", tuple(raw.value), creator)
    return TagElement(tag, raw.VR, _encoded_value(raw, ds), None, creator)


def _sequence(ds: Dataset, tag: int, creator: str | None) -> TagElement:
    try:
        value = ds[tag].value
    except Exception:  # a sequence pydicom cannot parse is reported like an unreadable value
        return TagElement(tag, "UN", b"", None, creator)
    if isinstance(value, DicomSequence):
        return TagElement(tag, "SQ", b"", tuple(value), creator)
    return TagElement(tag, "UN", b"", None, creator)


def _implicit_vr(
    tag: int, creator: str | None, private_dictionary: PrivateDictionary | None
) -> str:
    """The VR DCMTK gives an implicit-VR element: "xs" marks an ambiguous, unconverted VR."""
    group, element = tag >> 16, tag & 0xFFFF
    if element == 0:
        return "UL"
    if group % 2 == 1:
        if 0x10 <= element <= 0xFF:
            return "LO"
        entry = _private_entry(tag, creator, private_dictionary)
        return _plain_vr(entry.vr) if entry is not None else "UN"
    if tag in _DCMTK_UNKNOWN:
        return "UN"
    try:
        return _plain_vr(get_entry(tag)[0])
    except KeyError:
        return "UN"


def _plain_vr(vr: str) -> str:
    return vr if len(vr) == 2 and vr.isupper() else "xs"


def _swap(value: bytes, size: int) -> bytes:
    """DCMTK keeps numbers and words in host (little endian) order whatever the file's."""
    if size == 1 or len(value) % size:
        return value
    words = array.array({2: "H", 4: "I", 8: "Q"}[size], value)
    words.byteswap()
    return words.tobytes()


# --- DCMTK value semantics -----------------------------------------------------------------------


def padded_bytes(raw: bytes) -> bytearray:
    buffer = bytearray(raw)
    if len(buffer) % 2:
        buffer.append(0)  # DCMTK loads odd-length values with a NUL pad byte
    return buffer


def _machine_buffer(raw: bytes, vr: str) -> bytes:
    """DcmByteString::makeMachineByteString on a freshly loaded value."""
    buffer = padded_bytes(raw)
    if vr == "UI":
        length = buffer.find(0) if 0 in buffer else len(buffer)
        return bytes(b for b in buffer[:length] if b not in _C_WHITESPACE)
    return bytes(buffer).rstrip(b" ")


def _machine_string(raw: bytes, vr: str) -> bytes:
    """What DcmByteString::getString gives Orthanc: the machine string up to its first NUL."""
    return _machine_buffer(raw, vr).split(b"\0", 1)[0]


def dicom_string_bytes(raw: bytes, vr: str) -> bytes:
    """DcmByteString::getLength/getPartialValue, i.e. what /content returns for a string."""
    value = _machine_buffer(raw, vr)
    if len(value) % 2:
        value += b"\0" if vr == "UI" else b" "
    return value


def _format_float(value: float) -> str:
    return f"{value:.17g}"  # std::setprecision(17), as Orthanc prints FL and FD


def _numbers(value: bytes, vr: str) -> str | None:
    """FromDcmtkBridge's ApplyDcmtkToCTypeConverter."""
    code = _NUMBER_FORMATS[vr]
    size = struct.calcsize(code)
    count = len(value) // size
    if count == 0:
        return None
    if not (len(value) > size and len(value) % size == 0):
        count = 1
    numbers = struct.unpack_from(f"<{count}{code}", value)
    if vr in ("FL", "FD"):
        return "\\".join(_format_float(n) for n in numbers)
    return "\\".join(str(n) for n in numbers)


def _attribute_tag(value: bytes) -> str | None:
    if len(value) < 4:
        return None
    group, element = struct.unpack_from("<HH", value)
    return format_tag((group << 16) | element)


def _dictionary_string_vr(
    tag: int, creator: str | None, private_dictionary: PrivateDictionary | None
) -> bool:
    if tag >> 16 & 1:
        entry = _private_entry(tag, creator, private_dictionary)
        return entry is not None and entry.vr in STRING_VRS
    if tag in _DCMTK_UNKNOWN:
        return False
    try:
        return get_entry(tag)[0] in STRING_VRS
    except KeyError:
        return False


def _unknown_vr_value(
    element: TagElement, charset: Charset, private_dictionary: PrivateDictionary | None
) -> str | None:
    """Orthanc's handling of UN values whose dictionary VR is a string (DICOM CP 246)."""
    if not _dictionary_string_vr(element.tag, element.creator, private_dictionary):
        return None
    data = element.value
    if not data:
        return ""
    if len(data) % 2 == 0 and data[-1] == 0:
        data = data[:-1]
    if element.tag >> 16 & 1:
        return data.decode("ascii") if _is_ascii(data) else None
    return decode_text(data, charset)


def leaf_value(
    element: TagElement, charset: Charset, private_dictionary: PrivateDictionary | None = None
) -> str | None:
    """FromDcmtkBridge::ConvertLeafElement with Orthanc's default flags: None means null."""
    vr = element.vr
    if vr in STRING_VRS:
        return decode_text(_machine_string(element.value, vr), charset)
    if vr == "UN":
        return _unknown_vr_value(element, charset, private_dictionary)
    if vr in _NUMBER_FORMATS:
        return _numbers(element.value, vr)
    if vr == "AT":
        return _attribute_tag(element.value)
    return None


def main_string_value(
    ds: Dataset,
    tag: int,
    default_encoding: Encoding | str = Encoding.LATIN1,
    *,
    charset: Charset | None = None,
) -> str | None:
    """A top-level value as Orthanc's DICOM summary holds it (main tags, identifiers).

    None when the tag is absent, is a sequence, or its value is null or over 256 UTF-8 bytes.
    """
    if tag not in ds:
        return None
    element = tag_element(ds, tag, None, None)
    if element.items is not None:
        return None
    value = leaf_value(element, charset or detect_charset(ds, default_encoding))
    if value is None or len(value.encode("utf-8")) > MAX_STRING_LENGTH:
        return None
    return value
