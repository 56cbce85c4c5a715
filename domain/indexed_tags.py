"""The tags a full-text index needs beyond the main ones: every short top-level text value."""

from __future__ import annotations

from pydicom import Dataset
from pydicom.dataelem import DataElement

TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI", "LT", "ST"}
MAX_VALUE_LENGTH = 256
MAX_TOTAL_LENGTH = 8192


def indexed_tags(ds: Dataset) -> dict[str, str]:
    """Keyword (or gggg,eeee for private and unknown tags) -> value, bounded in size."""
    result: dict[str, str] = {}
    total = 0
    for element in ds:
        text = _text_of(element)
        if text is None:
            continue
        key = element.keyword or f"{element.tag.group:04x},{element.tag.element:04x}"
        total += len(key) + len(text)
        if total > MAX_TOTAL_LENGTH:
            break
        result[key] = text
    return result


def _text_of(element: DataElement) -> str | None:
    if element.VR not in TEXT_VRS or element.tag.group == 0x0002:
        return None
    try:
        value = element.value
    except Exception:  # an undecodable value is left out of the index, not fatal to ingest
        return None
    if value is None or value == "":
        return None
    text = "\\".join(str(v) for v in value) if element.VM > 1 else str(value)
    text = text.strip(" \x00")
    return text if text and len(text) <= MAX_VALUE_LENGTH else None
