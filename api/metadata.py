"""Orthanc's automatic metadata, computed from the hierarchy (which keeps what the events said)."""

from __future__ import annotations

import psycopg

from adapters.config import Settings
from api.resource_views import orthanc_time
from domain.annotation_names import SYSTEM_METADATA, AnnotationNames
from domain.levels import INSTANCE, SERIES
from domain.origin import Channel, Origin
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

_NUMBERS = {name: number for number, name in SYSTEM_METADATA.items()}


def annotation_names(settings: Settings) -> AnnotationNames:
    """The user metadata and attachment names the configuration gives (checked at start)."""
    return AnnotationNames.configured(settings.user_metadata, settings.user_content_type)


def resource_metadata(
    row: Row, first_instance_origin: dict[str, str] | None = None
) -> dict[str, str]:
    """The automatic metadata: name -> value, in Orthanc's enumeration order.
    `first_instance_origin`: for a series, its first instance's origin (its RemoteAET)."""
    if row["level"] == INSTANCE:
        return instance_metadata(row)
    values: dict[str, str] = {}
    if row["level"] == SERIES:
        if first_instance_origin is not None:
            values["RemoteAET"] = Origin.from_dict(first_instance_origin).remote_aet
        if row["expected_instances"] is not None:
            values["ExpectedNumberOfInstances"] = str(row["expected_instances"])
    values.update(row.get("derived_from") or {})
    values["LastUpdate"] = orthanc_time(row["last_update"])
    return values


def instance_metadata(row: Row) -> dict[str, str]:
    origin = Origin.from_dict(row["origin"] or {})
    values: dict[str, str] = {}
    if row["index_in_series_text"] is not None:
        values["IndexInSeries"] = row["index_in_series_text"]
    values["ReceptionDate"] = orthanc_time(row["received_at"])
    values["RemoteAET"] = origin.remote_aet
    values.update(row.get("derived_from") or {})  # ModifiedFrom (5) or AnonymizedFrom (6)
    values["Origin"] = origin.orthanc_origin
    values["TransferSyntax"] = row["transfer_syntax"] or ""
    values["SopClassUid"] = row["sop_class_uid"] or ""
    values["RemoteIP"] = origin.remote_ip
    if origin.channel is Channel.DICOM:
        values["CalledAET"] = origin.called_aet
    if origin.channel is Channel.REST:  # Orthanc: HTTP uploads only, "" without a user
        values["HttpUsername"] = origin.user
    if row["pixel_data_offset"] is not None:
        values["PixelDataOffset"] = str(row["pixel_data_offset"])
    return values


def all_metadata(conn: psycopg.Connection, row: Row) -> dict[int, tuple[str, int]]:
    """number -> (value, revision), automatic ones (revision 0) first, then by number."""
    return metadata_of_rows(conn, [row])[0]


def metadata_of_rows(conn: psycopg.Connection, rows: list[Row]) -> list[dict[int, tuple[str, int]]]:
    """all_metadata of each row, read for all of them at once (two statements)."""
    ids = [row["id"] for row in rows]
    user = hierarchy.user_metadata_of(conn, ids)
    series = [row["id"] for row in rows if row["level"] == SERIES]
    origins = hierarchy.first_instance_origins(conn, series) if series else {}
    answers = []
    for row in rows:
        automatic = resource_metadata(row, origins.get(row["id"]))
        found = {_NUMBERS[name]: (value, 0) for name, value in automatic.items()}
        found.update(
            {item["number"]: (item["value"], item["revision"]) for item in user.get(row["id"], [])}
        )
        answers.append(found)
    return answers


def expanded_metadata(
    found: dict[int, tuple[str, int]], names: AnnotationNames, numeric: bool = False
) -> dict[str, str]:
    """Orthanc's name (or number) -> value object of the metadata, keys in order."""
    keys = {n: str(n) if numeric else names.metadata_name(n) for n in found}
    return dict(sorted((keys[number], value) for number, (value, _) in found.items()))
