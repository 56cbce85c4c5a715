"""The de-identification profiles anonymization offers (Orthanc's `DicomVersion`): what each
removes, empties and replaces by new UIDs.

2017c and 2021b are PS3.15 Table E.1-1's Basic Profile (domain/deidentification_tables.py,
generated from the standard's XML), read as Orthanc reads it: X and X/... remove, Z, D and
Z/... empty, U maps to a new UID, X/Z/U* sequences keep their items (whose UIDs are mapped);
SOP, Series and Study Instance UIDs and the patient's name and ID have rules of their own.
2008 is the list Orthanc has always applied for PS 3.15-2008, whose Table E.1-1 has no action
column (every attribute listed is removed).
"""

from __future__ import annotations

import attrs

from domain.deidentification_tables import BASIC_PROFILE

DEFAULT_VERSION = "2021b"
VERSIONS = ("2008", "2017c", "2021b")
PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
SOP_INSTANCE_UID = 0x00080018
_OWN_RULES = {SOP_INSTANCE_UID, SERIES_INSTANCE_UID, STUDY_INSTANCE_UID, PATIENT_NAME, PATIENT_ID}
# UIDs Orthanc has mapped since before the tables (1.9.3 and earlier), kept for 2008.
_UIDS_2008 = (
    *(0x00080014, 0x00081155, 0x00200052, 0x00200200, 0x0040A124, 0x00880140),
    *(0x30060024, 0x300600C2),
)
_REMOVED_2008 = (
    *(0x00080050, 0x00080080, 0x00080081, 0x00080090, 0x00080092, 0x00080094, 0x00081010),
    *(0x00081030, 0x0008103E, 0x00081040, 0x00081048, 0x00081050, 0x00081060, 0x00081070),
    *(0x00081080, 0x00082111, 0x00100030, 0x00100032, 0x00100040, 0x00101000, 0x00101001),
    *(0x00101010, 0x00101020, 0x00101030, 0x00101090, 0x00102160, 0x00102180, 0x001021B0),
    *(0x00104000, 0x00181000, 0x00181030, 0x00200010, 0x00204000, 0x00400275, 0x0040A730),
    *(0x00101040, 0x00321032, 0x00102154, 0x00102000),
)
METHODS = {
    "2008": "PS 3.15-2008 Table E.1-1",
    "2017c": "PS 3.15-2017c Table E.1-1 Basic Profile",
    "2021b": "PS 3.15-2021b Table E.1-1 Basic Profile",
}


class UnknownVersion(ValueError):
    pass


@attrs.frozen
class TagRange:
    group_from: int
    group_to: int
    element_from: int
    element_to: int

    def __contains__(self, tag: int) -> bool:
        group, element = tag >> 16, tag & 0xFFFF
        return (
            self.group_from <= group <= self.group_to
            and self.element_from <= element <= self.element_to
        )


@attrs.frozen
class Profile:
    removals: frozenset[int]
    clearings: frozenset[int]
    uids: frozenset[int]
    removed_ranges: tuple[TagRange, ...]
    method: str  # what DeidentificationMethod (0012,0063) says after "<software> - "


def profile(version: str) -> Profile:
    if version == "2008":
        return Profile(
            frozenset(_REMOVED_2008), frozenset(), frozenset(_UIDS_2008), (), METHODS[version]
        )
    if version not in BASIC_PROFILE:
        raise UnknownVersion(version)
    return _from_table(BASIC_PROFILE[version], METHODS[version])


def _from_table(table: dict[str, str], method: str) -> Profile:
    removals, clearings, uids, ranges = set(), set(), set(), []
    for text, code in table.items():
        if "x" in text:
            if code != "X":
                raise ValueError(f"a range with the rule {code}: {text}")
            ranges.append(_range(text))
            continue
        tag = int(text.replace(",", ""), 16)
        if tag in _OWN_RULES or code == "X/Z/U*":
            continue
        if code == "U":
            uids.add(tag)
        elif code == "X" or code.startswith("X/"):
            removals.add(tag)
        elif code in ("Z", "D") or code.startswith("Z/"):
            clearings.add(tag)
        else:
            raise ValueError(f"a rule the Basic Profile does not use: {code} for {text}")
    return Profile(
        frozenset(removals), frozenset(clearings), frozenset(uids), tuple(ranges), method
    )


def _range(text: str) -> TagRange:
    group, element = text.split(",")
    return TagRange(
        int(group.replace("x", "0"), 16),
        int(group.replace("x", "f"), 16),
        int(element.replace("x", "0"), 16),
        int(element.replace("x", "f"), 16),
    )
