"""Orthanc's JSON views of a DICOM dataset, for the REST API: /tags in its three formats
(full, short, simplified), /header, /module, /shared-tags and /content.

One traversal builds the "full" format; the "short" and "simplified" formats are derived from
it the way Orthanc derives them (Toolbox::SimplifyDicomAsJson), so the formats always agree.
The DICOM text rules they rest on (charsets, tag names, DCMTK's value semantics) are the
domain's, in domain/dicom_text.py.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import attrs
from pydicom import Dataset
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import FileMetaDataset

from domain.dicom_text import (
    MAX_STRING_LENGTH,
    PIXEL_DATA,
    STRING_VRS,
    UNDEFINED_LENGTH,
    UNKNOWN_TAG_NAME,
    Charset,
    ContentNotFound,
    Encoding,
    FullTags,
    JsonTags,
    PrivateDictionary,
    TagElement,
    detect_charset,
    dicom_string_bytes,
    format_tag,
    leaf_value,
    padded_bytes,
    parse_tag,
    tag_element,
    tag_elements,
    tag_name,
)
from domain.parsed_dicom import ParsedDicom, parsed

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
    for element in tag_elements(ds, options.private_dictionary):
        if top_level and element.tag > PIXEL_DATA:
            break
        result[format_tag(element.tag)] = _node(element, options)
    return result


def _node(element: TagElement, options: _Options) -> dict[str, Any]:
    name = tag_name(element.tag, element.creator, options.private_dictionary)
    if element.items is not None:
        items = [_dataset_json(item, options, top_level=False) for item in element.items]
        return {"Name": name, "Type": "Sequence", "Value": items}
    node: dict[str, Any] = {"Name": name}
    if element.creator is not None:
        node["PrivateCreator"] = element.creator
    value = leaf_value(element, options.charset, options.private_dictionary)
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
    for element in tag_elements(_meta_view(source), {}):
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
    return tag_element(item, tag, None, None).items


def _leaf_content(item: Dataset, tag: int) -> ContentResult:
    if tag not in item:
        raise ContentNotFound(f"No tag {format_tag(tag)}")
    element = tag_element(item, tag, None, None)
    if element.items is not None:
        return ContentList(tuple(str(i) for i in range(len(element.items))))
    if element.vr in STRING_VRS:
        return ContentBytes(dicom_string_bytes(element.value, element.vr))
    return ContentBytes(bytes(padded_bytes(element.value)))


def _pixel_data(ds: Dataset, block: Sequence[str]) -> ContentResult:
    if PIXEL_DATA not in ds:
        raise ContentNotFound("No pixel data")
    raw = ds.get_item(PIXEL_DATA)
    fragments = _fragments(raw)
    whole = tag_element(ds, PIXEL_DATA, None, None).value if fragments is None else b""
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
