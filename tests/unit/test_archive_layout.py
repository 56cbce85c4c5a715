"""Orthanc's archive layout (domain.archive_layout): folder and file names, their order, and
the suffixes that keep names unique."""

from __future__ import annotations

from domain.archive_layout import ArchivedInstance, archive_layout


def _instance(
    instance: str, series: str, study: str = "st", patient: str = "p", **tags: str
) -> ArchivedInstance:
    return ArchivedInstance(
        instance_id=instance,
        series_id=series,
        study_id=study,
        patient_id=patient,
        patient_tags={"PatientID": "P-1", "PatientName": tags.get("name", "Doe^Jane")},
        study_tags={"AccessionNumber": "", "StudyDescription": tags.get("description", "")},
        series_tags={"Modality": tags.get("modality", "CT"), "SeriesDescription": "Same"},
        order=(0, int(instance[1:])),
    )


def test_names_taken_twice_get_suffixes_and_files_count_per_series() -> None:
    layout = archive_layout(
        [
            _instance("i3", "b"),
            _instance("i1", "a"),
            _instance("i2", "a"),
            _instance("i4", "c", modality="%x"),
            _instance("i1", "a"),  # asked twice: archived once
        ]
    )
    assert layout == [
        ("P1 Doe Jane/Unknown Study/CT Same/CT000000.dcm", "i1"),
        ("P1 Doe Jane/Unknown Study/CT Same/CT000001.dcm", "i2"),
        ("P1 Doe Jane/Unknown Study/CT Same-2/CT000000.dcm", "i3"),
        ("P1 Doe Jane/Unknown Study/x Same/X000000.dcm", "i4"),  # '%' is no file name part
    ]


def test_non_ascii_is_dropped_and_no_modality_numbers_files_only() -> None:
    (path, _), (other, _) = archive_layout(
        [
            _instance("i1", "a", name="Ünal^Zoë", description="Tête ^ cou"),
            _instance("i2", "b", "st2", "q", name="", description="x", modality=""),
        ]
    )
    assert path == "P1 nal Zo/Tte cou/CT Same/CT000000.dcm"
    assert other == "P1/x/Same/00000000.dcm"
