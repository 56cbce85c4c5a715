"""Orthanc's automatic metadata, computed from the hierarchy (which keeps what the events said)."""

from __future__ import annotations

import psycopg

from api.resource_views import orthanc_time
from domain.levels import INSTANCE, SERIES
from domain.origin import Channel, Origin
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

# Orthanc's MetadataType enumeration (1.11): numbers usable in place of names in /metadata/{name}.
METADATA_TYPES = {
    1: "IndexInSeries",
    2: "ReceptionDate",
    3: "RemoteAET",
    4: "ExpectedNumberOfInstances",
    5: "ModifiedFrom",
    6: "AnonymizedFrom",
    7: "LastUpdate",
    8: "Origin",
    9: "TransferSyntax",
    10: "SopClassUid",
    11: "RemoteIP",
    12: "CalledAET",
    13: "HttpUsername",
    14: "PixelDataOffset",
    15: "MainDicomTagsSignature",
    16: "MainDicomSequences",
}
METADATA_NUMBERS = {str(number): name for number, name in METADATA_TYPES.items()}
_KNOWN_NAMES = frozenset(METADATA_TYPES.values())


def metadata_name(text: str) -> str | None:
    """The metadata a /metadata/{name} path names (a name or a number), None if unknown.

    Orthanc answers an unknown name with "Accessing an inexistent item", and a known
    metadata that the resource does not have with a bare 404.
    """
    if text in METADATA_NUMBERS:
        return METADATA_NUMBERS[text]
    if text.lstrip("-").isdigit():
        return text  # a user-defined metadata number: known, but never set by Chronicle
    return text if text in _KNOWN_NAMES else None


def resource_metadata(conn: psycopg.Connection, row: Row) -> dict[str, str]:
    """Name -> value, in Orthanc's enumeration order."""
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
