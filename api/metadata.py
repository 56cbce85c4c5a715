"""Orthanc's automatic metadata, computed from the hierarchy (which keeps what the events said)."""

from __future__ import annotations

import psycopg

from adapters.config import Settings
from api.resource_views import orthanc_time
from domain.annotation_names import AnnotationNames
from domain.levels import INSTANCE, SERIES
from domain.origin import Channel, Origin
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row


def annotation_names(settings: Settings) -> AnnotationNames:
    """The user metadata and attachment names the configuration gives (checked at start)."""
    return AnnotationNames.configured(settings.user_metadata, settings.user_content_type)


def resource_metadata(conn: psycopg.Connection, row: Row) -> dict[str, str]:
    """The automatic metadata: name -> value, in Orthanc's enumeration order."""
    if row["level"] == INSTANCE:
        return instance_metadata(row)
    values: dict[str, str] = {}
    if row["level"] == SERIES:
        instances = hierarchy.descendants(conn, SERIES, row["id"], INSTANCE)
        if instances:
            values["RemoteAET"] = Origin.from_dict(instances[0]["origin"] or {}).remote_aet
        if row["expected_instances"] is not None:
            values["ExpectedNumberOfInstances"] = str(row["expected_instances"])
    values["LastUpdate"] = orthanc_time(row["last_update"])
    return values


def instance_metadata(row: Row) -> dict[str, str]:
    origin = Origin.from_dict(row["origin"] or {})
    values: dict[str, str] = {}
    if row["index_in_series_text"] is not None:
        values["IndexInSeries"] = row["index_in_series_text"]
    values["ReceptionDate"] = orthanc_time(row["received_at"])
    values["RemoteAET"] = origin.remote_aet
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
