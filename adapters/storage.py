"""The storage area: DICOM files on disk, named by generated UUIDs only.

A file is written to a temporary name, fsynced, renamed into place and its directory fsynced,
so that a file the log names is durable. Files are removed only by the reaper (after their
delete event is committed) or by the start-up sweep (files no event names).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from adapters import compression as compressions

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@attrs.frozen
class Compressed:
    """How a compressed file is stored: its scheme, and the size and MD5 of the stored bytes
    (Orthanc's "compressed size" and "compressed MD5")."""

    type: str
    size: int
    md5: str


@attrs.frozen
class StoredFile:
    """What events record of a file (attrs.asdict of it): `size` and `md5` are the data's,
    `compression` None when the file holds the data as it is."""

    uuid: str
    size: int
    md5: str
    compression: Compressed | None = None


class StorageArea:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._lock_path = root / ".ingest.lock"
        self._lock_path.touch(exist_ok=True)
        self._known_directories: set[Path] = set()

    def write(self, data: bytes, compression: str | None = None) -> StoredFile:
        """Stores `data`, compressed as `compression` says (None: as it is)."""
        stored = compressions.compress(data, compression)
        written = self._write(stored)
        if compression is None:
            return written
        digest = hashlib.md5(data).hexdigest()
        packed = Compressed(compression, written.size, written.md5)
        return StoredFile(written.uuid, len(data), digest, packed)

    def _write(self, data: bytes) -> StoredFile:
        file_uuid = str(uuid.uuid4())
        final = self.path_of(file_uuid)
        temporary = self.tmp / file_uuid
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        self._ensure_directory(final.parent)
        os.replace(temporary, final)
        _fsync_directory(final.parent)
        return StoredFile(file_uuid, len(data), hashlib.md5(data).hexdigest())

    def _ensure_directory(self, directory: Path) -> None:
        """Creates the fan-out directories durably (their entries fsynced), once per process."""
        if directory in self._known_directories:
            return
        for level in (directory.parent, directory):
            if not level.is_dir():
                level.mkdir(exist_ok=True)
                _fsync_directory(level.parent)
        self._known_directories.add(directory)

    def read(self, file_uuid: str, compression: str | None = None) -> bytes:
        """The data of the file, decompressed as its event says it was stored (None: the
        stored bytes as they are). Raises adapters.compression.CorruptedFile."""
        return compressions.decompress(self.path_of(file_uuid).read_bytes(), compression)

    def remove(self, file_uuid: str) -> None:
        self.path_of(file_uuid).unlink(missing_ok=True)

    def path_of(self, file_uuid: str) -> Path:
        if not _UUID.match(file_uuid):
            raise ValueError(f"not a storage file name: {file_uuid!r}")
        return self.root / file_uuid[0:2] / file_uuid[2:4] / file_uuid

    def all_files(self) -> Iterator[str]:
        for first in self.root.glob("[0-9a-f][0-9a-f]"):
            for path in first.glob("[0-9a-f][0-9a-f]/*"):
                if _UUID.match(path.name):
                    yield path.name

    @contextmanager
    def ingesting(self) -> Iterator[None]:
        """Held (shared) by every process while it may write files not yet named by an event."""
        with open(self._lock_path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            yield

    def sweep(self, referenced: Callable[[], set[str]]) -> int | None:
        """Removes files that no event names; None if another process is ingesting right now.

        `referenced` is asked only once no other process can be between writing a file and
        appending its event.
        """
        with open(self._lock_path, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            for leftover in self.tmp.iterdir():
                leftover.unlink(missing_ok=True)
            named = referenced()
            orphans = [name for name in self.all_files() if name not in named]
            for name in orphans:
                self.remove(name)
            return len(orphans)


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
