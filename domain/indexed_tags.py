"""The tags beyond the main ones that an instance's record keeps: every short top-level value,
text or binary number (Rows, BitsAllocated…), for the full-text index and for C-FIND on
attributes that are not main tags."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.tag import BaseTag

from domain.dicom_text import detect_charset, main_string_value

TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI", "LT", "ST"}
NUMBER_VRS = {"US", "SS", "UL", "SL", "FL", "FD"}
KEPT_VRS = TEXT_VRS | NUMBER_VRS
MAX_TOTAL_LENGTH = 8192


def indexed_tags(ds: Dataset, default_encoding: str = "Latin1") -> dict[str, str]:
    """Keyword (or gggg,eeee for private and unknown tags) -> value as Orthanc would store it
    (UTF-8, at most 256 bytes), bounded in total size. Values are read from the raw bytes, so
    the dataset's elements are not converted."""
    charset = detect_charset(ds, default_encoding)
    return indexed_from(
        (tag, main_string_value(ds, tag, charset=charset)) for tag in short_value_tags(ds)
    )


def short_value_tags(ds: Dataset) -> list[BaseTag]:
    """The dataset's top-level text and number elements, in order (no meta-header)."""
    return [
        tag
        for tag in ds.keys()  # noqa: SIM118 (iterating a Dataset converts every element)
        if tag.group != 0x0002 and _vr(ds, tag) in KEPT_VRS
    ]


def indexed_from(values: Iterable[tuple[BaseTag, str | None]]) -> dict[str, str]:
    """indexed_tags() from the values of short_value_tags(), already read, in the same order."""
    result: dict[str, str] = {}
    total = 0
    for tag, value in values:
        if not value:
            continue
        key = keyword_for_tag(tag) or f"{tag.group:04x},{tag.element:04x}"
        total += len(key) + len(value)
        if total > MAX_TOTAL_LENGTH:
            break
        result[key] = value
    return result


def _vr(ds: Dataset, tag: int) -> str | None:
    vr = ds.get_item(tag).VR
    if vr:
        return vr
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None
