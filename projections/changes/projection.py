"""Orthanc's /changes log.

Seq = log position x SEQ_STRIDE + rank of the change within its event, so a rebuild yields the
same Seq values and a poller's `since` cursor stays valid forever. Seq only becomes visible
once every lower log position is projected, because the runner follows the log in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.aggregates import ChangesLog, Resource
from domain.levels import INSTANCE, LEVEL_NAMES, SERIES
from projections.changes.series_completion import SeriesCompletion
from projections.lifecycle import (
    LIFECYCLE_EVENTS,
    Kind,
    Lifecycle,
    Node,
    Transition,
    referenced_ids,
)
from projections.read_model import Positioned

SEQ_STRIDE = 10
# What Orthanc logs of writes to a resource's metadata and attachments (labels and protection
# have no change type in Orthanc, and pollers' clients refuse types they do not know).
ANNOTATION_CHANGES = {
    Resource.MetadataSet: "UpdatedMetadata",
    Resource.MetadataRemoved: "UpdatedMetadata",
    Resource.AttachmentSet: "UpdatedAttachment",
    Resource.AttachmentRemoved: "UpdatedAttachment",
}

ChangeRow = tuple[int, str, int, str, Any]


def change_type(transition: Transition) -> str | None:
    level_name = LEVEL_NAMES[transition.level]
    if transition.kind is Kind.REMOVED:
        return "Deleted"
    if transition.kind is Kind.STABILIZED:
        return "Stable" + level_name
    if transition.kind is Kind.CREATED or (
        transition.kind is Kind.UPDATED and transition.level == INSTANCE
    ):
        return "New" + level_name
    return None


def derivation_change(transition: Transition) -> str | None:
    """ModifiedSeries, AnonymizedStudy…: a series, study or patient a modification made anew,
    logged after its New… change. Orthanc names these change types; Chronicle logs them."""
    derived = getattr(transition.event, "derived", None)
    if transition.kind is not Kind.CREATED or transition.level == INSTANCE or not derived:
        return None
    if not derived["metadata"]:  # a split or a merge: Orthanc logs no such change
        return None
    if LEVEL_NAMES[transition.level] not in derived["sources"]:
        return None
    return derived["metadata"].removesuffix("From") + LEVEL_NAMES[transition.level]


def order_for_orthanc(transitions: list[Transition]) -> list[Transition]:
    """Orthanc logs from the instance upwards: NewInstance, NewSeries, NewStudy, NewPatient."""
    if transitions and transitions[-1].level == INSTANCE:
        return transitions[::-1]
    return transitions


class ChangesProjection:
    name = "changes"
    topics = (*LIFECYCLE_EVENTS, ChangesLog.Cleared, *ANNOTATION_CHANGES)

    def apply(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        nodes = self._load_nodes(conn, referenced_ids(event for _, event in batch))
        known_before = set(nodes)
        lifecycle = Lifecycle(nodes)
        completion = SeriesCompletion(conn, batch)
        rows: list[ChangeRow] = []
        hidden_below = None
        for position, event in batch:
            if isinstance(event, ChangesLog.Cleared):
                hidden_below = position * SEQ_STRIDE
                continue
            if type(event) in ANNOTATION_CHANGES:
                rows.append(_annotation_row(position, event))
                continue
            transitions = order_for_orthanc(lifecycle.apply(position, event))
            rows.extend(_change_rows(position, transitions, completion.apply(event)))
        self._write_nodes(conn, nodes, known_before)
        completion.write(conn)
        if rows:
            columns = [list(column) for column in zip(*rows, strict=True)]
            conn.execute(
                "INSERT INTO changes (seq, change_type, resource_level, resource_id, changed_at) "
                "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::smallint[], %s::text[], "
                "%s::timestamptz[])",
                columns,
            )
            _mark_removed(conn, rows)
        if hidden_below is not None:
            conn.execute("UPDATE visibility SET hidden_below = %s", (hidden_below,))

    @staticmethod
    def _load_nodes(conn: psycopg.Connection, ids: set[str]) -> dict[str, Node]:
        if not ids:
            return {}
        cursor = conn.execute(
            "SELECT id, level, instances_count, last_stored_position FROM live_resources "
            "WHERE id = ANY(%s)",
            (list(ids),),
        )
        return {row[0]: Node(row[1], row[2], row[3]) for row in cursor.fetchall()}

    @staticmethod
    def _write_nodes(conn: psycopg.Connection, nodes: dict[str, Node], before: set[str]) -> None:
        gone = list(before - set(nodes))
        if gone:
            conn.execute("DELETE FROM live_resources WHERE id = ANY(%s)", (gone,))
        if nodes:
            ids = list(nodes)
            conn.execute(
                "INSERT INTO live_resources (id, level, instances_count, last_stored_position) "
                "SELECT * FROM unnest(%s::text[], %s::smallint[], %s::int[], %s::bigint[]) "
                "ON CONFLICT (id) DO UPDATE SET instances_count = excluded.instances_count, "
                "last_stored_position = excluded.last_stored_position",
                (
                    ids,
                    [nodes[i].level for i in ids],
                    [nodes[i].instances for i in ids],
                    [nodes[i].last_stored_position for i in ids],
                ),
            )


def _annotation_row(position: int, event: Any) -> ChangeRow:
    level = LEVEL_NAMES.index(event.level)
    kind = ANNOTATION_CHANGES[type(event)]
    return (position * SEQ_STRIDE, kind, level, event.resource_id, event.timestamp)


def _mark_removed(conn: psycopg.Connection, rows: list[ChangeRow]) -> None:
    """Every change of a removed resource, up to its Deleted change, leaves Orthanc's view."""
    removed: dict[str, int] = {}
    for seq, change_type, _, resource_id, _ in rows:
        if change_type == "Deleted":
            removed[resource_id] = max(seq, removed.get(resource_id, 0))
    if removed:
        conn.execute(
            "UPDATE changes c SET removed = true "
            "FROM unnest(%s::text[], %s::bigint[]) AS r(id, up_to) "
            "WHERE c.resource_id = r.id AND c.seq <= r.up_to AND NOT c.removed",
            (list(removed), list(removed.values())),
        )


def _change_rows(
    position: int, transitions: list[Transition], completes_series: bool = False
) -> list[ChangeRow]:
    """The event's changes; `completes_series`: the store completed its series, which Orthanc
    logs after the store's New… changes."""
    rows: list[ChangeRow] = []
    for transition in transitions:
        kind = change_type(transition)
        if kind is None:
            continue
        seq = position * SEQ_STRIDE + len(rows)
        rows.append((seq, kind, transition.level, transition.resource_id, transition.timestamp))
    for transition in transitions:
        kind = derivation_change(transition)
        if kind is not None:
            seq = position * SEQ_STRIDE + len(rows)
            row = (seq, kind, transition.level, transition.resource_id, transition.timestamp)
            rows.append(row)
    if completes_series and transitions:
        event = transitions[0].event
        seq = position * SEQ_STRIDE + len(rows)
        rows.append((seq, "CompletedSeries", SERIES, event.series_id, transitions[0].timestamp))
    return rows
