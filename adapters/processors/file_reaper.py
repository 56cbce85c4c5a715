"""The file reaper: removes an instance's file (or a user attachment's) once its delete (or
overwrite) is committed and the hierarchy no longer points at it. Removing a file is
idempotent, so a retried batch is harmless; files it never saw (before it was registered, or a
crash) the start-up sweep removes.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.storage import StorageArea
from projections.files.projection import FILE_EVENTS, files_named
from projections.read_model import Positioned


class FileReaper:
    name = "file-reaper"
    topics = FILE_EVENTS
    follows = ("hierarchy",)

    def __init__(self, storage: StorageArea) -> None:
        self.storage = storage

    def handle(self, batch: Sequence[Positioned]) -> None:
        for uuid, owner in files_named(event for _, event in batch).items():
            if owner is None:
                self.storage.remove(uuid)

    def tick(self) -> float | None:
        return None
