"""Split and merge studies as Orthanc does (its SplitStudyJob and MergeStudyJob): the instances
taken out of a study, or moved into one, are stored again as new instances: a new
SeriesInstanceUID per source series, a new SOPInstanceUID each, and the study's identity from
the patient and study modules.

* A split puts the chosen series and instances into one new study (a new StudyInstanceUID),
  with the Replace and Remove the request gives, limited to the patient and study modules.
* A merge gives the moved instances the patient and study modules of the target study, as its
  newest instance has them: each module tag the target has as text is copied, the others
  (absent, sequences, binary, longer than Orthanc keeps) are removed.

Nothing else changes: references inside sequences keep naming the source UIDs, as in Orthanc.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from domain.deidentification import SERIES_INSTANCE_UID, SOP_INSTANCE_UID, STUDY_INSTANCE_UID
from domain.dicom_modification import ModificationRefused
from domain.dicom_modules import PATIENT_MODULE, STUDY_MODULE
from domain.dicom_text import UnknownDicomTag, format_tag, parse_tag

SPLIT_TAGS = (PATIENT_MODULE | STUDY_MODULE) - {STUDY_INSTANCE_UID, SERIES_INSTANCE_UID}
MAXIMUM_TAG_LENGTH = 256  # Orthanc's summary of an instance leaves longer values out
_BINARY_VRS = frozenset(("OB", "OD", "OF", "OL", "OV", "OW", "UN"))


@attrs.frozen
class Restructuring:
    """What every moved instance gets: `replacements` (tag -> text), `removals`, and for a
    split the new study's UID (a merge's is among the replacements)."""

    replacements: dict[int, str]
    removals: frozenset[int]
    study_uid: str | None = None

    def apply(self, ds: Dataset, series_uid: str) -> None:
        """Changes `ds` in place (its file meta follows when written: dataset_bytes)."""
        for tag in self.removals:
            if tag in ds:
                del ds[tag]
        for tag, value in sorted(self.replacements.items()):
            ds[tag] = DataElement(tag, _vr(ds, tag), value)
        if self.study_uid is not None:
            ds[STUDY_INSTANCE_UID] = DataElement(STUDY_INSTANCE_UID, "UI", self.study_uid)
        ds[SERIES_INSTANCE_UID] = DataElement(SERIES_INSTANCE_UID, "UI", series_uid)
        ds[SOP_INSTANCE_UID] = DataElement(SOP_INSTANCE_UID, "UI", generate_uid(prefix=None))


def _vr(ds: Dataset, tag: int) -> str:
    if tag in ds and ds[tag].VR not in ("UN", None):
        return str(ds[tag].VR)
    return str(dictionary_VR(tag)).split(" or ")[0]


def merged_into(target: Dataset) -> Restructuring:
    """What moving an instance into the study `target` (its newest instance) belongs to does."""
    replacements: dict[int, str] = {}
    for tag in PATIENT_MODULE | STUDY_MODULE:
        text = summary_text(target, tag)
        if text is not None:
            replacements[tag] = text
    return Restructuring(replacements, (PATIENT_MODULE | STUDY_MODULE) - replacements.keys())


def summary_text(ds: Dataset, tag: int) -> str | None:
    """The tag's value as Orthanc's summary of an instance has it, or None if it has none."""
    if tag not in ds:
        return None
    element = ds[tag]
    if element.VR == "SQ" or element.VR in _BINARY_VRS:
        return None
    value: Any = element.value
    if value is None:
        text = ""
    elif isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(item) for item in value)
    else:
        text = str(value)
    return None if len(text.encode("utf-8")) > MAXIMUM_TAG_LENGTH else text


# -- requests ---------------------------------------------------------------------------------


@attrs.frozen
class SplitRequest:
    series: list[str]
    instances: list[str]
    replacements: dict[int, str]
    removals: frozenset[int]
    keep_source: bool


@attrs.frozen
class MergeRequest:
    resources: list[str]
    keep_source: bool


def _refused(code: str, details: str | None = None) -> ModificationRefused:
    return ModificationRefused(code, details)


def _strings(request: dict[str, Any], member: str) -> list[str]:
    value = request.get(member)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _refused("BAD_FILE_FORMAT", f"List of strings expected in field: {member}")
    return list(dict.fromkeys(value))


def keep_source(request: dict[str, Any]) -> bool:
    """Split and merge delete their sources unless told otherwise."""
    value = request.get("KeepSource", False)
    if not isinstance(value, bool):
        raise _refused("BAD_FILE_FORMAT", "Boolean value expected in field: KeepSource")
    return value


def _split_tag(name: Any) -> int:
    if not isinstance(name, str):
        raise _refused("BAD_FILE_FORMAT")
    try:
        tag = parse_tag(name)
    except UnknownDicomTag:
        raise _refused("UNKNOWN_DICOM_TAG") from None
    if tag not in SPLIT_TAGS:
        raise _refused(
            "PARAMETER_OUT_OF_RANGE",
            "Cannot modify the following tag while splitting a study (not in the "
            f"patient/study modules): {keyword_for_tag(tag)} ({format_tag(tag)})",
        )
    return tag


def split_request(
    request: Any, series_check: Callable[[str], None], instance_check: Callable[[str], None]
) -> SplitRequest:
    """The split a JSON body asks for, checked in Orthanc's order (the checks raise for a
    series or an instance that is not one of the study's)."""
    if not isinstance(request, dict):
        raise _refused("BAD_FILE_FORMAT")
    series = _strings(request, "Series") if "Series" in request else []
    for series_id in series:
        series_check(series_id)
    instances = _strings(request, "Instances") if "Instances" in request else []
    for instance_id in instances:
        instance_check(instance_id)
    if not series and not instances:
        raise _refused("BAD_REQUEST", 'Both the "Series" and the "Instances" fields are missing')
    keep = keep_source(request)
    removals = request.get("Remove", [])
    if not isinstance(removals, list):
        raise _refused("BAD_FILE_FORMAT")
    removed = frozenset(_split_tag(name) for name in removals)
    replacements = request.get("Replace", {})
    if not isinstance(replacements, dict):
        raise _refused("BAD_FILE_FORMAT")
    replaced: dict[int, str] = {}
    for name, value in replacements.items():
        if not isinstance(value, str):
            raise _refused("BAD_FILE_FORMAT")
        replaced[_split_tag(name)] = value
    return SplitRequest(series, instances, replaced, removed, keep)


def merge_request(request: Any, source_check: Callable[[str], None]) -> MergeRequest:
    """The merge a JSON body asks for, checked in Orthanc's order (`source_check` raises for a
    resource that cannot be merged)."""
    if not isinstance(request, dict):
        raise _refused("BAD_FILE_FORMAT")
    resources = _strings(request, "Resources")
    for resource_id in resources:
        source_check(resource_id)
    return MergeRequest(resources, keep_source(request))
