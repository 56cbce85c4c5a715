"""The files the log names: every file of a stored instance, and every user attachment of a
resource, not yet deleted or replaced (by an overwrite, or by a compressed or uncompressed
copy).

The start-up sweep compares it with the storage area to remove files no event names (an ingest
interrupted between writing its file and appending its event). Removing the files of deleted
instances is a side effect, done by the file reaper processor, not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from domain.aggregates import Instance, Resource
from projections.read_model import Positioned

FILE_EVENTS = (
    Instance.Stored,
    Instance.StoredAgain,
    Instance.Deleted,
    Instance.FileCompressionChanged,
    Resource.AttachmentSet,
    Resource.AttachmentRemoved,
    Resource.Forgotten,
)


class FilesProjection:
    name = "files"
    topics = FILE_EVENTS

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        named = files_named(event for _, event in batch)
        released = [uuid for uuid, owner in named.items() if owner is None]
        kept = [(uuid, owner) for uuid, owner in named.items() if owner is not None]
        if released:
            conn.execute("DELETE FROM files WHERE uuid = ANY(%s)", (released,))
        if kept:
            conn.execute(
                "INSERT INTO files (uuid, instance_id) SELECT * FROM unnest(%s::text[], "
                "%s::text[]) ON CONFLICT DO NOTHING",
                ([u for u, _ in kept], [o for _, o in kept]),
            )


def files_named(events: Iterable[Any]) -> dict[str, str | None]:
    """File UUID -> the instance (or annotated resource) it belongs to after the events, None
    when released."""
    named: dict[str, str | None] = {}
    for event in events:
        if isinstance(event, Resource.AttachmentSet):
            named[event.attachment["uuid"]] = event.resource_id
            if event.replaced:
                named[event.replaced] = None
        elif isinstance(event, Resource.AttachmentRemoved):
            named[event.uuid] = None
        elif isinstance(event, Resource.Forgotten):
            named.update(dict.fromkeys(event.attachments))
        if isinstance(event, Instance.Stored | Instance.StoredAgain):
            named[event.attachment["uuid"]] = event.instance_id
            if isinstance(event, Instance.StoredAgain) and event.replaced_attachment:
                named[event.replaced_attachment] = None
        elif isinstance(event, Instance.FileCompressionChanged):
            named[event.attachment["uuid"]] = event.instance_id
            named[event.replaced_attachment] = None
        elif isinstance(event, Instance.Deleted):
            named[event.attachment_uuid] = None
    return named
