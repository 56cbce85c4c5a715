"""The archive's command handlers: they decide, and append events in one transaction each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import attrs
from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import IntegrityError, Recording

from domain.aggregates import ChangesLog, Instance, Resource
from domain.conflicts import retry_on_conflict
from domain.credentials import SecretStore, TransactionStep
from domain.exports import ExportCommands
from domain.group_commit import GroupCommitter
from domain.identity import instance_aggregate_id, resource_aggregate_id
from domain.jobs import JobCommands
from domain.origin import Channel, Origin
from domain.remote_nodes import RemoteNodeCommands
from domain.tokens import TokenCommands
from domain.users import UserCommands

if TYPE_CHECKING:
    from domain.instance_record import InstanceRecord


STABILITY_WATCHER = Origin(Channel.WATCHER, user="stability-watcher")


class BulkEventReader(Protocol):
    """What an event store may offer beyond eventsourcing's recorder: the events of many
    aggregates at once (adapters.event_store's recorder does)."""

    def __call__(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[Any]]: ...


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


class NoSecretStore:
    """For an archive that never defines nodes with credentials (tools, tests)."""

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return {}

    def put(self, kind: str, name: str, secrets: dict[str, Any]) -> TransactionStep:
        if secrets:
            raise RuntimeError("this archive has no secret store for credentials")
        return _nothing

    def remove(self, kind: str, name: str) -> TransactionStep:
        return _nothing


def _nothing(cursor: Any) -> None:
    pass


class Archive(
    RemoteNodeCommands, UserCommands, TokenCommands, JobCommands, ExportCommands, Application
):
    name = "chronicle"
    log_section_size = 1000

    def __init__(
        self,
        env: dict[str, str] | None = None,
        secrets: SecretStore | None = None,
        group_commit: bool = True,
    ) -> None:
        """`group_commit`: concurrent ingests share event-store transactions."""
        super().__init__(env)
        self.secrets = secrets or NoSecretStore()
        self._store_new = GroupCommitter(self.save).append if group_commit else self._append
        self._listeners: list[Callable[[set[type], int], None]] = []

    def subscribe(self, listener: Callable[[set[type], int], None]) -> None:
        """`listener(event types, last position)` is called after every append of this
        process."""
        self._listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if not recordings:
            return
        types = {type(recording.domain_event) for recording in recordings}
        position = max(recording.notification.id for recording in recordings)
        for listener in self._listeners:
            listener(types, position)

    @retry_on_conflict
    def store(self, record: InstanceRecord, origin: Origin, overwrite: bool) -> StoreOutcome:
        fields = record.event_fields(origin)
        try:
            return StoreOutcome(StoreStatus.SUCCESS, self._store_new(Instance(**fields)))
        except IntegrityError:
            pass
        instance: Instance = self.repository.get(instance_aggregate_id(record.instance_id))
        if instance.live and not overwrite:
            return StoreOutcome(StoreStatus.ALREADY_STORED, None)
        replaced = instance.attachment_uuid if instance.live else None
        instance.store_again(**fields, replaced_attachment=replaced)
        return StoreOutcome(StoreStatus.SUCCESS, self._append(instance), replaced)

    @retry_on_conflict
    def delete_instances(self, instance_ids: Iterable[str], origin: Origin) -> int | None:
        """Deletes every live instance named, in one transaction; returns the last log position.

        The event store splits the append into bounded INSERTs (see adapters.event_store).
        """
        pending = []
        for instance in self._live_instances(list(instance_ids)):
            instance.delete(origin.to_dict())
            pending.append(instance)
        return self._append(*pending) if pending else None

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
        return self._append(log)

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
            resource = self.resource(resource_id, level, origin)
            if resource.stabilize(as_of, origin.to_dict()):
                changed.append(resource)
        return self._append(*changed) if changed else None

    def resource(self, resource_id: str, level: str, origin: Origin) -> Resource:
        """The resource's aggregate; a new one (not yet saved) if nothing was said of it."""
        try:
            resource: Resource = self.repository.get(resource_aggregate_id(resource_id))
        except AggregateNotFoundError:
            return Resource(resource_id=resource_id, level=level, origin=origin.to_dict())
        return resource

    def _live_instances(self, instance_ids: Sequence[str]) -> list[Instance]:
        """The live ones among these instances, loaded together when the event store can read
        several aggregates at once (one statement instead of one per instance)."""
        bulk: BulkEventReader | None = getattr(self.recorder, "select_events_of", None)
        if bulk is None:
            found = (self._live_instance(instance_id) for instance_id in instance_ids)
            return [instance for instance in found if instance is not None]
        aggregate_ids = list(dict.fromkeys(map(instance_aggregate_id, instance_ids)))
        stored = bulk(aggregate_ids)
        instances = []
        for aggregate_id in aggregate_ids:
            events = [self.mapper.to_domain_event(item) for item in stored.get(aggregate_id, [])]
            instance: Instance | None = project_aggregate(None, events) if events else None
            if instance is not None and instance.live:
                instances.append(instance)
        return instances

    def _live_instance(self, instance_id: str) -> Instance | None:
        try:
            instance: Instance = self.repository.get(instance_aggregate_id(instance_id))
        except AggregateNotFoundError:
            return None
        return instance if instance.live else None

    def _append(self, *aggregates: Any, also: Sequence[TransactionStep] = ()) -> int:
        options = {"transaction_steps": list(also)} if also else {}
        recordings = self.save(*aggregates, **options)
        if not recordings:
            raise ValueError("nothing to append")
        return max(r.notification.id for r in recordings)
