"""Orthanc's automatic metadata, computed from the hierarchy (which keeps what the events said)."""

from __future__ import annotations

import psycopg

from api import read_models
from api.read_models import INSTANCE, SERIES, Row
from api.resource_views import orthanc_time
from domain.origin import Origin

# Orthanc's MetadataType numbers, usable in place of the names in /metadata/{name}.
METADATA_NUMBERS = {
    "1": "IndexInSeries",
    "2": "ReceptionDate",
    "3": "RemoteAET",
    "7": "LastUpdate",
    "8": "Origin",
    "9": "TransferSyntax",
    "10": "SopClassUid",
    "11": "RemoteIP",
    "12": "CalledAET",
    "13": "HttpUsername",
}


def resource_metadata(conn: psycopg.Connection, row: Row) -> dict[str, str]:
    """Name -> value, in Orthanc's enumeration order."""
    if row["level"] == INSTANCE:
        return instance_metadata(row)
    values: dict[str, str] = {}
    if row["level"] == SERIES:
        instances = read_models.descendants(conn, SERIES, row["id"], INSTANCE)
        if instances:
            values["RemoteAET"] = Origin.from_dict(instances[0]["origin"] or {}).remote_aet
    values["LastUpdate"] = orthanc_time(row["last_update"])
    return values


def instance_metadata(row: Row) -> dict[str, str]:
    origin = Origin.from_dict(row["origin"] or {})
    values: dict[str, str] = {}
    if row["index_in_series"] is not None:
        values["IndexInSeries"] = str(row["index_in_series"])
    values["ReceptionDate"] = orthanc_time(row["received_at"])
    values["RemoteAET"] = origin.remote_aet
    values["Origin"] = origin.orthanc_origin
    values["TransferSyntax"] = row["transfer_syntax"] or ""
    values["SopClassUid"] = row["sop_class_uid"] or ""
    values["RemoteIP"] = origin.remote_ip
    if origin.called_aet:
        values["CalledAET"] = origin.called_aet
    values["HttpUsername"] = origin.user
    return values
