"""Files that jobs produce (the ZIP of an archive job), in the data directory so that every
process serving the archive finds them. Written under a temporary name, made durable, then
renamed: a reader never sees half a file. Only the newest `keep` are kept (Orthanc's
MediaArchiveSize): writing one removes the oldest beyond that."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path


class JobOutputs:
    def __init__(self, directory: Path, keep: int) -> None:
        self.directory = directory
        self.keep = keep

    def write(self, job_id: str, chunks: Iterable[bytes]) -> int:
        """Writes the job's output from `chunks`; its size in bytes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self._path(job_id)
        partial = final.with_suffix(".partial")
        size = 0
        try:
            with open(partial, "wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                    size += len(chunk)
                file.flush()
                os.fsync(file.fileno())
            partial.replace(final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self._prune()
        return size

    def path(self, job_id: str) -> Path | None:
        """The job's output if it is still kept (None for an ID that is no job's)."""
        try:
            path = self._path(job_id)
        except ValueError:
            return None
        return path if path.exists() else None

    def _path(self, job_id: str) -> Path:
        return self.directory / f"{uuid.UUID(job_id)}.zip"  # ValueError for any other text

    def _prune(self) -> None:
        outputs = sorted(self.directory.glob("*.zip"), key=lambda p: p.stat().st_mtime_ns)
        for old in outputs[: max(len(outputs) - self.keep, 0)]:
            old.unlink(missing_ok=True)
