"""The event catalogue: every aggregate and the facts it records.

Events are small and complete: a projection builds its read model from them alone, without
opening DICOM files. Change a payload by adding a class version and an upcaster, never by
editing history.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.identity import (
    CHANGES_LOG_ID,
    EXPORTS_LOG_ID,
    instance_aggregate_id,
    remote_node_aggregate_id,
    stability_aggregate_id,
)


class Instance(Aggregate):
    """One SOP instance, across every time it was stored and deleted."""

    @staticmethod
    def create_id(instance_id: str, **_: Any) -> UUID:
        return instance_aggregate_id(instance_id)

    @event("Stored")
    def __init__(
        self,
        instance_id: str,
        series_id: str,
        study_id: str,
        patient_id: str,
        attachment: dict[str, Any],
        dicom: dict[str, Any],
        tags: dict[str, dict[str, str]],
        indexed: dict[str, str],
        origin: dict[str, str],
    ) -> None:
        self._remember(instance_id, series_id, study_id, patient_id, attachment)

    @event("StoredAgain")
    def store_again(
        self,
        instance_id: str,
        series_id: str,
        study_id: str,
        patient_id: str,
        attachment: dict[str, Any],
        dicom: dict[str, Any],
        tags: dict[str, dict[str, str]],
        indexed: dict[str, str],
        origin: dict[str, str],
        replaced_attachment: str | None,
    ) -> None:
        """Stored after a delete, or over the live copy when overwriting is configured."""
        self._remember(instance_id, series_id, study_id, patient_id, attachment)

    @event("Deleted")
    def _deleted(
        self,
        instance_id: str,
        series_id: str,
        study_id: str,
        patient_id: str,
        attachment_uuid: str,
        origin: dict[str, str],
    ) -> None:
        self.live = False

    def delete(self, origin: dict[str, str]) -> None:
        self._deleted(
            instance_id=self.instance_id,
            series_id=self.series_id,
            study_id=self.study_id,
            patient_id=self.patient_id,
            attachment_uuid=self.attachment_uuid,
            origin=origin,
        )

    def _remember(
        self,
        instance_id: str,
        series_id: str,
        study_id: str,
        patient_id: str,
        attachment: dict[str, Any],
    ) -> None:
        self.instance_id = instance_id
        self.series_id = series_id
        self.study_id = study_id
        self.patient_id = patient_id
        self.attachment_uuid = attachment["uuid"]
        self.live = True


class ResourceStability(Aggregate):
    """Records that a patient, study or series received no new instance for StableAge seconds."""

    @staticmethod
    def create_id(resource_id: str, **_: Any) -> UUID:
        return stability_aggregate_id(resource_id)

    @event("Registered")
    def __init__(self, resource_id: str, level: str, origin: dict[str, str]) -> None:
        self.resource_id = resource_id
        self.level = level
        self.stable_as_of = 0

    @event("Stabilized")
    def _stabilized(self, resource_id: str, level: str, as_of: int, origin: dict[str, str]) -> None:
        self.stable_as_of = as_of

    def stabilize(self, as_of: int, origin: dict[str, str]) -> bool:
        """`as_of` is the log position of the resource's last stored instance."""
        if as_of <= self.stable_as_of:
            return False
        self._stabilized(resource_id=self.resource_id, level=self.level, as_of=as_of, origin=origin)
        return True


class ChangesLog(Aggregate):
    """Orthanc's /changes log: clearing it hides what came before, it never destroys it."""

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return CHANGES_LOG_ID

    @event("Opened")
    def __init__(self) -> None:
        pass

    @event("Cleared")
    def clear(self, origin: dict[str, str]) -> None:
        pass


class RemoteNode(Aggregate):
    """A DICOM modality or an Orthanc peer Chronicle talks to, defined by configuration or REST.

    `kind` is "modality" or "peer"; `source` says who defined it ("configuration" or "rest"),
    so that a start-up with an edited configuration file only touches what the file defined.
    """

    @staticmethod
    def create_id(kind: str, name: str, **_: Any) -> UUID:
        return remote_node_aggregate_id(kind, name)

    @event("Defined")
    def __init__(
        self,
        kind: str,
        name: str,
        configuration: dict[str, Any],
        source: str,
        origin: dict[str, str],
    ) -> None:
        self.kind = kind
        self.name = name
        self.configuration = configuration
        self.source = source
        self.live = True

    @event("Updated")
    def _updated(
        self,
        kind: str,
        name: str,
        configuration: dict[str, Any],
        source: str,
        origin: dict[str, str],
    ) -> None:
        self.configuration = configuration
        self.source = source
        self.live = True

    @event("Removed")
    def _removed(self, kind: str, name: str, origin: dict[str, str]) -> None:
        self.live = False

    def update(self, configuration: dict[str, Any], source: str, origin: dict[str, str]) -> None:
        self._updated(
            kind=self.kind,
            name=self.name,
            configuration=configuration,
            source=source,
            origin=origin,
        )

    def remove(self, origin: dict[str, str]) -> None:
        self._removed(kind=self.kind, name=self.name, origin=origin)


class Job(Aggregate):
    """One of Orthanc's jobs (store to a modality or peer, move...): its whole life is events,
    so jobs survive restarts and are visible from any process."""

    @event("Submitted")
    def __init__(
        self,
        job_type: str,
        priority: int,
        parameters: dict[str, Any],
        origin: dict[str, str],
    ) -> None:
        self.job_type = job_type
        self.priority = priority
        self.parameters = parameters
        self.origin = origin
        self.state = "Pending"
        self.progress = 0
        self.attempt = 0
        self.done: set[str] = set()

    @event("Started")
    def start(self, attempt: int, origin: dict[str, str]) -> None:
        self.state = "Running"
        self.attempt = attempt

    @event("Progressed")
    def progress_to(self, progress: int, done: list[str], origin: dict[str, str]) -> None:
        self.progress = progress
        self.done.update(done)

    @event("Succeeded")
    def succeed(self, content: dict[str, Any], origin: dict[str, str]) -> None:
        self.state = "Success"
        self.progress = 100

    @event("Failed")
    def fail(
        self, error_code: int, error_description: str, details: str, origin: dict[str, str]
    ) -> None:
        self.state = "Failure"

    @event("Paused")
    def pause(self, origin: dict[str, str]) -> None:
        self.state = "Paused"

    @event("Resumed")
    def resume(self, origin: dict[str, str]) -> None:
        self.state = "Pending"

    @event("Cancelled")
    def cancel(self, origin: dict[str, str]) -> None:
        self.state = "Failure"

    @event("Resubmitted")
    def resubmit(self, origin: dict[str, str]) -> None:
        self.state = "Pending"
        self.progress = 0
        self.done = set()


class ExportRecord(Aggregate):
    """One instance sent (or not) to a modality or peer: the audit trail behind /exports."""

    @event("Recorded")
    def __init__(
        self,
        instance_id: str,
        series_id: str,
        study_id: str,
        patient_id: str,
        identifiers: dict[str, str],
        destination_kind: str,
        destination: str,
        remote_aet: str,
        job_id: str | None,
        succeeded: bool,
        error: str,
        origin: dict[str, str],
    ) -> None:
        pass


class ExportsLog(Aggregate):
    """Orthanc's /exports: clearing hides earlier entries from it, the audit trail keeps them."""

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return EXPORTS_LOG_ID

    @event("Opened")
    def __init__(self) -> None:
        pass

    @event("Cleared")
    def clear(self, origin: dict[str, str]) -> None:
        pass
