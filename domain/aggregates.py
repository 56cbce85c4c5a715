"""The event catalogue: every aggregate and the facts it records.

Events are small and complete: a projection builds its read model from them alone, without
opening DICOM files. Change a payload by adding a class version and an upcaster, never by
editing history.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.identity import CHANGES_LOG_ID, instance_aggregate_id, stability_aggregate_id

LEVELS = ("Patient", "Study", "Series", "Instance")


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
    def __init__(self, resource_id: str, level: str) -> None:
        self.resource_id = resource_id
        self.level = level
        self.stable_as_of = 0

    @event("Stabilized")
    def _stabilized(self, resource_id: str, level: str, as_of: int) -> None:
        self.stable_as_of = as_of

    def stabilize(self, as_of: int) -> bool:
        """`as_of` is the log position of the resource's last stored instance."""
        if as_of <= self.stable_as_of:
            return False
        self._stabilized(resource_id=self.resource_id, level=self.level, as_of=as_of)
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
