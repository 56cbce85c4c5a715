"""The file reaper: follows the log and removes a file only once its delete event is committed.

It also keeps the set of files that stored events name, which the start-up sweep compares with
the storage area. Removing a file is idempotent, so replaying the log is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from adapters.storage import StorageArea
from domain.aggregates import Instance
from projections.runner import Positioned


class FileReaper:
    name = "files"

    def __init__(self, storage: StorageArea) -> None:
        self.storage = storage

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        named: dict[str, str | None] = {}
        for _, event in batch:
            if isinstance(event, Instance.Stored | Instance.StoredAgain):
                named[event.attachment["uuid"]] = event.instance_id
                if isinstance(event, Instance.StoredAgain) and event.replaced_attachment:
                    named[event.replaced_attachment] = None
            elif isinstance(event, Instance.Deleted):
                named[event.attachment_uuid] = None
        if not named:
            return
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
        for uuid in released:
            self.storage.remove(uuid)


def referenced_files(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT uuid FROM files.files")}
