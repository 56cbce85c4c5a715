"""What the log keeps about one received instance: identifiers, file facts and tags."""

from __future__ import annotations

from typing import Any

import attrs
from pydicom import Dataset

from domain.dicom_files import (
    IDENTIFIER_TAGS,
    PARSER_ERRORS,
    SOP_CLASS_UID,
    DicomIdentifiers,
    InvalidDicomFile,
    read_dicom,
    transfer_syntax_uid,
)
from domain.dicom_structure import DEFAULT_BOUNDS, InputBounds
from domain.dicom_text import detect_charset, main_string_value
from domain.indexed_tags import indexed_from, short_value_tags
from domain.main_tags import (
    MAIN_TAG_NUMBERS,
    index_in_series_from,
    main_tags_from,
    orthanc_ids,
    parse_index_in_series,
)
from domain.origin import Origin
from domain.series_status import EXPECTED_INSTANCES_TAGS, expected_instances_from


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
    derived: dict[str, Any] | None = None  # see Instance.Stored

    def event_fields(self, origin: Origin) -> dict[str, Any]:
        return {**attrs.asdict(self, recurse=False), "origin": origin.to_dict()}


def read_received(
    data: bytes, default_encoding: str = "Latin1", bounds: InputBounds = DEFAULT_BOUNDS
) -> InstanceRecord:
    """The one way a received file (any way in) is checked and described, with no attachment
    yet; raises InvalidDicomFile, whatever is wrong with the bytes."""
    read = read_dicom(data, bounds=bounds)
    try:
        return describe_instance(read.dataset, {}, default_encoding, read.pixel_data_offset)
    except PARSER_ERRORS as error:
        # A value pydicom cannot convert (an unknown VR, a length its VR does not allow).
        raise InvalidDicomFile(
            f"Not a readable DICOM file ({type(error).__name__}: {error})",
            details=f"Cannot parse an invalid DICOM file (size: {len(data)} bytes)",
        ) from None


def describe_instance(
    ds: Dataset,
    attachment: dict[str, Any],
    default_encoding: str = "Latin1",
    pixel_data_offset: int | None = None,
) -> InstanceRecord:
    """One pass over the header's top-level elements, decoded once with the charset looked up
    once: the identifiers, main tags, IndexInSeries and indexed tags all come from it."""
    charset = detect_charset(ds, default_encoding)
    texts = short_value_tags(ds)
    wanted = {
        *texts,
        *MAIN_TAG_NUMBERS.values(),
        *IDENTIFIER_TAGS,
        SOP_CLASS_UID,
        *EXPECTED_INSTANCES_TAGS,
    }
    values: dict[int, str | None] = {
        tag: main_string_value(ds, tag, charset=charset)
        for tag in ds.keys()  # noqa: SIM118 (iterating a Dataset converts every element)
        if tag in wanted
    }
    ids = DicomIdentifiers(*(values.get(tag) or "" for tag in IDENTIFIER_TAGS))
    patient_id, study_id, series_id, instance_id = orthanc_ids(ids)
    index_text = index_in_series_from(values)
    main_tags = main_tags_from(values)
    in_main_tags = {keyword for level in main_tags.values() for keyword in level}
    indexed = indexed_from((tag, values[tag]) for tag in texts)
    return InstanceRecord(
        instance_id=instance_id,
        series_id=series_id,
        study_id=study_id,
        patient_id=patient_id,
        attachment=attachment,
        dicom={
            "transfer_syntax": transfer_syntax_uid(ds),
            "sop_class_uid": values.get(SOP_CLASS_UID),
            "index_in_series": parse_index_in_series(index_text),
            "index_in_series_text": index_text,
            "pixel_data_offset": pixel_data_offset,
            "expected_instances": expected_instances_from(values),
        },
        tags=main_tags,
        indexed={k: v for k, v in indexed.items() if k not in in_main_tags},
    )
