"""The four levels of Orthanc's resource hierarchy, as numbers (stored in read models) and names."""

from __future__ import annotations

PATIENT, STUDY, SERIES, INSTANCE = 0, 1, 2, 3
LEVELS = (PATIENT, STUDY, SERIES, INSTANCE)
LEVEL_NAMES = ("Patient", "Study", "Series", "Instance")  # Orthanc's ResourceType values
LEVEL_PATHS = ("patients", "studies", "series", "instances")  # its REST collections
# The read-model column naming a resource's ancestor of each level.
ANCESTOR_COLUMN = {PATIENT: "patient_id", STUDY: "study_id", SERIES: "series_id"}


def level_number(name: str) -> int:
    """The level of "Patient", "study", "SERIES"…; ValueError for anything else."""
    for number, level_name in enumerate(LEVEL_NAMES):
        if level_name.lower() == name.lower():
            return number
    raise ValueError(f"unknown resource level {name!r}")


# Orthanc's StringToResourceType, applied to the upper-cased text: C-FIND's QueryRetrieveLevel
# and /tools/find's Level.
LEVEL_SPELLINGS = {
    "PATIENT": PATIENT,
    "PATIENTS": PATIENT,
    "STUDY": STUDY,
    "STUDIES": STUDY,
    "SERIES": SERIES,
    "INSTANCE": INSTANCE,
    "INSTANCES": INSTANCE,
    "IMAGE": INSTANCE,
    "IMAGES": INSTANCE,
}
