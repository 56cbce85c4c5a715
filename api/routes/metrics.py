"""/tools/metrics (the switch) and /tools/metrics-prometheus (Prometheus' text format)."""

from __future__ import annotations

import time

import psycopg
from litestar import Request, Response, get, put
from litestar.handlers import HTTPRouteHandler

from adapters.metrics import Metrics
from api.context import read_connection
from api.params import boolean_body
from api.routes.metadata import empty_response, text_response
from domain.jobs import FAILURE, PENDING, RUNNING, SUCCESS
from projections.changes.queries import page_changes
from projections.hierarchy import queries as hierarchy
from projections.jobs.queries import job_counts

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
MEGA_BYTES = 1024 * 1024


@get("/tools/metrics", sync_to_thread=False)
def get_metrics_enabled(metrics: Metrics) -> Response[bytes]:
    return text_response("1" if metrics.enabled else "0")


@put("/tools/metrics", sync_to_thread=False)
def set_metrics_enabled(body: bytes, metrics: Metrics) -> Response[bytes]:
    metrics.enabled = boolean_body(body)
    return empty_response()


@get("/tools/metrics-prometheus", sync_to_thread=True)
def metrics_prometheus(request: Request, metrics: Metrics) -> Response[bytes]:
    """Orthanc's metrics, one `name value timestamp` line each, sorted by name; empty while
    metrics are disabled."""
    text = ""
    if metrics.enabled:
        with read_connection(request) as conn:
            values = _values(conn)
        values["orthanc_up_time_s"] = metrics.up_time()
        stamp = int(time.time() * 1000)
        text = "".join(f"{name} {_number(values[name])} {stamp}\n" for name in sorted(values))
    return Response(text.encode(), media_type=PROMETHEUS_TEXT)


def _values(conn: psycopg.Connection) -> dict[str, float]:
    counts = hierarchy.global_statistics(conn)
    jobs = job_counts(conn)
    size_mb = int(counts["size"]) / MEGA_BYTES
    return {
        "orthanc_count_instances": int(counts["instances"]),
        "orthanc_count_patients": int(counts["patients"]),
        "orthanc_count_series": int(counts["series"]),
        "orthanc_count_studies": int(counts["studies"]),
        "orthanc_disk_size_mb": size_mb,
        "orthanc_uncompressed_size_mb": size_mb,
        "orthanc_jobs_pending": jobs.get(PENDING, 0),
        "orthanc_jobs_running": jobs.get(RUNNING, 0),
        "orthanc_jobs_success": jobs.get(SUCCESS, 0),
        "orthanc_jobs_failed": jobs.get(FAILURE, 0),
        "orthanc_jobs_completed": jobs.get(SUCCESS, 0) + jobs.get(FAILURE, 0),
        "orthanc_last_change": page_changes(conn, 0, 1, newest_only=True).last,
    }


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.9g}"


metrics_handlers: list[HTTPRouteHandler] = [
    get_metrics_enabled,
    set_metrics_enabled,
    metrics_prometheus,
]
