"""POST /studies/{id}/split and /studies/{id}/merge, as Orthanc answers them: the request is
checked here in Orthanc's order (its errors, its messages), then a "SplitStudy" or
"MergeStudy" job (adapters.jobs.study_restructuring) does the work, synchronously by default.
"""

from __future__ import annotations

from typing import Any

import psycopg
from litestar import Request, post
from litestar.handlers import HTTPRouteHandler
from pydicom.uid import generate_uid

from adapters.jobs import study_restructuring as restructuring_job
from adapters.jobs.engine import JobEngine
from api.context import read_connection
from api.dicom_files import read_bytes
from api.errors import OrthancCode, OrthancError
from api.routes.modification import json_body, refusal, run_job
from domain.dicom_files import InvalidDicomFile, parse_dataset
from domain.dicom_modification import ModificationRefused
from domain.levels import INSTANCE, LEVEL_NAMES, SERIES, STUDY
from domain.study_restructuring import (
    Restructuring,
    merge_request,
    merged_into,
    split_request,
)
from projections.hierarchy import queries as hierarchy

Row = dict[str, Any]


def _unknown(details: str | None = None) -> OrthancError:
    return OrthancError(OrthancCode.UNKNOWN_RESOURCE, details)


def _resource(conn: psycopg.Connection, resource_id: str) -> Row | None:
    return hierarchy.get_resources(conn, [resource_id]).get(resource_id)


class _Sources:
    """The instances a request moves, gathered as its resources are checked."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.rows: dict[str, Row] = {}

    def add(self, level: int, resource_id: str) -> None:
        for row in hierarchy.instance_rows(self.conn, level, resource_id):
            self.rows.setdefault(row["id"], row)

    def split_series(self, study_id: str, series_id: str) -> None:
        row = self._known(series_id)
        if row["level"] != SERIES or row["parent_id"] != study_id:
            raise _unknown(f"This series does not belong to the study to be split: {series_id}")
        self.add(SERIES, series_id)

    def split_instance(self, study_id: str, instance_id: str) -> None:
        row = self._known(instance_id)
        if row["level"] != INSTANCE or row["study_id"] != study_id:
            details = f"This instance does not belong to the study to be split: {instance_id}"
            raise _unknown(details)
        self.add(INSTANCE, instance_id)

    def merged(self, study_id: str, resource_id: str) -> None:
        row = _resource(self.conn, resource_id)
        if row is None:
            raise _unknown(f"Cannot find this resource: {resource_id}")
        level = row["level"]
        if level == STUDY and resource_id == study_id:
            raise _unknown(f"Cannot merge a study into the same study: {resource_id}")
        if level in (SERIES, INSTANCE) and row["study_id"] == study_id:
            name = LEVEL_NAMES[level].lower()
            raise _unknown(f"Cannot merge {name} {resource_id} into its parent study {study_id}")
        if level not in (STUDY, SERIES, INSTANCE):
            raise _unknown(
                "This resource is neither a study, nor a series, nor an instance: "
                f"{resource_id} is a {LEVEL_NAMES[level]}"
            )
        self.add(level, resource_id)

    def _known(self, resource_id: str) -> Row:
        row = _resource(self.conn, resource_id)
        if row is None:
            raise _unknown()
        return row


@post("/studies/{study_id:str}/split", name="studies-split", status_code=200, sync_to_thread=True)
def split_study(
    request: Request, study_id: str, body: bytes, jobs: JobEngine, wait_for: Any
) -> dict[str, Any]:
    options = json_body(body)
    with read_connection(request) as conn:
        if hierarchy.get_resource(conn, STUDY, study_id) is None:
            raise _unknown(f"Cannot split unknown study {study_id}")
        sources = _Sources(conn)
        try:
            split = split_request(
                options,
                lambda series_id: sources.split_series(study_id, series_id),
                lambda instance_id: sources.split_instance(study_id, instance_id),
            )
        except ModificationRefused as refused:
            raise refusal(refused) from None
    restructuring = Restructuring(split.replacements, split.removals, generate_uid(prefix=None))
    rows = list(sources.rows.values())
    parameters = restructuring_job.parameters(study_id, rows, restructuring, split.keep_source)
    jobs_and_wait = (jobs, wait_for)
    return run_job(request, jobs_and_wait, restructuring_job.SPLIT_STUDY, parameters, options)


@post("/studies/{study_id:str}/merge", name="studies-merge", status_code=200, sync_to_thread=True)
def merge_study(
    request: Request, study_id: str, body: bytes, jobs: JobEngine, wait_for: Any
) -> dict[str, Any]:
    options = json_body(body)
    with read_connection(request) as conn:
        newest = hierarchy.last_instance_under(conn, STUDY, study_id)
        if hierarchy.get_resource(conn, STUDY, study_id) is None or newest is None:
            raise _unknown(f"Cannot merge into an unknown study: {study_id}")
        sources = _Sources(conn)
        try:
            merge = merge_request(options, lambda source: sources.merged(study_id, source))
        except ModificationRefused as refused:
            raise refusal(refused) from None
    try:
        restructuring = merged_into(parse_dataset(read_bytes(request, newest)))
    except InvalidDicomFile as invalid:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, str(invalid)) from None
    rows = list(sources.rows.values())
    parameters = restructuring_job.parameters(study_id, rows, restructuring, merge.keep_source)
    jobs_and_wait = (jobs, wait_for)
    return run_job(request, jobs_and_wait, restructuring_job.MERGE_STUDY, parameters, options)


def study_restructuring_handlers() -> list[HTTPRouteHandler]:
    return [split_study, merge_study]
