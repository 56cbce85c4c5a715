"""Orthanc's C-FIND matching rules evaluated on one instance's own tags (the attributes that
are not main tags), the same rules the hierarchy's SQL applies to main tags."""

from __future__ import annotations

import pytest

from projections.hierarchy.matching import satisfied, value_constraint


@pytest.mark.parametrize(
    ("vr", "text", "value", "expected"),
    [
        ("US", "512", "512", True),
        ("US", "512", "256", False),
        ("US", "512", None, False),
        ("SH", "N*", "NP", True),
        ("SH", "N?", "NPX", False),
        ("SH", "[a]*", "[a]b", True),
        ("SH", "*", "", True),
        ("SH", "*", None, False),
        ("PN", "doe*", "DOE^JOHN", True),
        ("LO", "doe", "DOE", False),
        ("DA", "20240101-20241231", "20240615", True),
        ("DA", "-20231231", "20240615", False),
        ("CS", "CT\\MR", "MR", True),
    ],
)
def test_satisfied(vr: str, text: str, value: str | None, expected: bool) -> None:
    constraint = value_constraint("Attribute", vr, text)
    assert constraint is not None
    assert satisfied(constraint, value) is expected


def test_an_empty_value_constrains_nothing() -> None:
    assert value_constraint("Rows", "US", "  ") is None
