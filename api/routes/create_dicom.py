"""POST /tools/create-dicom, as Orthanc answers it: the instance (or the series, when
`Content` is a list) is built by domain.dicom_creation, then stored through the ingest like
any uploaded file; the answer is an upload's (or the series' ID and path)."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, post
from litestar.handlers import HTTPRouteHandler
from pydicom.dataset import Dataset

from adapters.ingest import Ingestor, IngestResult
from api.context import live_settings_of, read_connection, rest_origin, settings_of
from api.dicom_files import read_pixel_dataset
from api.errors import OrthancCode, OrthancError
from api.routes.modification import refusal
from domain import dicom_creation as creation
from domain.dicom_files import InvalidDicomFile
from domain.dicom_modification import ModificationRefused
from domain.dicom_text import encoding_of_term, parse_encoding, specific_character_set
from domain.levels import INSTANCE
from projections.hierarchy import queries as hierarchy


def _body(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise OrthancError(OrthancCode.BAD_REQUEST) from None


def _default_charset(request: Request) -> str:
    encoding = parse_encoding(live_settings_of(request).default_encoding)
    return specific_character_set(encoding) or ""


def _parent(request: Request, parent_id: Any) -> creation.Parent | None:
    """The parent a request names, with the dataset of the instance Orthanc reads its
    modules from."""
    if parent_id is None:
        return None
    with read_connection(request) as conn:
        row = hierarchy.get_resources(conn, [str(parent_id)]).get(str(parent_id))
        if row is None:
            raise OrthancError(OrthancCode.CREATE_DICOM_BAD_PARENT)
        if row["level"] == INSTANCE:
            raise OrthancError(OrthancCode.CREATE_DICOM_PARENT_IS_INSTANCE)
        sibling = hierarchy.last_instance_under(conn, row["level"], row["id"])
    if sibling is None:
        raise OrthancError(OrthancCode.INTERNAL_ERROR, "The parent has no instance")
    try:
        return creation.Parent(row["level"], read_pixel_dataset(request, sibling))
    except InvalidDicomFile as invalid:
        raise OrthancError(OrthancCode.BAD_FILE_FORMAT, str(invalid)) from None


def _built(request: Request, body: Any) -> list[Dataset]:
    try:
        asked = creation.creation_request(body)
        charset = creation.requested_charset(
            asked, _default_charset(request), lambda term: encoding_of_term(term) is not None
        )
        parent = _parent(request, asked.parent) if not asked.version1 else None
        asked = creation.with_options(asked, settings_of(request).default_private_creator)
        base = creation.new_dataset(charset if not asked.version1 else "", parent)
        if asked.version1:
            base = _version1_base(base)
        creation.inject_tags(base, asked, asked.tags)
        return creation.created_datasets(base, asked)
    except ModificationRefused as refused:
        raise refusal(refused) from None


def _version1_base(ds: Dataset) -> Dataset:
    """The deprecated form stamps no dates: only the new identifiers stay."""
    kept = Dataset()
    for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(kept, keyword, ds.get(keyword))
    return kept


def _answer(result: IngestResult) -> dict[str, Any]:
    return {
        "ID": result.instance_id,
        "ParentPatient": result.patient_id,
        "ParentSeries": result.series_id,
        "ParentStudy": result.study_id,
        "Path": f"/instances/{result.instance_id}",
        "Status": result.status.value,
    }


@post("/tools/create-dicom", name="create-dicom", status_code=200, sync_to_thread=True)
def create_dicom(
    request: Request, body: bytes, ingestor: Ingestor, wait_for: Any
) -> dict[str, Any]:
    options = _body(body)
    datasets = _built(request, options)
    results = []
    for ds in datasets:
        try:
            results.append(ingestor.ingest(creation.created_bytes(ds), rest_origin(request)))
        except InvalidDicomFile as invalid:
            raise OrthancError(OrthancCode.BAD_FILE_FORMAT, str(invalid)) from None
    positions = [result.position for result in results if result.position is not None]
    wait_for(max(positions) if positions else None)
    if _is_series(options):
        series = results[0].series_id
        return {"ID": series, "Path": f"/series/{series}", "Status": "Success"}
    return _answer(results[0])


def _is_series(body: Any) -> bool:
    content = body.get("Content") if isinstance(body, dict) and "Tags" in body else None
    return isinstance(content, list) and bool(content)


def create_dicom_handlers() -> list[HTTPRouteHandler]:
    return [create_dicom]
