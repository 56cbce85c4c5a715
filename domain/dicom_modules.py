"""The tags of the patient, study and series modules, as Orthanc lists them (its
DicomTag::AddTagsForModule, from PS3.3 2011 Tables C.7-1 with the Issuer of Patient ID macro,
C.7-3 and C.7-5): what a split may replace, a merge copies, and a created instance inherits
from its parent."""

from __future__ import annotations

from domain.levels import PATIENT, SERIES, STUDY

PATIENT_MODULE = frozenset(
    (
        *(0x00100000 | e for e in (0x0010, 0x0020, 0x0021, 0x0024, 0x0030, 0x0032, 0x0040)),
        *(0x00100000 | e for e in (0x1000, 0x1001, 0x1002, 0x2160, 0x4000)),
        *(0x00100000 | e for e in (0x2201, 0x2202, 0x2292, 0x2293, 0x2294)),
        *(0x00100000 | e for e in (0x2297, 0x2298, 0x2299)),
        0x00081120,
        *(0x00120000 | e for e in (0x0062, 0x0063, 0x0064)),
    )
)
STUDY_MODULE = frozenset(
    (
        0x0020000D,
        *(0x00080000 | e for e in (0x0020, 0x0030, 0x0050, 0x0051, 0x0090, 0x0096)),
        *(0x00080000 | e for e in (0x1030, 0x1032, 0x1048, 0x1049, 0x1060, 0x1062, 0x1110)),
        0x00200010,
        0x00321034,
        0x00401012,
    )
)
SERIES_MODULE = frozenset(
    (
        *(0x00080000 | e for e in (0x0060, 0x0021, 0x0031, 0x1050, 0x1052, 0x103E, 0x103F)),
        *(0x00080000 | e for e in (0x1070, 0x1072, 0x1111, 0x1250)),
        *(0x00200000 | e for e in (0x000E, 0x0011, 0x0060)),
        *(0x00180000 | e for e in (0x1030, 0x0015, 0x5100)),
        0x00280108,
        0x00290109,  # Orthanc's typo for (0028,0109), kept: it is what Orthanc copies
        0x00102210,
        *(0x00400000 | e for e in (0x0275, 0x0253, 0x0244, 0x0245, 0x0254, 0x0260, 0x0280)),
    )
)
MODULES = {PATIENT: PATIENT_MODULE, STUDY: STUDY_MODULE, SERIES: SERIES_MODULE}


def modules_down_to(level: int) -> frozenset[int]:
    """The tags of the modules of `level` and of every level above it."""
    return frozenset().union(*(MODULES[above] for above in range(PATIENT, level + 1)))
