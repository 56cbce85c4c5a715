"""The archive's command handlers: they decide, and append events in one transaction each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import attrs
from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import IntegrityError, Recording

from domain.aggregates import ChangesLog, Instance
from domain.annotations import AnnotationCommands, RevisionMismatch
from domain.commands import existing
from domain.conflicts import retry_on_conflict
from domain.credentials import SecretStore, TransactionStep
from domain.exports import ExportCommands
from domain.group_commit import GroupCommitter
from domain.identity import instance_aggregate_id
from domain.jobs import JobCommands
from domain.origin import Channel, Origin
from domain.remote_nodes import RemoteNodeCommands
from domain.runtime_settings import RuntimeSettingCommands
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
    FILTERED_OUT = "FilteredOut"  # refused by a Lua ReceivedInstanceFilter: nothing stored


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
    RemoteNodeCommands,
    UserCommands,
    TokenCommands,
    RuntimeSettingCommands,
    JobCommands,
    ExportCommands,
    AnnotationCommands,
    Application,
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
    def delete_instances(
        self, instance_ids: Iterable[str], origin: Origin, vanishing: Sequence[str] = ()
    ) -> int | None:
        """Deletes every live instance named, in one transaction; returns the last log position.
        `vanishing`: the resources (of any level) left without instances, whose metadata,
        attachments, labels and protection go with them.

        The event store splits the append into bounded INSERTs (see adapters.event_store).
        """
        pending: list[Any] = []
        for instance in self._live_instances(list(instance_ids)):
            instance.delete(origin.to_dict())
            pending.append(instance)
        if not pending:
            return None
        return self._append(*pending, *self.forgotten(vanishing, origin))

    @retry_on_conflict
    def change_file_compression(
        self, instance_id: str, source: str, attachment: dict[str, Any], origin: Origin
    ) -> int:
        """The instance's DICOM data, rewritten from its file `source` into the file
        `attachment` (uuid, size, md5, compression) already durable in the storage area.
        Raises UnknownInstance when it is not stored, RevisionMismatch when it no longer is
        in `source` (stored again meanwhile)."""
        instance = self._live_instance(instance_id)
        if instance is None:
            raise UnknownInstance(instance_id)
        if instance.attachment_uuid != source:
            raise RevisionMismatch(f"instance {instance_id} was stored again meanwhile")
        instance.change_file_compression(attachment, origin.to_dict())
        return self._append(instance)

    @retry_on_conflict
    def reconstruct_instances(
        self, records: Sequence[InstanceRecord], origin: Origin
    ) -> int | None:
        """Records, in one transaction, each live instance's description as its file reads
        now (the records' identifiers name the instances); None if none changed."""
        live = {i.instance_id: i for i in self._live_instances([r.instance_id for r in records])}
        changed = [
            live[record.instance_id]
            for record in records
            if record.instance_id in live
            and live[record.instance_id].reconstruct(
                record.dicom, record.tags, record.indexed, origin.to_dict()
            )
        ]
        return self._append(*changed) if changed else None

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
            resource = self._resource(resource_id, level, origin)
            if resource.stabilize(as_of, origin.to_dict()):
                changed.append(resource)
        return self._append(*changed) if changed else None

    def _live_instances(self, instance_ids: Sequence[str]) -> list[Instance]:
        """The live ones among these instances."""
        aggregate_ids = list(dict.fromkeys(map(instance_aggregate_id, instance_ids)))
        loaded = self._existing_many(aggregate_ids)
        return [loaded[i] for i in aggregate_ids if i in loaded and loaded[i].live]

    def _existing_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        bulk: BulkEventReader | None = getattr(self.recorder, "select_events_of", None)
        if bulk is None:
            found = {i: existing(self.repository, i) for i in aggregate_ids}
            return {i: aggregate for i, aggregate in found.items() if aggregate is not None}
        stored = bulk(list(aggregate_ids))
        aggregates: dict[UUID, Any] = {}
        for aggregate_id in aggregate_ids:
            events = [self.mapper.to_domain_event(item) for item in stored.get(aggregate_id, [])]
            if events:
                aggregates[aggregate_id] = project_aggregate(None, events)
        return aggregates

    def _live_instance(self, instance_id: str) -> Instance | None:
        instance: Instance | None = existing(self.repository, instance_aggregate_id(instance_id))
        return instance if instance is not None and instance.live else None

    def _append(self, *aggregates: Any, also: Sequence[TransactionStep] = ()) -> int:
        options = {"transaction_steps": list(also)} if also else {}
        recordings = self.save(*aggregates, **options)
        if not recordings:
            raise ValueError("nothing to append")
        return max(r.notification.id for r in recordings)
