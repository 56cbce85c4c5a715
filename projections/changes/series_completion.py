"""Orthanc's CompletedSeries change: logged when a stored instance's tags say how many
instances its series expects and the series then holds exactly those (by IndexInSeries).

The changes read model keeps each live instance's series and IndexInSeries for this, so it
never reads another read model's tables and can be rebuilt alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.aggregates import Instance
from domain.series_status import COMPLETE, series_status
from projections.read_model import Positioned

STORES = (Instance.Stored, Instance.StoredAgain)


class SeriesCompletion:
    """Folds a batch's stores and deletes; `apply` says whether a store completes its series."""

    def __init__(self, conn: psycopg.Connection, batch: Sequence[Positioned]) -> None:
        watched = [
            event.series_id
            for _, event in batch
            if isinstance(event, STORES) and event.dicom.get("expected_instances")
        ]
        self.members: dict[str, dict[str, str | None]] = {series: {} for series in watched}
        if watched:
            rows = conn.execute(
                "SELECT series_id, instance_id, index_in_series FROM series_members "
                "WHERE series_id = ANY(%s)",
                (list(self.members),),
            )
            for series_id, instance_id, index in rows:
                self.members[series_id][instance_id] = index
        self.pending: dict[str, tuple[str, str | None] | None] = {}  # None: deleted
        # Instances first stored in this batch: they have no row to delete yet.
        self.created: set[str] = set()

    def apply(self, event: Any) -> bool:
        if isinstance(event, Instance.Deleted):
            self.pending[event.instance_id] = None
            self.members.get(event.series_id, {}).pop(event.instance_id, None)
            return False
        if not isinstance(event, STORES):
            return False
        if isinstance(event, Instance.Stored) and event.instance_id not in self.pending:
            self.created.add(event.instance_id)
        index = event.dicom.get("index_in_series_text")
        self.pending[event.instance_id] = (event.series_id, index)
        if event.series_id in self.members:
            self.members[event.series_id][event.instance_id] = index
        expected = event.dicom.get("expected_instances")
        if not expected:
            return False
        return series_status(expected, self.members[event.series_id].values()) == COMPLETE

    def write(self, conn: psycopg.Connection) -> None:
        if not self.pending:
            return
        existing = [instance_id for instance_id in self.pending if instance_id not in self.created]
        if existing:
            conn.execute("DELETE FROM series_members WHERE instance_id = ANY(%s)", (existing,))
        kept = [(i, member) for i, member in self.pending.items() if member is not None]
        if kept:
            conn.execute(
                "INSERT INTO series_members (instance_id, series_id, index_in_series) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])",
                (
                    [instance_id for instance_id, _ in kept],
                    [member[0] for _, member in kept],
                    [member[1] for _, member in kept],
                ),
            )
