"""The tags a full-text index needs beyond the main ones: every short top-level text value."""

from __future__ import annotations

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag

from domain.dicom_json import detect_charset, main_string_value

TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI", "LT", "ST"}
MAX_TOTAL_LENGTH = 8192


def indexed_tags(ds: Dataset, default_encoding: str = "Latin1") -> dict[str, str]:
    """Keyword (or gggg,eeee for private and unknown tags) -> value as Orthanc would store it
    (UTF-8, at most 256 bytes), bounded in total size. Values are read from the raw bytes, so
    the dataset's elements are not converted."""
    charset = detect_charset(ds, default_encoding)
    result: dict[str, str] = {}
    total = 0
    for tag in ds.keys():  # noqa: SIM118 (iterating a Dataset converts every element)
        if tag.group == 0x0002 or _vr(ds, tag) not in TEXT_VRS:
            continue
        value = main_string_value(ds, tag, charset=charset)
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
