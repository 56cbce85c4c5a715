"""DICOM values held as binary numbers (US, SS, UL, SL, UV, SV, FL, FD), read from text."""

from __future__ import annotations

BINARY_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"})
_INTEGER_RANGES = {
    "US": (0, 2**16 - 1),
    "SS": (-(2**15), 2**15 - 1),
    "UL": (0, 2**32 - 1),
    "SL": (-(2**31), 2**31 - 1),
    "UV": (0, 2**64 - 1),
    "SV": (-(2**63), 2**63 - 1),
}


def parse_numbers(vr: str, text: str) -> list[int | float] | None:
    """ "512" or "1\\\\2" as the numbers `vr` holds (None for an empty text); ValueError for a
    text that is no such number or one outside the VR's range."""
    if not text.strip():
        return None
    if vr in ("FL", "FD"):
        return [float(item) for item in text.split("\\")]
    low, high = _INTEGER_RANGES[vr]
    numbers: list[int | float] = []
    for item in text.split("\\"):
        number = int(item)
        if not low <= number <= high:
            raise ValueError(f"{number} is out of the range of {vr}")
        numbers.append(number)
    return numbers
