"""An instance as DICOM JSON (PS3.18 F.2), as Orthanc 1.9.2+ answers GET /instances/{id}/file
with `Accept: application/dicom+json`: every binary value inline (base64), group lengths left
out, encapsulated (compressed) pixel data left out, an empty sequence without a Value, a whole
decimal written as an integer."""

from __future__ import annotations

import logging
from typing import Any

from pydicom import Dataset

from domain.dicom_files import PARSER_ERRORS

log = logging.getLogger(__name__)

PIXEL_DATA = "7FE00010"
DECIMAL_VRS = {"DS", "FD", "FL"}
INLINE_EVERYTHING = 2**62  # pydicom's bulk data threshold: nothing goes to a bulk data URI


def dicomweb_json(ds: Dataset) -> dict[str, Any]:
    body = _tidy(_json_dict(ds))
    syntax = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID")
    if syntax is not None and syntax.is_transfer_syntax and syntax.is_compressed:
        body.pop(PIXEL_DATA, None)
    return body


def _json_dict(ds: Dataset) -> dict[str, Any]:
    """pydicom's to_json_dict, leaving out an element whose value its VR cannot hold (a DS
    that is no number), as Orthanc does ("Ignoring DICOM tag with invalid content")."""
    elements: dict[str, Any] = {}
    for tag in ds.keys():  # noqa: SIM118 (a Dataset's keys, not its converted elements)
        try:
            element = ds[tag]
            if element.VR == "SQ":
                items = [_json_dict(item) for item in element.value]
                elements[f"{tag:08X}"] = {"vr": "SQ", "Value": items}
            else:
                elements[f"{tag:08X}"] = element.to_json_dict(None, INLINE_EVERYTHING)
        except PARSER_ERRORS:
            log.warning("DICOM JSON: ignoring tag %08X, whose value does not fit its VR", tag)
    return elements


def _tidy(elements: dict[str, Any]) -> dict[str, Any]:
    tidy: dict[str, Any] = {}
    for key, element in elements.items():
        if key.endswith("0000"):
            continue  # group length
        if element.get("vr") == "SQ":
            items = [_tidy(item) for item in element.get("Value", [])]
            element = {"vr": "SQ", **({"Value": items} if items else {})}
        elif element.get("vr") in DECIMAL_VRS and "Value" in element:
            element = {**element, "Value": [_as_orthanc_writes(v) for v in element["Value"]]}
        tidy[key] = element
    return tidy


def _as_orthanc_writes(value: Any) -> Any:
    """Orthanc's JSON writer prints a whole decimal as an integer (500.0 as 500)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
