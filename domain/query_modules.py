"""What an outgoing C-FIND may ask at each level when Orthanc normalises it: the attributes of
the level's information modules and of those above it (PS3.3 tables C.7-1 Patient, C.7-3
General Study, C.7-5a General Series, and the SOP Common and General Image attributes Orthanc
lists for instances), the counters of the level, and SpecificCharacterSet."""

from __future__ import annotations

from domain.levels import INSTANCE, PATIENT, SERIES, STUDY

_PATIENT_MODULE = (
    0x00100010, 0x00100020, 0x00100030, 0x00100040, 0x00081120, 0x00100032, 0x00101000,
    0x00101002, 0x00101001, 0x00102160, 0x00104000, 0x00102201, 0x00102202, 0x00102292,
    0x00102293, 0x00102294, 0x00102297, 0x00102298, 0x00102299, 0x00120062, 0x00120063,
    0x00120064, 0x00100021, 0x00100024,
)  # fmt: skip
_STUDY_MODULE = (
    0x0020000D, 0x00080020, 0x00080030, 0x00080090, 0x00080096, 0x00200010, 0x00080050,
    0x00080051, 0x00081030, 0x00081048, 0x00081049, 0x00081060, 0x00081062, 0x00321034,
    0x00081110, 0x00081032, 0x00401012,
)  # fmt: skip
_SERIES_MODULE = (
    0x00080060, 0x0020000E, 0x00200011, 0x00200060, 0x00080021, 0x00080031, 0x00081050,
    0x00081052, 0x00181030, 0x0008103E, 0x0008103F, 0x00081070, 0x00081072, 0x00081111,
    0x00081250, 0x00180015, 0x00185100, 0x00280108, 0x00290109, 0x00400275, 0x00102210,
    0x00400253, 0x00400244, 0x00400245, 0x00400254, 0x00400260, 0x00400280,
)  # fmt: skip
_INSTANCE_MODULE = (
    0x00080016, 0x00080018, 0x00080005, 0x00080012, 0x00080013, 0x00080014, 0x0008001A,
    0x0008001B, 0x00080110, 0x00080201, 0x0018A001, 0x00200013, 0x01000410, 0x01000420,
    0x01000424, 0x01000426, 0x04000500, 0x04000561, 0x0040A390, 0x00280303, 0x4FFE0001,
    0xFFFAFFFA,
)  # fmt: skip
_MODULES = {
    PATIENT: _PATIENT_MODULE,
    STUDY: _STUDY_MODULE,
    SERIES: _SERIES_MODULE,
    INSTANCE: _INSTANCE_MODULE,
}
_COUNTERS = {
    PATIENT: (0x00201200, 0x00201202, 0x00201204),  # NumberOfPatientRelated…
    STUDY: (0x00080061, 0x00201206, 0x00201208, 0x00080062),  # ModalitiesInStudy…
    SERIES: (0x00201209,),  # NumberOfSeriesRelatedInstances
    INSTANCE: (),
}
SPECIFIC_CHARACTER_SET = 0x00080005


def query_tags(level: int) -> frozenset[int]:
    """The tags a normalised query at `level` keeps; Orthanc drops the others with a warning."""
    tags = {SPECIFIC_CHARACTER_SET, *_COUNTERS[level]}
    for module_level in range(PATIENT, level + 1):
        tags.update(_MODULES[module_level])
    return frozenset(tags)
