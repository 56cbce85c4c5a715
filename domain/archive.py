"""The archive's command handlers: they decide, and append events in one transaction each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import attrs
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.aggregates import ChangesLog, Instance, ResourceStability
from domain.conflicts import retry_on_conflict
from domain.exports import ExportCommands
from domain.identity import instance_aggregate_id, stability_aggregate_id
from domain.jobs import JobCommands
from domain.origin import Channel, Origin
from domain.remote_nodes import RemoteNodeCommands

if TYPE_CHECKING:
    from domain.instance_record import InstanceRecord


STABILITY_WATCHER = Origin(Channel.WATCHER, user="stability-watcher")


class StoreStatus(StrEnum):
    SUCCESS = "Success"
    ALREADY_STORED = "AlreadyStored"


@attrs.frozen
class StoreOutcome:
    status: StoreStatus
    position: int | None
    replaced_attachment: str | None = None


class UnknownInstance(LookupError):
    pass


class Archive(RemoteNodeCommands, JobCommands, ExportCommands, Application):
    name = "chronicle"
    log_section_size = 1000

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.append_new: Callable[[Instance], int] = self._append_one

    def _append_one(self, instance: Instance) -> int:
        position = self._append(instance).position
        assert position is not None
        return position

    @retry_on_conflict
    def store(self, record: InstanceRecord, origin: Origin, overwrite: bool) -> StoreOutcome:
        fields = record.event_fields(origin)
        try:
            return StoreOutcome(StoreStatus.SUCCESS, self.append_new(Instance(**fields)))
        except IntegrityError:
            pass
        instance: Instance = self.repository.get(instance_aggregate_id(record.instance_id))
        if instance.live and not overwrite:
            return StoreOutcome(StoreStatus.ALREADY_STORED, None)
        replaced = instance.attachment_uuid if instance.live else None
        instance.store_again(**fields, replaced_attachment=replaced)
        outcome = self._append(instance)
        return attrs.evolve(outcome, replaced_attachment=replaced)

    @retry_on_conflict
    def delete_instances(self, instance_ids: Iterable[str], origin: Origin) -> int | None:
        """Deletes every live instance named, in one transaction; returns the last log position.

        The event store splits the append into bounded INSERTs (see adapters.event_store).
        """
        pending = []
        for instance_id in instance_ids:
            instance = self._live_instance(instance_id)
            if instance is not None:
                instance.delete(origin.to_dict())
                pending.append(instance)
        return self._append(*pending).position if pending else None

    def attachment_of(self, instance_id: str) -> str | None:
        """The file the log says the instance has now, if it is stored."""
        instance = self._live_instance(instance_id)
        return instance.attachment_uuid if instance is not None else None

    @retry_on_conflict
    def clear_changes(self, origin: Origin) -> int:
        try:
            log: ChangesLog = self.repository.get(ChangesLog.create_id())
        except AggregateNotFoundError:
            log = ChangesLog()
        log.clear(origin=origin.to_dict())
        return self._append(log).position or 0

    @retry_on_conflict
    def stabilize(
        self,
        quiet: Sequence[tuple[str, str, int]],
        origin: Origin = STABILITY_WATCHER,
    ) -> int | None:
        """Records the quiet resources, (resource ID, level, as_of) each, in one append; as_of
        is the log position of the resource's last stored instance. Returns the last position,
        None if every one was already recorded."""
        changed = []
        for resource_id, level, as_of in quiet:
            record = self._stability(resource_id, level, origin)
            if record.stabilize(as_of, origin.to_dict()):
                changed.append(record)
        return self._append(*changed).position if changed else None

    def _stability(self, resource_id: str, level: str, origin: Origin) -> ResourceStability:
        try:
            return self.repository.get(stability_aggregate_id(resource_id))
        except AggregateNotFoundError:
            return ResourceStability(resource_id=resource_id, level=level, origin=origin.to_dict())

    def _live_instance(self, instance_id: str) -> Instance | None:
        try:
            instance: Instance = self.repository.get(instance_aggregate_id(instance_id))
        except AggregateNotFoundError:
            return None
        return instance if instance.live else None

    def _append(self, *aggregates: Any) -> StoreOutcome:
        recordings = self.save(*aggregates)
        position = max(r.notification.id for r in recordings) if recordings else None
        return StoreOutcome(StoreStatus.SUCCESS, position)
