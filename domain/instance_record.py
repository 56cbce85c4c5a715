"""What the log keeps about one received instance: identifiers, file facts and tags."""

from __future__ import annotations

from typing import Any

import attrs
from pydicom import Dataset

from domain.dicom_files import identifiers, sop_class_uid, transfer_syntax_uid
from domain.indexed_tags import indexed_tags
from domain.main_tags import (
    extract_main_tags,
    index_in_series_metadata,
    orthanc_ids,
    parse_index_in_series,
)
from domain.origin import Origin


@attrs.frozen
class InstanceRecord:
    """No pixel data and no file bytes: small enough to append thousands per second."""

    instance_id: str
    series_id: str
    study_id: str
    patient_id: str
    attachment: dict[str, Any]
    dicom: dict[str, Any]
    tags: dict[str, dict[str, str]]
    indexed: dict[str, str]

    def event_fields(self, origin: Origin) -> dict[str, Any]:
        return {**attrs.asdict(self, recurse=False), "origin": origin.to_dict()}


def describe_instance(
    ds: Dataset,
    attachment: dict[str, Any],
    default_encoding: str = "Latin1",
    pixel_data_offset: int | None = None,
) -> InstanceRecord:
    patient_id, study_id, series_id, instance_id = orthanc_ids(identifiers(ds, default_encoding))
    index_text = index_in_series_metadata(ds, default_encoding)
    main_tags = extract_main_tags(ds, default_encoding)
    in_main_tags = {keyword for level in main_tags.values() for keyword in level}
    return InstanceRecord(
        instance_id=instance_id,
        series_id=series_id,
        study_id=study_id,
        patient_id=patient_id,
        attachment=attachment,
        dicom={
            "transfer_syntax": transfer_syntax_uid(ds),
            "sop_class_uid": sop_class_uid(ds),
            "index_in_series": parse_index_in_series(index_text),
            "index_in_series_text": index_text,
            "pixel_data_offset": pixel_data_offset,
        },
        tags=main_tags,
        indexed={
            k: v for k, v in indexed_tags(ds, default_encoding).items() if k not in in_main_tags
        },
    )
