"""GET/DELETE /exports (Orthanc's shape), and the audit trail that clearing never touches."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from litestar import MediaType, Request, Response, delete, get

from adapters.node import ReadModelWaiter
from api.context import read_connection, rest_origin, settings_of
from api.errors import OrthancCode, OrthancError
from api.params import log_window
from api.resource_views import orthanc_time
from domain.archive import Archive
from domain.levels import LEVEL_PATHS, level_number
from projections.exports import queries as exports_queries

LINEAGE_KEYS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
AUDIT_COLUMNS = (
    "Seq",
    "Date",
    "Status",
    "Error",
    "Destination",
    "DestinationKind",
    "RemoteAET",
    "JobID",
    "ID",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "RequestedBy",
    "Channel",
    "RemoteIP",
)


def export_body(row: dict[str, Any]) -> dict[str, Any]:
    """Orthanc's export entry: the resource, and the identifiers down to its level."""
    level = level_number(row["level"])
    collection = LEVEL_PATHS[level]
    identifiers = {key: row["identifiers"].get(key, "") for key in LINEAGE_KEYS[: level + 1]}
    return {
        "Date": orthanc_time(row["requested_at"]),
        "ID": row["resource_id"],
        "Path": f"/{collection}/{row['resource_id']}",
        "RemoteModality": row["destination"],
        "ResourceType": row["level"],
        "Seq": row["seq"],
        **identifiers,
    }


@get("/exports", sync_to_thread=True)
def list_exports(
    request: Request, since: str | None = None, limit: str | None = None, last: str | None = None
) -> dict[str, Any]:
    """Exports after `since` (a Seq), at most `limit`; malformed values are a 400."""
    start, count = log_window(since, limit)
    if not settings_of(request).log_exported_resources:
        return {"Done": True, "Exports": [], "Last": 0}
    with read_connection(request) as conn:
        page = exports_queries.page_exports(conn, start, count, newest_only=last is not None)
    return {"Done": page.done, "Exports": [export_body(r) for r in page.rows], "Last": page.last}


@delete("/exports", status_code=200, sync_to_thread=True, media_type=MediaType.TEXT)
def clear_exports(request: Request, archive: Archive, wait_for: ReadModelWaiter) -> str:
    """Hides the log so far from GET /exports; the audit trail keeps every entry."""
    wait_for(archive.clear_exports(rest_origin(request)), ("exports",))
    return ""


@get("/exports/audit", sync_to_thread=True)
def audit_exports(
    request: Request,
    patient: str | None = None,
    study: str | None = None,
    destination: str | None = None,
    start: str | None = None,
    end: str | None = None,
    format: str | None = None,
) -> Response[Any]:
    """Every export ever recorded, cleared or not: filter by patient or study (Orthanc ID or
    DICOM identifier), destination, and date range (`start`/`end`, YYYYMMDD or ISO 8601);
    `format=csv` downloads it."""
    where = _audit_filter(patient, study, destination, start, end)
    with read_connection(request) as conn:
        rows = [_audit_row(row) for row in exports_queries.audit(conn, where)]
    if format == "csv":
        return Response(
            _as_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="exports.csv"'},
        )
    if format not in (None, "json"):
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, "format must be json or csv")
    return Response(rows, media_type=MediaType.JSON)


def _audit_filter(
    patient: str | None,
    study: str | None,
    destination: str | None,
    start: str | None,
    end: str | None,
) -> exports_queries.AuditFilter:
    finish = None
    if end:
        whole_day = timedelta(days=1) if len(end) == 8 else timedelta(0)
        moment = _moment("end", end)
        # The end of 9999-12-31 cannot be written: then there is no upper bound.
        finish = moment + whole_day if moment.replace(tzinfo=None) < LAST_DAY else None
    return exports_queries.AuditFilter(
        patient=patient or None,
        study=study or None,
        destination=destination or None,
        start=_moment("start", start) if start else None,
        end=finish,
    )


LAST_DAY = datetime(9999, 12, 31)


def _moment(name: str, text: str) -> datetime:
    try:
        if len(text) == 8 and text.isdigit():
            return datetime.strptime(text + "+0000", "%Y%m%d%z")
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.astimezone()
    except (ValueError, OverflowError):  # OverflowError: year 1 in a zone east of UTC
        raise OrthancError(
            OrthancCode.BAD_PARAMETER_TYPE, f"{name} must be YYYYMMDD or ISO 8601: {text!r}"
        ) from None


def _audit_row(row: dict[str, Any]) -> dict[str, Any]:
    identifiers, origin = row["identifiers"], row["origin"]
    return {
        "Seq": row["seq"],
        "Date": row["exported_at"].isoformat(),
        "Status": "Success" if row["succeeded"] else "Failure",
        "Error": row["error"],
        "Destination": row["destination"],
        "DestinationKind": row["destination_kind"],
        "RemoteAET": row["remote_aet"],
        "JobID": row["job_id"] or "",
        "ID": row["instance_id"],
        "PatientID": identifiers.get("PatientID", ""),
        "StudyInstanceUID": identifiers.get("StudyInstanceUID", ""),
        "SeriesInstanceUID": identifiers.get("SeriesInstanceUID", ""),
        "SOPInstanceUID": identifiers.get("SOPInstanceUID", ""),
        "RequestedBy": origin.get("user", ""),
        "Channel": origin.get("channel", ""),
        "RemoteIP": origin.get("remote_ip", ""),
    }


def _as_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=AUDIT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


exports_handlers = [list_exports, clear_exports, audit_exports]
