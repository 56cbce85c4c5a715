"""Browse and delete: /patients, /studies, /series, /instances and their children and parents."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter

from adapters.node import ReadModelWaiter
from api.context import read_connection, rest_origin
from api.dicom_json import TagsFormat
from api.errors import OrthancCode, OrthancError, unknown_resource
from api.params import list_window, present, tags_format
from api.requested_tags import add_requested_tags, parse_requested_tags
from api.resource_views import LEVEL_TYPES, expand_resources
from domain.archive import Archive
from domain.levels import ANCESTOR_COLUMN, INSTANCE, LEVEL_PATHS, PATIENT
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

RequestedTagsParam = Annotated[
    str | None,
    Parameter(
        query="requestedTags",
        description="Semicolon-separated DICOM tags to report in RequestedTags",
    ),
]


def _format(simplify: str | None, short: str | None, full: str | None) -> TagsFormat:
    return tags_format(simplify, short, full, default=TagsFormat.SIMPLIFIED)


def load_resource(request: Request, level: int, resource_id: str) -> Row:
    with read_connection(request) as conn:
        row = hierarchy.get_resource(conn, level, resource_id)
    if row is None:
        raise unknown_resource()
    return row


def load_any_level(request: Request, resource_id: str) -> Row:
    """The resource of any level: Orthanc's routes that read a resource's instances (module,
    shared-tags, instances-tags, statistics) do not check the level in their path."""
    with read_connection(request) as conn:
        row = hierarchy.get_resources(conn, [resource_id]).get(resource_id)
    if row is None:
        raise unknown_resource()
    return row


def _render(
    request: Request,
    rows: list[Row],
    expand: bool,
    fmt: TagsFormat,
    requested: list[int] | None = None,
) -> list[Any]:
    if not expand:
        return [row["id"] for row in rows]
    with read_connection(request) as conn:
        bodies = expand_resources(conn, rows, fmt)
        if requested:
            add_requested_tags(request, conn, rows, bodies, requested, fmt)
    return bodies


def _list_handler(level: int) -> HTTPRouteHandler:
    @get(f"/{LEVEL_PATHS[level]}", name=f"list-{LEVEL_PATHS[level]}", sync_to_thread=True)
    def list_level(
        request: Request,
        expand: str | None = None,
        since: str | None = None,
        limit: str | None = None,
        requested_tags: RequestedTagsParam = None,
        full: str | None = None,
        short: str | None = None,
        simplify: str | None = None,
    ) -> list[Any]:
        start, count = list_window(since, limit, request.url.path)
        requested = parse_requested_tags(requested_tags)
        with read_connection(request) as conn:
            rows = hierarchy.list_resources(conn, level, start, count)
        fmt = _format(simplify, short, full)
        return _render(request, rows, present(expand), fmt, requested)

    list_level.__doc__ = f"List the {LEVEL_PATHS[level]} (Orthanc identifiers, or expanded)."
    return list_level


def _get_handler(level: int) -> HTTPRouteHandler:
    @get(
        f"/{LEVEL_PATHS[level]}/{{resource_id:str}}",
        name=f"get-{LEVEL_PATHS[level]}",
        sync_to_thread=True,
    )
    def get_one(
        request: Request,
        resource_id: str,
        full: str | None = None,
        short: str | None = None,
        simplify: str | None = None,
        requested_tags: RequestedTagsParam = None,
    ) -> dict[str, Any]:
        row = load_resource(request, level, resource_id)
        requested = parse_requested_tags(requested_tags)
        return _render(
            request,
            [row],
            True,
            _format(simplify, short, full),
            requested,
        )[0]

    get_one.__doc__ = f"Get one {LEVEL_TYPES[level].lower()} in Orthanc's expanded form."
    return get_one


def _related_handler(level: int, related: int) -> HTTPRouteHandler:
    path = f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/{_relation_name(related, level)}"

    @get(path, name=f"{LEVEL_PATHS[level]}-{related}", sync_to_thread=True)
    def related_resources(
        request: Request,
        resource_id: str,
        full: str | None = None,
        short: str | None = None,
        simplify: str | None = None,
        requested_tags: RequestedTagsParam = None,
    ) -> Any:
        if related > level:
            rows = _children(request, level, resource_id, related)
        else:
            rows = [_ancestor(request, load_resource(request, level, resource_id), related)]
        requested = parse_requested_tags(requested_tags)
        bodies = _render(
            request,
            rows,
            True,
            _format(simplify, short, full),
            requested,
        )
        return bodies[0] if related < level else bodies

    return related_resources


def _ancestor(request: Request, row: Row, related: int) -> Row:
    with read_connection(request) as conn:
        ancestor = hierarchy.get_resource(conn, related, row[ANCESTOR_COLUMN[related]])
    if ancestor is None:
        raise unknown_resource()
    return ancestor


def _children(request: Request, level: int, resource_id: str, related: int) -> list[Row]:
    """As Orthanc: walks down as many levels as the path says from the resource, whatever its
    level; what is found at another level than the path's is left out (an empty list), and
    walking below the instances is a bad parameter."""
    actual = load_any_level(request, resource_id)["level"]
    reached = actual + related - level
    if reached > INSTANCE:
        raise OrthancError(OrthancCode.BAD_PARAMETER_TYPE)
    if actual != level:
        return []
    with read_connection(request) as conn:
        return hierarchy.descendants(conn, level, resource_id, related)


def _relation_name(related: int, level: int) -> str:
    if related > level:
        return LEVEL_PATHS[related]
    return LEVEL_TYPES[related].lower()


def _statistics_handler(level: int) -> HTTPRouteHandler:
    @get(
        f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/statistics",
        name=f"{LEVEL_PATHS[level]}-statistics",
        sync_to_thread=True,
    )
    def statistics(request: Request, resource_id: str) -> dict[str, Any]:
        actual = load_any_level(request, resource_id)["level"]  # as Orthanc, any level
        with read_connection(request) as conn:
            counts = hierarchy.resource_statistics(conn, actual, resource_id)
        return statistics_body(actual, counts)

    return statistics


def statistics_body(level: int, counts: Row) -> dict[str, Any]:
    size = int(counts["size"])
    megabytes = size // (1024 * 1024)
    body: dict[str, Any] = {}
    for key in ("DiskSize", "UncompressedSize", "DicomDiskSize", "DicomUncompressedSize"):
        body[key] = str(size)
        body[f"{key}MB"] = megabytes
    if level < INSTANCE:
        body["CountInstances"] = int(counts["instances"])
    if level < 2:
        body["CountSeries"] = int(counts["series"])
    if level == PATIENT:
        body["CountStudies"] = int(counts["studies"])
    return dict(sorted(body.items()))


def _delete_handler(level: int) -> HTTPRouteHandler:
    @delete(
        f"/{LEVEL_PATHS[level]}/{{resource_id:str}}",
        name=f"delete-{LEVEL_PATHS[level]}",
        status_code=200,
        sync_to_thread=True,
    )
    def delete_resource(
        request: Request, resource_id: str, archive: Archive, wait_for: ReadModelWaiter
    ) -> dict[str, Any]:
        row = load_resource(request, level, resource_id)
        delete_row(request, row, archive, wait_for)
        return {"RemainingAncestor": remaining_ancestor(request, row)}

    return delete_resource


def delete_row(request: Request, row: Row, archive: Archive, wait_for: ReadModelWaiter) -> None:
    """Deletes the resource (its instances, and what they leave empty), as DELETE /{level}/{id}
    does, and waits until the read models show it gone."""
    with read_connection(request) as conn:
        instances = hierarchy.instance_rows(conn, row["level"], row["id"])
        vanishing = hierarchy.vanishing_resources(conn, row, instances)
    ids = [i["id"] for i in instances]
    wait_for(archive.delete_instances(ids, rest_origin(request), vanishing))


def remaining_ancestor(request: Request, row: Row) -> dict[str, str] | None:
    lineage = [row["patient_id"], row["study_id"], row["series_id"]][: row["level"]]
    with read_connection(request) as conn:
        for ancestor_level in reversed(range(len(lineage))):
            ancestor = hierarchy.get_resource(conn, ancestor_level, lineage[ancestor_level])
            if ancestor is not None:
                return {
                    "ID": ancestor["id"],
                    "Path": f"/{LEVEL_PATHS[ancestor_level]}/{ancestor['id']}",
                    "Type": LEVEL_TYPES[ancestor_level],
                }
    return None


def resource_handlers() -> list[HTTPRouteHandler]:
    handlers: list[HTTPRouteHandler] = []
    for level in range(4):
        handlers += [
            _list_handler(level),
            _get_handler(level),
            _statistics_handler(level),
            _delete_handler(level),
        ]
        handlers += [_related_handler(level, other) for other in range(4) if other != level]
    return handlers
