"""The hierarchy's annotations: the user metadata, user attachments, labels and protection the
Resource aggregate records, written as its events come (they are rare beside instances).

An annotation of a resource the hierarchy does not hold (deleted meanwhile) is not written,
and a resource's annotations are dropped when the resource is (or its Forgotten event comes),
so that a rebuild reaches the same tables.
"""

from __future__ import annotations

from typing import Any

import psycopg

from domain.aggregates import Resource

ANNOTATION_EVENTS = (
    Resource.MetadataSet,
    Resource.MetadataRemoved,
    Resource.AttachmentSet,
    Resource.AttachmentRemoved,
    Resource.LabelAdded,
    Resource.LabelRemoved,
    Resource.ProtectionChanged,
    Resource.Forgotten,
)
TABLES = ("metadata", "attachments", "labels", "protected")
_IF_PRESENT = "WHERE EXISTS (SELECT 1 FROM resources WHERE id = %s)"


def drop_annotations(conn: psycopg.Connection, resource_ids: list[str]) -> None:
    if resource_ids:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table} WHERE resource_id = ANY(%s)", (resource_ids,))


def apply_annotation(conn: psycopg.Connection, event: Any) -> None:
    resource_id = event.resource_id
    revision = event.originator_version
    if isinstance(event, Resource.MetadataSet):
        conn.execute(
            f"INSERT INTO metadata SELECT %s, %s, %s, %s {_IF_PRESENT} "
            "ON CONFLICT (resource_id, number) DO UPDATE SET value = EXCLUDED.value, "
            "revision = EXCLUDED.revision",
            (resource_id, event.metadata, event.value, revision, resource_id),
        )
    elif isinstance(event, Resource.MetadataRemoved):
        conn.execute(
            "DELETE FROM metadata WHERE resource_id = %s AND number = %s",
            (resource_id, event.metadata),
        )
    elif isinstance(event, Resource.AttachmentSet):
        file = event.attachment
        compression = file.get("compression") or {}
        conn.execute(
            f"INSERT INTO attachments SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s {_IF_PRESENT} "
            "ON CONFLICT (resource_id, content_type) DO UPDATE SET uuid = EXCLUDED.uuid, "
            "size = EXCLUDED.size, md5 = EXCLUDED.md5, revision = EXCLUDED.revision, "
            "compression = EXCLUDED.compression, compressed_size = EXCLUDED.compressed_size, "
            "compressed_md5 = EXCLUDED.compressed_md5",
            (
                resource_id,
                event.content_type,
                file["uuid"],
                file["size"],
                file["md5"],
                revision,
                compression.get("type"),
                compression.get("size"),
                compression.get("md5"),
                resource_id,
            ),
        )
    elif isinstance(event, Resource.AttachmentRemoved):
        conn.execute(
            "DELETE FROM attachments WHERE resource_id = %s AND content_type = %s",
            (resource_id, event.content_type),
        )
    else:
        _apply_flag(conn, event)


def _apply_flag(conn: psycopg.Connection, event: Any) -> None:
    resource_id = event.resource_id
    if isinstance(event, Resource.LabelAdded):
        conn.execute(
            f"INSERT INTO labels SELECT %s, %s {_IF_PRESENT} ON CONFLICT DO NOTHING",
            (resource_id, event.label, resource_id),
        )
    elif isinstance(event, Resource.LabelRemoved):
        conn.execute(
            "DELETE FROM labels WHERE resource_id = %s AND label = %s", (resource_id, event.label)
        )
    elif isinstance(event, Resource.ProtectionChanged):
        if event.protected:
            conn.execute(
                f"INSERT INTO protected SELECT %s {_IF_PRESENT} ON CONFLICT DO NOTHING",
                (resource_id, resource_id),
            )
        else:
            conn.execute("DELETE FROM protected WHERE resource_id = %s", (resource_id,))
    elif isinstance(event, Resource.Forgotten):
        drop_annotations(conn, [resource_id])
