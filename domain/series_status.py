"""Orthanc's series completeness: the number of instances a series expects (from the tags of
an instance) and the status of the instances it holds against it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

IMAGES_IN_ACQUISITION = 0x00201002
NUMBER_OF_TEMPORAL_POSITIONS = 0x00200105
NUMBER_OF_SLICES = 0x00540081
NUMBER_OF_TIME_SLICES = 0x00540101
CARDIAC_NUMBER_OF_IMAGES = 0x00181090
EXPECTED_INSTANCES_TAGS = (
    IMAGES_IN_ACQUISITION,
    NUMBER_OF_TEMPORAL_POSITIONS,
    NUMBER_OF_SLICES,
    NUMBER_OF_TIME_SLICES,
    CARDIAC_NUMBER_OF_IMAGES,
)
UNKNOWN, MISSING, COMPLETE, INCONSISTENT = "Unknown", "Missing", "Complete", "Inconsistent"
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _integer(value: str | None) -> int | None:
    if value is None or not _INTEGER.fullmatch(value):
        return None
    return int(value)


def expected_instances_from(values: Mapping[int, str | None]) -> int | None:
    """As Orthanc computes it: ImagesInAcquisition x NumberOfTemporalPositions, else
    NumberOfSlices x NumberOfTimeSlices (cardio-PET), else CardiacNumberOfImages; each pair
    only when both are present, and None unless the result is positive."""
    pairs = (
        (IMAGES_IN_ACQUISITION, NUMBER_OF_TEMPORAL_POSITIONS),
        (NUMBER_OF_SLICES, NUMBER_OF_TIME_SLICES),
    )
    for first, second in pairs:
        if values.get(first) is not None and values.get(second) is not None:
            a, b = _integer(values[first]), _integer(values[second])
            return a * b if a is not None and b is not None and a * b > 0 else None
    cardiac = values.get(CARDIAC_NUMBER_OF_IMAGES)
    if cardiac is not None:
        count = _integer(cardiac)
        return count if count is not None and count > 0 else None
    return None


def series_status(expected: int | None, indexes: Iterable[str | None]) -> str:
    """Orthanc's GetSeriesStatus: `indexes` are the IndexInSeries of the series' instances
    (None for an instance without one, which does not count)."""
    if expected is None:
        return UNKNOWN
    seen: set[int] = set()
    for text in indexes:
        if text is None:
            continue
        index = _integer(text.strip())
        if index is None:
            return UNKNOWN
        if not 0 < index <= expected or index in seen:
            return INCONSISTENT
        seen.add(index)
    return COMPLETE if len(seen) == expected else MISSING
