"""`chronicle import PATH`: store every DICOM file of a folder tree, and say what happened."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from adapters.ingest import Ingestor
from adapters.recycling import StorageFull
from domain.archive import StoreStatus
from domain.dicom_files import InvalidDicomFile
from domain.origin import Origin


@attrs.define
class ImportSummary:
    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = attrs.Factory(list)
    last_position: int | None = None

    def reasons(self) -> Counter[str]:
        return Counter(reason for _, reason in self.rejected)


def files_under(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            yield Path(folder) / name


def import_tree(
    ingestor: Ingestor,
    paths: list[Path],
    origin: Origin,
    on_file: Callable[[Path], None] | None = None,
) -> ImportSummary:
    summary = ImportSummary()
    for path in (p for root in paths for p in files_under(root)):
        _import_file(ingestor, path, origin, summary)
        if on_file is not None:
            on_file(path)
    return summary


def _import_file(ingestor: Ingestor, path: Path, origin: Origin, summary: ImportSummary) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        summary.rejected.append((str(path), f"unreadable: {exc.strerror}"))
        return
    try:
        result = ingestor.ingest(data, origin)
    except InvalidDicomFile as exc:
        summary.rejected.append((str(path), str(exc)))
        return
    except StorageFull as full:
        summary.rejected.append((str(path), f"storage full: {full.details}"))
        return
    if result.status is StoreStatus.ALREADY_STORED:
        summary.duplicates += 1
    elif result.status is StoreStatus.FILTERED_OUT:
        summary.rejected.append((str(path), "filtered out by ReceivedInstanceFilter"))
    else:
        summary.stored += 1
        summary.last_position = result.position
