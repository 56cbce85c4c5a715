"""POST /{level}/{id}/reconstruct and /tools/reconstruct: the instances' files read again and
the index refreshed from them (adapters.reconstruct), as Orthanc does. The body (Orthanc's
`ReconstructFiles`) is accepted and ignored: Chronicle keeps files as they were received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from adapters.compression import CorruptedFile
from adapters.node import ReadModelWaiter
from adapters.reconstruct import BATCH, Reconstructor
from api.context import read_connection, rest_origin
from api.errors import OrthancCode, OrthancError
from api.routes.metadata import empty_response
from api.routes.resources import load_resource
from domain.dicom_files import InvalidDicomFile
from domain.levels import LEVEL_PATHS
from projections.hierarchy import queries as hierarchy


def _reconstruct(
    request: Request,
    instances: Iterator[dict[str, Any]] | list[dict[str, Any]],
    reconstructor: Reconstructor,
    wait_for: ReadModelWaiter,
) -> Response[bytes]:
    try:
        position = reconstructor.reconstruct(instances, rest_origin(request))
    except FileNotFoundError:
        raise OrthancError(OrthancCode.INEXISTENT_FILE, "An instance's file is missing") from None
    except (InvalidDicomFile, CorruptedFile) as error:
        raise OrthancError(OrthancCode.CORRUPTED_FILE, str(error)) from None
    wait_for(position)
    return empty_response()


def _reconstruct_handler(level: int) -> HTTPRouteHandler:
    @post(
        f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/reconstruct",
        name=f"{LEVEL_PATHS[level]}-reconstruct",
        status_code=200,
        sync_to_thread=True,
    )
    def reconstruct_resource(
        request: Request,
        resource_id: str,
        reconstructor: Reconstructor,
        wait_for: ReadModelWaiter,
    ) -> Response[bytes]:
        row = load_resource(request, level, resource_id)
        with read_connection(request) as conn:
            instances = hierarchy.instance_rows(conn, level, row["id"])
        return _reconstruct(request, instances, reconstructor, wait_for)

    return reconstruct_resource


@post("/tools/reconstruct", status_code=200, sync_to_thread=True)
def reconstruct_everything(
    request: Request, reconstructor: Reconstructor, wait_for: ReadModelWaiter
) -> Response[bytes]:
    """Every instance, in the order they were stored, a page at a time."""
    return _reconstruct(request, _all_instances(request), reconstructor, wait_for)


def _all_instances(request: Request) -> Iterator[dict[str, Any]]:
    position = 0
    while True:
        with read_connection(request) as conn:
            page = hierarchy.instances_after(conn, position, BATCH)
        yield from page
        if len(page) < BATCH:
            return
        position = page[-1]["created_position"]


def reconstruct_handlers() -> list[HTTPRouteHandler]:
    return [*(_reconstruct_handler(level) for level in range(4)), reconstruct_everything]
