"""User attachments: the file first (durable in the storage area), the event second; a file
whose event was refused or failed is removed, unless the log names it after all."""

from __future__ import annotations

import attrs

from adapters.storage import StorageArea
from domain.annotations import Revisions, Written
from domain.archive import Archive
from domain.origin import Origin


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


def _forget_unless_recorded(
    storage: StorageArea, archive: Archive, resource_id: str, content_type: int, uuid: str
) -> None:
    try:
        resource = archive.annotated(resource_id)
    except Exception:
        return  # the log cannot be asked: the next start-up sweep decides
    recorded = resource.attachments.get(content_type) if resource is not None else None
    if recorded is None or recorded[0] != uuid:
        storage.remove(uuid)
