"""Orthanc's JSON views of a DICOM dataset: /tags, /header, /content, /module, /shared-tags.

Orthanc reads files with DCMTK, so every value here is what DCMTK hands to Orthanc: strings lose
trailing padding by DCMTK's rule, binary values become null, numbers are printed the C++ way,
and text is converted to UTF-8 with the dataset's first Specific Character Set (nested items
and code extensions included, exactly as Orthanc does). Values are read from the raw bytes
pydicom keeps, never from pydicom's own decoding, so the two libraries cannot disagree.

One traversal builds the "full" format; the "short" and "simplified" formats are derived from
it the way Orthanc derives them (Toolbox::SimplifyDicomAsJson), so the formats always agree.
"""

from __future__ import annotations

import array
import codecs
import functools
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

import attrs
from pydicom import Dataset
from pydicom._private_dict import private_dictionaries
from pydicom.datadict import DicomDictionary, get_entry
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence as DicomSequence

from domain.parsed_dicom import ParsedDicom, parsed

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
class _Element:
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


def _elements(ds: Dataset, private_dictionary: PrivateDictionary | None) -> Iterator[_Element]:
    creators = _creators(ds)
    for tag in sorted(ds.keys()):
        creator = None
        if tag.group % 2 == 1 and tag.element >= 0x1000:
            creator = creators.get((tag.group, tag.element >> 8))
        yield _element(ds, int(tag), creator, private_dictionary)


def _element(
    ds: Dataset, tag: int, creator: str | None, private_dictionary: PrivateDictionary | None
) -> _Element:
    raw = ds.get_item(tag)
    if isinstance(raw, RawDataElement):
        vr = raw.VR or _implicit_vr(tag, creator, private_dictionary)
        if vr == "SQ" or (vr == "UN" and raw.length == UNDEFINED_LENGTH):
            return _sequence(ds, tag, creator)
        value = raw.value or b""
        if not raw.is_little_endian:
            value = _swap(value, _WORD_SIZES.get(vr, 1))
        return _Element(tag, vr, value, None, creator)
    if raw.VR == "SQ":
        return _Element(tag, "SQ", b"", tuple(raw.value), creator)
    return _Element(tag, raw.VR, _encoded_value(raw, ds), None, creator)


def _sequence(ds: Dataset, tag: int, creator: str | None) -> _Element:
    try:
        value = ds[tag].value
    except Exception:  # a sequence pydicom cannot parse is reported like an unreadable value
        return _Element(tag, "UN", b"", None, creator)
    if isinstance(value, DicomSequence):
        return _Element(tag, "SQ", b"", tuple(value), creator)
    return _Element(tag, "UN", b"", None, creator)


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


def _padded(raw: bytes) -> bytearray:
    buffer = bytearray(raw)
    if len(buffer) % 2:
        buffer.append(0)  # DCMTK loads odd-length values with a NUL pad byte
    return buffer


def _machine_buffer(raw: bytes, vr: str) -> bytes:
    """DcmByteString::makeMachineByteString on a freshly loaded value."""
    buffer = _padded(raw)
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
    element: _Element, charset: Charset, private_dictionary: PrivateDictionary | None
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


