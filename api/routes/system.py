"""GET /system and GET /statistics."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Request, get

from api.context import read_connection, settings_of
from projections.hierarchy import queries as hierarchy

# The Orthanc release whose REST API Chronicle implements: clients gate features on it.
ORTHANC_API_VERSION = "1.11.3"
ORTHANC_API_REVISION = 18


def chronicle_version() -> str:
    try:
        return version("chronicle-pacs")
    except PackageNotFoundError:
        return "0+unknown"


@get("/system", sync_to_thread=False)
def system(request: Request) -> dict[str, Any]:
    settings = settings_of(request)
    return {
        "ApiVersion": ORTHANC_API_REVISION,
        "CheckRevisions": settings.check_revisions,
        "DatabaseBackendPlugin": None,
        "DatabaseVersion": 6,
        "DicomAet": settings.dicom_aet,
        "DicomPort": settings.dicom_port,
        "HttpPort": settings.http_port,
        "IsHttpServerSecure": True,
        "Name": settings.name,
        "PluginsEnabled": False,
        "StorageAreaPlugin": None,
        "Version": ORTHANC_API_VERSION,
        "Implementation": "Chronicle",
        "ImplementationVersion": chronicle_version(),
    }


@get("/statistics", sync_to_thread=True)
def statistics(request: Request) -> dict[str, Any]:
    with read_connection(request) as conn:
        counts = hierarchy.global_statistics(conn)
    size = int(counts["size"])
    return {
        "CountInstances": int(counts["instances"]),
        "CountPatients": int(counts["patients"]),
        "CountSeries": int(counts["series"]),
        "CountStudies": int(counts["studies"]),
        "TotalDiskSize": str(size),
        "TotalDiskSizeMB": size // (1024 * 1024),
        "TotalUncompressedSize": str(size),
        "TotalUncompressedSizeMB": size // (1024 * 1024),
    }


system_handlers = [system, statistics]
