"""Orthanc's series completeness rules (ServerIndex's ComputeExpectedNumberOfInstances and
GetSeriesStatus), on the values an instance's DICOM summary holds."""

from __future__ import annotations

import pytest

from domain.series_status import (
    CARDIAC_NUMBER_OF_IMAGES,
    IMAGES_IN_ACQUISITION,
    NUMBER_OF_SLICES,
    NUMBER_OF_TEMPORAL_POSITIONS,
    NUMBER_OF_TIME_SLICES,
    expected_instances_from,
    series_status,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({IMAGES_IN_ACQUISITION: "3", NUMBER_OF_TEMPORAL_POSITIONS: "2"}, 6),
        ({IMAGES_IN_ACQUISITION: "3"}, None),
        ({NUMBER_OF_SLICES: "10", NUMBER_OF_TIME_SLICES: "3"}, 30),
        ({CARDIAC_NUMBER_OF_IMAGES: "25"}, 25),
        ({IMAGES_IN_ACQUISITION: "3", NUMBER_OF_TEMPORAL_POSITIONS: "x"}, None),
        ({IMAGES_IN_ACQUISITION: "0", NUMBER_OF_TEMPORAL_POSITIONS: "4"}, None),
        ({CARDIAC_NUMBER_OF_IMAGES: "-2"}, None),
        ({}, None),
    ],
)
def test_expected_instances(values: dict[int, str], expected: int | None) -> None:
    assert expected_instances_from(values) == expected


@pytest.mark.parametrize(
    ("expected", "indexes", "status"),
    [
        (None, ["1"], "Unknown"),
        (3, ["1", "2"], "Missing"),
        (3, ["3", "1", "2"], "Complete"),
        (2, ["1", None], "Missing"),  # an instance without InstanceNumber does not count
        (2, [None, "1", "2"], "Complete"),
        (2, ["1", "x"], "Unknown"),
        (2, ["1", "1"], "Inconsistent"),
        (2, ["0"], "Inconsistent"),
        (2, ["3"], "Inconsistent"),
        (2, ["+1", "002"], "Complete"),
        (1, [], "Missing"),
    ],
)
def test_series_status(expected: int | None, indexes: list[str | None], status: str) -> None:
    assert series_status(expected, indexes) == status
