"""User attachments and instance files: the file first (durable in the storage area), the event
second; a file whose event was refused or failed is removed, unless the log names it after all.

Compressing or uncompressing an attachment (Orthanc's .../compress and .../uncompress) writes
the same data into a new file, stored as asked, then records it; the reaper removes the old
file once that is committed, as after any overwrite.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from adapters.storage import StorageArea
from domain.annotations import Revisions, Written
from domain.archive import Archive
from domain.origin import Origin


@attrs.frozen
class SourceFile:
    """The file an attachment is in now, as the read model says."""

    uuid: str
    compression: str | None


def store_attachment(
    storage: StorageArea,
    archive: Archive,
    target: tuple[str, str],
    content_type: int,
    data: bytes,
    origin: Origin,
    revisions: Revisions,
) -> Written:
    """`target`: the resource's (ID, level name)."""
    resource_id, level = target
    stored = storage.write(data)
    try:
        return archive.set_attachment(
            resource_id, level, content_type, attrs.asdict(stored), origin, revisions
        )
    except BaseException:
        _forget_unless_recorded(storage, archive, resource_id, content_type, stored.uuid)
        raise


def change_attachment_compression(
    storage: StorageArea,
    archive: Archive,
    resource_id: str,
    content_type: int,
    source: SourceFile,
    compression: str | None,
    origin: Origin,
) -> Written:
    """Rewrites a user attachment's file stored as `compression` says (None: as it is)."""
    stored = storage.write(storage.read(source.uuid, source.compression), compression)
    try:
        return archive.change_attachment_compression(
            resource_id, content_type, source.uuid, attrs.asdict(stored), origin
        )
    except BaseException:
        _forget_unless_recorded(storage, archive, resource_id, content_type, stored.uuid)
        raise


def change_file_compression(
    storage: StorageArea,
    archive: Archive,
    instance_id: str,
    source: SourceFile,
    compression: str | None,
    origin: Origin,
) -> int:
    """Rewrites an instance's DICOM file stored as `compression` says (None: as it is)."""
    stored = storage.write(storage.read(source.uuid, source.compression), compression)
    try:
        return archive.change_file_compression(
            instance_id, source.uuid, attrs.asdict(stored), origin
        )
    except BaseException:
        _forget_unless(storage, stored.uuid, lambda: archive.attachment_of(instance_id))
        raise


def _forget_unless_recorded(
    storage: StorageArea, archive: Archive, resource_id: str, content_type: int, uuid: str
) -> None:
    def recorded() -> str | None:
        resource = archive.annotated(resource_id)
        found = resource.attachments.get(content_type) if resource is not None else None
        return found[0] if found is not None else None

    _forget_unless(storage, uuid, recorded)


def _forget_unless(storage: StorageArea, uuid: str, recorded: Callable[[], str | None]) -> None:
    """Removes the file unless the log names it (`recorded`: the file it names now)."""
    try:
        named = recorded()
    except Exception:
        return  # the log cannot be asked: the next start-up sweep decides
    if named != uuid:
        storage.remove(uuid)
