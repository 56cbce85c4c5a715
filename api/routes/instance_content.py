"""Routes that serve DICOM content read from the stored files: file, tags, header, content,
module, shared-tags, instances-tags; and the automatic metadata."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter

from api.context import live_settings_of, read_connection, settings_of
from api.dicom_dictionary import private_dictionary
from api.dicom_files import read_bytes, read_dataset, read_header
from api.dicom_json import (
    LEVEL_MODULES,
    ContentBytes,
    Module,
    TagsFormat,
    full_tags,
    header_tags,
    module_tags,
    resolve_content,
    shared_tags_from_full,
    to_format,
)
from api.dicomweb_json import dicomweb_json
from api.errors import OrthancCode, OrthancError, not_found_without_body, unknown_resource
from api.params import tags_format
from api.routes.resources import load_any_level, load_resource
from domain.dicom_text import ContentNotFound, UnknownDicomTag, parse_tag
from domain.levels import INSTANCE, LEVEL_PATHS, STUDY
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

DICOM_JSON = "application/dicom+json"
IgnoreLength = Annotated[
    str | None,
    Parameter(
        query="ignore-length",
        description="Tags to report in full even if their value is long (comma-separated)",
    ),
]


def unknown_dicom_tag() -> OrthancError:
    """Orthanc answers an unparsable tag with HTTP 500 "Unknown DICOM tag" and no Details."""
    return OrthancError(OrthancCode.UNKNOWN_DICOM_TAG)


def _ignored_lengths(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [parse_tag(item.strip()) for item in text.split(",") if item.strip()]
    except UnknownDicomTag:
        raise unknown_dicom_tag() from None


def _full_tags(request: Request, instance: Row, ignore_length: str | None) -> dict[str, Any]:
    return full_tags(
        read_header(request, instance),
        default_encoding=live_settings_of(request).default_encoding,
        ignore_length=_ignored_lengths(ignore_length),
        private_dictionary=private_dictionary(settings_of(request).dictionary),
    )


@get("/instances/{resource_id:str}/file", sync_to_thread=True, media_type="application/dicom")
def instance_file(request: Request, resource_id: str) -> Response[Any]:
    """The DICOM file exactly as it was received; as DICOM JSON when the Accept header is
    exactly `application/dicom+json` (Orthanc matches it exactly too)."""
    instance = load_resource(request, INSTANCE, resource_id)
    if request.headers.get("accept") == DICOM_JSON:
        return Response(dicomweb_json(read_dataset(request, instance)), media_type=DICOM_JSON)
    return Response(
        read_bytes(request, instance),
        media_type="application/dicom",
        headers={"Content-Disposition": f'filename="{instance["file_uuid"]}.dcm"'},
    )


@get("/instances/{resource_id:str}/tags", sync_to_thread=True)
def instance_tags(
    request: Request,
    resource_id: str,
    simplify: str | None = None,
    short: str | None = None,
    ignore_length: IgnoreLength = None,
) -> dict[str, Any]:
    instance = load_resource(request, INSTANCE, resource_id)
    return to_format(_full_tags(request, instance, ignore_length), tags_format(simplify, short))


@get("/instances/{resource_id:str}/simplified-tags", sync_to_thread=True)
def instance_simplified_tags(
    request: Request, resource_id: str, ignore_length: IgnoreLength = None
) -> dict[str, Any]:
    instance = load_resource(request, INSTANCE, resource_id)
    return to_format(_full_tags(request, instance, ignore_length), TagsFormat.SIMPLIFIED)


@get("/instances/{resource_id:str}/header", sync_to_thread=True)
def instance_header(
    request: Request, resource_id: str, simplify: str | None = None, short: str | None = None
) -> dict[str, Any]:
    """The file meta information (group 0002)."""
    instance = load_resource(request, INSTANCE, resource_id)
    return header_tags(read_header(request, instance), tags_format(simplify, short))


@get("/instances/{resource_id:str}/content", sync_to_thread=True)
def instance_content_root(request: Request, resource_id: str) -> Response[Any]:
    return _content(request, resource_id, [])


@get("/instances/{resource_id:str}/content/{content_path:path}", sync_to_thread=True)
def instance_content(request: Request, resource_id: str, content_path: str) -> Response[Any]:
    """Navigate the dataset: tags, sequence items, and raw values as stored."""
    return _content(request, resource_id, content_path.split("/"))


def _content(request: Request, resource_id: str, path: list[str]) -> Response[Any]:
    instance = load_resource(request, INSTANCE, resource_id)
    try:
        result = resolve_content(read_dataset(request, instance), path)
    except UnknownDicomTag:
        raise unknown_dicom_tag() from None
    except ContentNotFound as exc:
        raise not_found_without_body(str(exc)) from None
    if isinstance(result, ContentBytes):
        return Response(result.data, media_type="application/octet-stream")
    return Response(list(result.entries), media_type=MediaType.JSON)


def _module_handler(level: int, module: Module, suffix: str) -> HTTPRouteHandler:
    @get(
        f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/{suffix}",
        name=f"{LEVEL_PATHS[level]}-{suffix}",
        sync_to_thread=True,
    )
    def module_of_level(
        request: Request,
        resource_id: str,
        simplify: str | None = None,
        short: str | None = None,
        ignore_length: IgnoreLength = None,
    ) -> dict[str, Any]:
        # As Orthanc: the instances of a resource of any level, but an instance's own module
        # needs an instance ID.
        if level == INSTANCE:
            row = load_resource(request, INSTANCE, resource_id)
        else:
            row = load_any_level(request, resource_id)
        with read_connection(request) as conn:
            instances = hierarchy.instance_rows(conn, row["level"], row["id"])
        if not instances:
            raise unknown_resource()
        newest = max(instances, key=lambda i: i["created_position"])
        full = _full_tags(request, newest, ignore_length)
        return to_format(module_tags(full, module), tags_format(simplify, short))

    return module_of_level


def _shared_tags_handler(level: int) -> HTTPRouteHandler:
    @get(
        f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/shared-tags",
        name=f"{LEVEL_PATHS[level]}-shared-tags",
        sync_to_thread=True,
    )
    def shared_tags(
        request: Request, resource_id: str, simplify: str | None = None, short: str | None = None
    ) -> dict[str, Any]:
        """Tags whose value is identical in every instance of the resource (any level)."""
        actual = load_any_level(request, resource_id)["level"]
        with read_connection(request) as conn:
            instances = hierarchy.instance_rows(conn, actual, resource_id)
        shared = shared_tags_from_full(_full_tags(request, i, None) for i in instances)
        return to_format(shared, tags_format(simplify, short))

    return shared_tags


def _instances_tags_handler(level: int) -> HTTPRouteHandler:
    @get(
        f"/{LEVEL_PATHS[level]}/{{resource_id:str}}/instances-tags",
        name=f"{LEVEL_PATHS[level]}-instances-tags",
        sync_to_thread=True,
    )
    def instances_tags(
        request: Request,
        resource_id: str,
        simplify: str | None = None,
        short: str | None = None,
        ignore_length: IgnoreLength = None,
    ) -> dict[str, Any]:
        """The tags of every instance of the resource (any level), by instance ID."""
        actual = load_any_level(request, resource_id)["level"]
        fmt = tags_format(simplify, short)
        with read_connection(request) as conn:
            instances = hierarchy.instance_rows(conn, actual, resource_id)
        return {i["id"]: to_format(_full_tags(request, i, ignore_length), fmt) for i in instances}

    return instances_tags


@get("/instances/{resource_id:str}/frames", sync_to_thread=True)
def instance_frames(request: Request, resource_id: str) -> list[int]:
    """The frame numbers of the instance: 0 to NumberOfFrames - 1."""
    instance = load_resource(request, INSTANCE, resource_id)
    text = (instance["main_tags"] or {}).get("NumberOfFrames", "").strip()
    count = int(text) if text.isdigit() and int(text) > 0 else 1
    return list(range(count))


def content_handlers() -> list[HTTPRouteHandler]:
    handlers: list[HTTPRouteHandler] = [
        instance_file,
        instance_tags,
        instance_simplified_tags,
        instance_header,
        instance_content_root,
        instance_content,
        _module_handler(STUDY, Module.PATIENT, "module-patient"),
        instance_frames,
    ]
    for level, path in enumerate(LEVEL_PATHS):
        handlers.append(_module_handler(level, LEVEL_MODULES[path], "module"))
        if level != INSTANCE:
            handlers += [_shared_tags_handler(level), _instances_tags_handler(level)]
    return handlers
