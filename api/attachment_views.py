"""What an attachment is, as the routes describe it: an instance's DICOM file (content type 1)
or a user attachment, each with the sizes and MD5s of its data and of its stored bytes."""

from __future__ import annotations

from typing import Any

import attrs
import psycopg

from adapters.attachments import SourceFile
from api.revisions import etag
from domain.levels import INSTANCE
from projections.hierarchy import queries as hierarchy
from projections.hierarchy.queries import Row

DICOM = 1


@attrs.frozen
class Attachment:
    content_type: int
    uuid: str
    size: int  # of the data
    md5: str
    revision: int
    compression: str | None = None  # None: the file holds the data as it is
    compressed_size: int | None = None  # of the stored bytes, when compressed
    compressed_md5: str | None = None

    @property
    def etag(self) -> str:
        return etag(self.revision, self.md5)

    @property
    def stored_size(self) -> int:
        return self.size if self.compressed_size is None else self.compressed_size

    @property
    def stored_md5(self) -> str:
        return self.md5 if self.compressed_md5 is None else self.compressed_md5

    @property
    def source(self) -> SourceFile:
        return SourceFile(self.uuid, self.compression)

    def info(self) -> dict[str, Any]:
        """Orthanc's /info (and /tools/find's Attachments) form."""
        return {
            "CompressedMD5": self.stored_md5,
            "CompressedSize": self.stored_size,
            "ContentType": self.content_type,
            "UncompressedMD5": self.md5,
            "UncompressedSize": self.size,
            "Uuid": self.uuid,
        }


def attachments_of_rows(conn: psycopg.Connection, rows: list[Row]) -> list[dict[int, Attachment]]:
    """Each resource's attachments by content type, read for all of them in one statement."""
    user = hierarchy.user_attachments_of(conn, [row["id"] for row in rows])
    answers = []
    for row in rows:
        found: dict[int, Attachment] = {}
        if row["level"] == INSTANCE:
            found[DICOM] = Attachment(
                DICOM,
                row["file_uuid"],
                row["file_size"],
                row["file_md5"],
                0,
                row.get("file_compression"),
                row.get("file_compressed_size"),
                row.get("file_compressed_md5"),
            )
        for item in user.get(row["id"], []):
            found[item["content_type"]] = Attachment(**item)
        answers.append(found)
    return answers