def _leaf_value(
    element: _Element, charset: Charset, private_dictionary: PrivateDictionary | None = None
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
    element = _element(ds, tag, None, None)
    if element.items is not None:
        return None
    value = _leaf_value(element, charset or detect_charset(ds, default_encoding))
    if value is None or len(value.encode("utf-8")) > MAX_STRING_LENGTH:
        return None
    return value


# --- The three JSON formats ----------------------------------------------------------------------


class TagsFormat(StrEnum):
    FULL = "full"
    SHORT = "short"
    SIMPLIFIED = "simplify"


@attrs.frozen
class _Options:
    charset: Charset
    max_length: int
    ignore_length: frozenset[int]
    private_dictionary: PrivateDictionary | None


def full_tags(
    source: Dataset | ParsedDicom,
    *,
    default_encoding: Encoding | str = Encoding.LATIN1,
    ignore_length: Iterable[int] = (),
    max_string_length: int = MAX_STRING_LENGTH,
    private_dictionary: PrivateDictionary | None = None,
    stop_after_pixel_data: bool = True,
) -> FullTags:
    """GET /instances/{id}/tags: {"gggg,eeee": {"Name", ["PrivateCreator"], "Type", "Value"}}.

    As Orthanc does, top-level tags after (7fe0,0010) are left out, PixelData and other binary
    values are "Null", and strings longer than 256 UTF-8 bytes are "TooLong" (unless listed in
    `ignore_length`, Orthanc's "ignore-length" argument).
    """
    read = parsed(source)
    ds = read.dataset
    options = _Options(
        detect_charset(ds, default_encoding),
        max_string_length,
        frozenset(ignore_length),
        private_dictionary,
    )
    result = _dataset_json(ds, options, top_level=stop_after_pixel_data)
    if stop_after_pixel_data and read.pixel_data_skipped:
        result[format_tag(PIXEL_DATA)] = {"Name": "PixelData", "Type": "Null", "Value": None}
    return result


def _dataset_json(ds: Dataset, options: _Options, top_level: bool) -> FullTags:
    result: FullTags = {}
    for element in _elements(ds, options.private_dictionary):
        if top_level and element.tag > PIXEL_DATA:
            break
        result[format_tag(element.tag)] = _node(element, options)
    return result


def _node(element: _Element, options: _Options) -> dict[str, Any]:
    name = tag_name(element.tag, element.creator, options.private_dictionary)
    if element.items is not None:
        items = [_dataset_json(item, options, top_level=False) for item in element.items]
        return {"Name": name, "Type": "Sequence", "Value": items}
    node: dict[str, Any] = {"Name": name}
    if element.creator is not None:
        node["PrivateCreator"] = element.creator
    value = _leaf_value(element, options.charset, options.private_dictionary)
    if value is None:
        return node | {"Type": "Null", "Value": None}
    too_long = options.max_length and len(value.encode("utf-8")) > options.max_length
    if too_long and element.tag not in options.ignore_length:
        return node | {"Type": "TooLong", "Value": None}
    return node | {"Type": "String", "Value": value}


def simplify(full: Mapping[str, Any]) -> JsonTags:
    """Toolbox::SimplifyDicomAsJson, human format: names as keys, the last duplicate wins."""
    return _simplified(full, lambda key, node: node["Name"])


def shorten(full: Mapping[str, Any]) -> JsonTags:
    """Toolbox::SimplifyDicomAsJson, short format: "gggg,eeee" keys."""
    return _simplified(full, lambda key, node: key)


def _simplified(full: Mapping[str, Any], key_of: Callable[[str, Any], str]) -> JsonTags:
    result: JsonTags = {}
    for key in sorted(full):
        node = full[key]
        if node["Type"] == "String":
            value: Any = node["Value"]
        elif node["Type"] == "Sequence":
            value = [_simplified(item, key_of) for item in node["Value"]]
        else:
            value = None
        result[key_of(key, node)] = value
    return result


def to_format(full: Mapping[str, Any], tags_format: TagsFormat | str) -> JsonTags:
    """One of Orthanc's three formats (?short, ?simplify, or the full default)."""
    tags_format = TagsFormat(tags_format)
    if tags_format is TagsFormat.SHORT:
        return shorten(full)
    if tags_format is TagsFormat.SIMPLIFIED:
        return simplify(full)
    return dict(full)


def simplified_tags(ds: Dataset | ParsedDicom, **options: Any) -> JsonTags:
    """GET /instances/{id}/simplified-tags, or /tags?simplify."""
    return simplify(full_tags(ds, **options))


def short_tags(ds: Dataset | ParsedDicom, **options: Any) -> JsonTags:
    """GET /instances/{id}/tags?short."""
    return shorten(full_tags(ds, **options))


def header_tags(
    source: Dataset | FileMetaDataset | ParsedDicom, tags_format: TagsFormat | str = TagsFormat.FULL
) -> JsonTags:
    """GET /instances/{id}/header: public meta-header tags, binary ones left out, ASCII only.

    `source` is what read_dicom parsed (preferred: it also knows the elements DCMTK counts in the
    meta-header when its group length is too long) or its file_meta. A bare dataset with no
    meta-header, which Orthanc accepts, gives {}.
    """
    options = _Options(Charset(Encoding.ASCII), 0, frozenset(), {})
    full: FullTags = {}
    for element in _elements(_meta_view(source), {}):
        if element.vr in ("OB", "OW", "UN", "xs") or element.tag >> 16 & 1:
            continue
        if tag_name(element.tag) == UNKNOWN_TAG_NAME:
            continue
        full[format_tag(element.tag)] = _node(element, options)
    return to_format(full, tags_format)


def _meta_view(source: Dataset | FileMetaDataset | ParsedDicom) -> Dataset:
    if isinstance(source, FileMetaDataset):
        return source
    read = parsed(source)
    view = Dataset()
    meta = getattr(read.dataset, "file_meta", None) or Dataset()
    for tag in sorted(meta.keys()):
        view[tag] = meta.get_item(tag)
    for tag, raw in read.meta_overflow.items():
        view[tag] = raw
    return view


# --- /module and /shared-tags --------------------------------------------------------------------


class Module(StrEnum):
    PATIENT = "Patient"
    STUDY = "Study"
    SERIES = "Series"
    INSTANCE = "Instance"


def _tags(*tags: int) -> frozenset[int]:
    return frozenset(tags)


# DicomTag::AddTagsForModule, including its (0029,0109) typo for "Largest Pixel Value in Series".
MODULE_TAGS: Mapping[Module, frozenset[int]] = {
    Module.PATIENT: _tags(
        0x00100010, 0x00100020, 0x00100030, 0x00100040, 0x00081120, 0x00100032, 0x00101000,
        0x00101002, 0x00101001, 0x00102160, 0x00104000, 0x00102201, 0x00102202, 0x00102292,
        0x00102293, 0x00102294, 0x00102297, 0x00102298, 0x00102299, 0x00120062, 0x00120063,
        0x00120064, 0x00100021, 0x00100024,
    ),
    Module.STUDY: _tags(
        0x0020000D, 0x00080020, 0x00080030, 0x00080090, 0x00080096, 0x00200010, 0x00080050,
        0x00080051, 0x00081030, 0x00081048, 0x00081049, 0x00081060, 0x00081062, 0x00321034,
        0x00081110, 0x00081032, 0x00401012,
    ),
    Module.SERIES: _tags(
        0x00080060, 0x0020000E, 0x00200011, 0x00200060, 0x00080021, 0x00080031, 0x00081050,
        0x00081052, 0x00181030, 0x0008103E, 0x0008103F, 0x00081070, 0x00081072, 0x00081111,
        0x00081250, 0x00180015, 0x00185100, 0x00280108, 0x00290109, 0x00400275, 0x00102210,
        0x00400253, 0x00400244, 0x00400245, 0x00400254, 0x00400260, 0x00400280,
    ),
    Module.INSTANCE: _tags(
        0x00080016, 0x00080018, 0x00080005, 0x00080012, 0x00080013, 0x00080014, 0x0008001A,
        0x0008001B, 0x00080110, 0x00080201, 0x0018A001, 0x00200013, 0x01000410, 0x01000420,
        0x01000424, 0x01000426, 0x04000500, 0x04000561, 0x0040A390, 0x00280303, 0x4FFE0001,
        0xFFFAFFFA,
    ),
}  # fmt: skip

# Which module each /{level}/{id}/module route reports; studies also have /module-patient.
LEVEL_MODULES: Mapping[str, Module] = {
    "patients": Module.PATIENT,
    "studies": Module.STUDY,
    "series": Module.SERIES,
    "instances": Module.INSTANCE,
}


def module_tags(
    source: Dataset | Mapping[str, Any], module: Module | str, **options: Any
) -> FullTags:
    """GET /{level}/{id}/module (full format) from one instance, the first child for non-instances.

    `source` is the instance dataset or its full_tags(); `options` go to full_tags().
    """
    full = full_tags(source, **options) if isinstance(source, Dataset) else source
    wanted = {format_tag(tag) for tag in MODULE_TAGS[Module(module)]}
    return {key: node for key, node in full.items() if key in wanted}


def shared_tags_from_full(instances: Iterable[Mapping[str, Any]]) -> FullTags:
    """GET /{level}/{id}/shared-tags: top-level "String" tags equal in every instance."""
    shared: FullTags | None = None
    for full in instances:
        strings = {key: node for key, node in full.items() if node.get("Type") == "String"}
        if shared is None:
            shared = dict(strings)
            continue
        shared = {
            key: node
            for key, node in shared.items()
            if key in strings and strings[key]["Value"] == node["Value"]
        }
    return shared or {}


def shared_tags(datasets: Iterable[Dataset], **options: Any) -> FullTags:
    return shared_tags_from_full(full_tags(ds, **options) for ds in datasets)


# --- /content ------------------------------------------------------------------------------------


@attrs.frozen
class ContentList:
    """Answered as application/json: tags "gggg-eeee", or item/fragment indices as strings."""

    entries: tuple[str, ...]


@attrs.frozen
class ContentBytes:
    """Answered as application/octet-stream, exactly these bytes (possibly empty)."""

    data: bytes


ContentResult = ContentList | ContentBytes


def resolve_content(ds: Dataset, path: Sequence[str]) -> ContentResult:
    """GET /instances/{id}/content/{path...}; needs the full dataset (parse_dataset).

    Raises ContentNotFound (Orthanc: 404, empty body) or UnknownDicomTag (Orthanc: 500).
    Empty path components are ignored, as Orthanc's URI handling drops them.
    """
    parts = [part for part in path if part]
    if parts and len(parts) <= 2 and parse_tag(parts[0]) == PIXEL_DATA:
        return _pixel_data(ds, parts[1:])
    item = ds
    for position in range(0, len(parts) - 1, 2):
        item = _sequence_item(item, parts[position], parts[position + 1])
    if len(parts) % 2 == 0:
        return content_children(item)
    return _leaf_content(item, parse_tag(parts[-1]))


def content_children(item: Dataset) -> ContentList:
    """The tags of one dataset or item, including group lengths, private tags and trailers."""
    return ContentList(tuple(format_tag(int(tag), "-") for tag in sorted(item.keys())))


def _item_number(text: str) -> int | None:
    """boost::lexical_cast<size_t> then DCMTK's signed item number, where -1 means the last."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    if number < 0:
        number += 1 << 64
    if not 0 <= number < 1 << 64:
        return None
    return number - (1 << 64) if number >= 1 << 63 else number


def _sequence_item(item: Dataset, tag_text: str, index_text: str) -> Dataset:
    index = _item_number(index_text)
    if index is None:  # Orthanc parses the index before the tag
        raise ContentNotFound(f"Not an item index: {index_text}")
    tag = parse_tag(tag_text)
    items = _sequence_items(item, tag)
    if not items:
        raise ContentNotFound(f"No item {index_text} in {format_tag(tag)}")
    if index == -1:
        return items[-1]
    if not 0 <= index < len(items):
        raise ContentNotFound(f"No item {index_text} in {format_tag(tag)}")
    return items[index]


def _sequence_items(item: Dataset, tag: int) -> tuple[Dataset, ...] | None:
    if tag not in item:
        return None
    return _element(item, tag, None, None).items


def _leaf_content(item: Dataset, tag: int) -> ContentResult:
    if tag not in item:
        raise ContentNotFound(f"No tag {format_tag(tag)}")
    element = _element(item, tag, None, None)
    if element.items is not None:
        return ContentList(tuple(str(i) for i in range(len(element.items))))
    if element.vr in STRING_VRS:
        return ContentBytes(dicom_string_bytes(element.value, element.vr))
    return ContentBytes(bytes(_padded(element.value)))


def _pixel_data(ds: Dataset, block: Sequence[str]) -> ContentResult:
    if PIXEL_DATA not in ds:
        raise ContentNotFound("No pixel data")
    raw = ds.get_item(PIXEL_DATA)
    fragments = _fragments(raw)
    whole = _element(ds, PIXEL_DATA, None, None).value if fragments is None else b""
    count = 1 if fragments is None else len(fragments)
    if not block:
        return ContentList(tuple(str(i) for i in range(count)))
    if not re.fullmatch(r"\+?[0-9]+", block[0]) or int(block[0]) >= count:
        raise ContentNotFound(f"No pixel data block {block[0]}")
    return ContentBytes(whole if fragments is None else fragments[int(block[0])])


def _fragments(raw: RawDataElement | DataElement) -> list[bytes] | None:
    """The items of encapsulated pixel data, the Basic Offset Table first; None if native."""
    length = raw.length if isinstance(raw, RawDataElement) else getattr(raw, "length", 0)
    encapsulated = length == UNDEFINED_LENGTH or getattr(raw, "is_undefined_length", False)
    if not encapsulated or not raw.value:
        return None
    data, position, items = raw.value, 0, []
    while position + 8 <= len(data):
        group, element, size = struct.unpack_from("<HHI", data, position)
        if (group, element) != (0xFFFE, 0xE000):
            break
        items.append(bytes(data[position + 8 : position + 8 + size]))
        position += 8 + size
    return items
