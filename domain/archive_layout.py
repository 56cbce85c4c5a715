"""Where each instance goes in a ZIP archive, as Orthanc 1.10.1 lays archives out.

One folder per patient ("PatientID PatientName"), study ("AccessionNumber StudyDescription")
and series ("Modality SeriesDescription"), each holding the next level; the instances of a
series are files named by the modality's first two letters and a counter ("CT000000.dcm", or
"00000000.dcm" without a modality). Patients, studies and series come in the order of their
Orthanc identifiers; the instances of a series asked for whole (itself, its study or patient)
in the order they were stored, those asked for one by one in the order they were asked. A name
keeps ASCII letters, digits, '.', '_' and single spaces ('^' is a space); an empty one is
"Unknown Patient" (Study, Series); a name already taken in its folder gets "-2", "-3"….
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

import attrs


@attrs.frozen
class ArchivedInstance:
    """An instance and its lineage: each level's Orthanc identifier and main DICOM tags."""

    instance_id: str
    series_id: str
    study_id: str
    patient_id: str
    patient_tags: Mapping[str, str]
    study_tags: Mapping[str, str]
    series_tags: Mapping[str, str]
    order: tuple[int, int]  # its place among its series' instances in the archive


def archive_layout(instances: Iterable[ArchivedInstance]) -> list[tuple[str, str]]:
    """(path in the archive, instance ID) for each instance (once), in the archive's order."""
    tree: dict[str, dict[str, dict[str, list[ArchivedInstance]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    seen: set[str] = set()
    for instance in instances:
        if instance.instance_id not in seen:
            seen.add(instance.instance_id)
            tree[instance.patient_id][instance.study_id][instance.series_id].append(instance)
    layout: list[tuple[str, str]] = []
    patients = _Folder()
    for patient_id in sorted(tree):
        studies = tree[patient_id]
        first = next(iter(next(iter(studies.values())).values()))[0]
        patient = patients.add(_name(first.patient_tags, "PatientID", "PatientName", "Patient"))
        study_folder = _Folder()
        for study_id in sorted(studies):
            series_of_study = studies[study_id]
            first = next(iter(series_of_study.values()))[0]
            study = study_folder.add(
                _name(first.study_tags, "AccessionNumber", "StudyDescription", "Study")
            )
            series_folder = _Folder()
            for series_id in sorted(series_of_study):
                members = sorted(series_of_study[series_id], key=lambda i: i.order)
                tags = members[0].series_tags
                series = series_folder.add(_name(tags, "Modality", "SeriesDescription", "Series"))
                files = _Folder()
                pattern = _file_pattern(tags.get("Modality", ""))
                for counter, instance in enumerate(members):
                    name = files.add(pattern % counter)
                    layout.append((f"{patient}/{study}/{series}/{name}", instance.instance_id))
    return layout


class _Folder:
    """The names given in one folder, made unique."""

    def __init__(self) -> None:
        self._taken: dict[str, int] = {}

    def add(self, name: str) -> str:
        kept = _keep_alphanumeric(name)
        count = self._taken.get(kept, 0) + 1
        self._taken[kept] = count
        return kept if count == 1 else f"{kept}-{count}"


def _name(tags: Mapping[str, str], first: str, second: str, level: str) -> str:
    text = f"{tags.get(first, '')} {tags.get(second, '')}"
    ascii_text = "".join(c for c in text if ord(c) < 128 and c.isprintable()).strip()
    return ascii_text or f"Unknown {level}"


def _keep_alphanumeric(name: str) -> str:
    kept: list[str] = []
    for c in name.replace("^", " "):
        if ord(c) >= 128:
            continue
        if c.isspace():
            if not kept or kept[-1] != " ":
                kept.append(" ")
        elif c.isalnum() or c in "._":
            kept.append(c)
    return "".join(kept).strip()


def _file_pattern(modality: str) -> str:
    prefix = modality[:2].upper().replace("%", "%%")
    return prefix + ("%08d.dcm", "%07d.dcm", "%06d.dcm")[min(len(modality), 2)]
