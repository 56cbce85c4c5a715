"""The event catalogue: every aggregate and the facts it records.

Events are small and complete: a projection builds its read model from them alone, without
opening DICOM files. Every event class declares its `class_version`; a payload changes by a new
version with an `upcast_vN_vN+1` static method (eventsourcing applies it when it reads an older
event), never by editing history. Topics (module and class names) are what the log stores, so a
renamed or moved class registers its old topic in RENAMED_TOPICS.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from domain.credentials import split_credentials
from domain.identity import (
    CHANGES_LOG_ID,
    EXPORTS_LOG_ID,
    instance_aggregate_id,
    remote_node_aggregate_id,
    resource_aggregate_id,
    runtime_setting_aggregate_id,
    token_aggregate_id,
    user_aggregate_id,
)

OriginFields = dict[str, str]  # domain.origin.Origin.to_dict()


def _expected_instances_unknown(state: dict[str, Any]) -> dict[str, Any]:
    """Instances stored before v2 did not say how many instances their series expects."""
    state["dicom"] = {**state["dicom"], "expected_instances": None}
    return state


def _not_derived(state: dict[str, Any]) -> dict[str, Any]:
    """Instances stored before v4 came from outside, not from a modification."""
    state["derived"] = None
    return state


def _stored_uncompressed(state: dict[str, Any]) -> dict[str, Any]:
    """Files recorded before compression existed hold their data as it is."""
    state["attachment"] = {**state["attachment"], "compression": None}
    return state


class Instance(Aggregate):
    """One SOP instance, across every time it was stored and deleted."""

    attachment_uuid: str  # the file of its DICOM data now

    class Stored(Aggregate.Created):
        class_version = 4
        instance_id: str
        series_id: str
        study_id: str
        patient_id: str
        # uuid, size, md5 of the file in the storage area (size and md5: of the DICOM data);
        # since v3 its compression: None, or how it is stored (type, size, md5 of the bytes)
        attachment: dict[str, Any]
        # transfer syntax, SOP class, IndexInSeries, PixelDataOffset; since v2 the number of
        # instances the series expects by this instance's tags (None: they do not say)
        dicom: dict[str, Any]
        tags: dict[str, dict[str, str]]  # main tags, by level name
        indexed: dict[str, str]  # the other short values (v2: numbers too): index, C-FIND
        origin: OriginFields
        # since v4, for an instance a modify or anonymize job made: {"metadata": "ModifiedFrom"
        # or "AnonymizedFrom", "sources": {level name: source ID, for each level whose ID
        # changed}, "job": its ID}; for one a split or merge job made, "metadata" is None and
        # "sources" names the instance; None for one received from outside
        derived: dict[str, Any] | None

        upcast_v1_v2 = staticmethod(_expected_instances_unknown)
        upcast_v2_v3 = staticmethod(_stored_uncompressed)
        upcast_v3_v4 = staticmethod(_not_derived)

    class StoredAgain(Aggregate.Event):
        """Stored after a delete, or over the live copy when overwriting is configured."""

        class_version = 4
        instance_id: str
        series_id: str
        study_id: str
        patient_id: str
        attachment: dict[str, Any]
        dicom: dict[str, Any]
        tags: dict[str, dict[str, str]]
        indexed: dict[str, str]
        origin: OriginFields
        replaced_attachment: str | None  # the file overwritten, None after a delete
        derived: dict[str, Any] | None  # since v4, as Stored's

        upcast_v1_v2 = staticmethod(_expected_instances_unknown)
        upcast_v2_v3 = staticmethod(_stored_uncompressed)
        upcast_v3_v4 = staticmethod(_not_derived)

    class FileCompressionChanged(Aggregate.Event):
        """The instance's DICOM file was rewritten compressed (or uncompressed): same data, a
        new file; the replaced one is removed once this is committed."""

        class_version = 1
        instance_id: str
        series_id: str
        study_id: str
        patient_id: str
        attachment: dict[str, Any]  # the new file, as Stored's (v3)
        replaced_attachment: str
        origin: OriginFields

    class Reconstructed(Aggregate.Event):
        """The file was read again (/reconstruct): its tags and DICOM facts as they read now
        (another DefaultEncoding, a newer parser). Not an Orthanc change: none is logged."""

        class_version = 1
        instance_id: str
        series_id: str
        study_id: str
        patient_id: str
        dicom: dict[str, Any]
        tags: dict[str, dict[str, str]]
        indexed: dict[str, str]
        origin: OriginFields

    class Deleted(Aggregate.Event):
        class_version = 1
        instance_id: str
        series_id: str
        study_id: str
        patient_id: str
        attachment_uuid: str
        origin: OriginFields

    @staticmethod
    def create_id(instance_id: str, **_: Any) -> UUID:
        return instance_aggregate_id(instance_id)

    @event(Stored)
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
        origin: OriginFields,
        derived: dict[str, Any] | None = None,
    ) -> None:
        self._remember(instance_id, series_id, study_id, patient_id, attachment)
        self.description = (dicom, tags, indexed)

    @event(StoredAgain)
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
        origin: OriginFields,
        replaced_attachment: str | None,
        derived: dict[str, Any] | None = None,
    ) -> None:
        self._remember(instance_id, series_id, study_id, patient_id, attachment)
        self.description = (dicom, tags, indexed)

    @event(Deleted)
    def _deleted(
        self,
        instance_id: str,
        series_id: str,
        study_id: str,
        patient_id: str,
        attachment_uuid: str,
        origin: OriginFields,
    ) -> None:
        self.live = False

    def change_file_compression(self, attachment: dict[str, Any], origin: OriginFields) -> None:
        self._file_compression_changed(
            instance_id=self.instance_id,
            series_id=self.series_id,
            study_id=self.study_id,
            patient_id=self.patient_id,
            attachment=attachment,
            replaced_attachment=self.attachment_uuid,
            origin=origin,
        )

    @event(FileCompressionChanged)
    def _file_compression_changed(
        self,
        instance_id: str,
        series_id: str,
        study_id: str,
        patient_id: str,
        attachment: dict[str, Any],
        replaced_attachment: str,
        origin: OriginFields,
    ) -> None:
        self.attachment_uuid = attachment["uuid"]

    def reconstruct(
        self,
        dicom: dict[str, Any],
        tags: dict[str, dict[str, str]],
        indexed: dict[str, str],
        origin: OriginFields,
    ) -> bool:
        """Records the description read again from the file; False if it is the same."""
        if (dicom, tags, indexed) == self.description:
            return False
        self._reconstructed(
            instance_id=self.instance_id,
            series_id=self.series_id,
            study_id=self.study_id,
            patient_id=self.patient_id,
            dicom=dicom,
            tags=tags,
            indexed=indexed,
            origin=origin,
        )
        return True

    @event(Reconstructed)
    def _reconstructed(
        self,
        instance_id: str,
        series_id: str,
        study_id: str,
        patient_id: str,
        dicom: dict[str, Any],
        tags: dict[str, dict[str, str]],
        indexed: dict[str, str],
        origin: OriginFields,
    ) -> None:
        self.description = (dicom, tags, indexed)

    def delete(self, origin: OriginFields) -> None:
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


class Resource(Aggregate):
    """A patient, study or series (or an instance, for its own metadata) as Orthanc sees it:
    the home of what is said about the resource rather than stored in it: user metadata,
    user attachments, labels, a patient's protection. Each of those has a revision (Orthanc's
    ETag and If-Match): the aggregate's version when it was last written.

    Stability lives here: "no new instance for StableAge seconds", recorded as an event so a
    replay reproduces the Stable* changes. (This class was called ResourceStability; its old
    topic is registered below, so the aggregates of existing logs load as Resources.)

    When the resource is deleted, `Forgotten` drops what was said of it (Orthanc deletes a
    resource's metadata and attachments with it), naming the attachment files to remove.
    """

    class Registered(Aggregate.Created):
        class_version = 1
        resource_id: str  # the Orthanc identifier
        level: str  # "Patient", "Study", "Series" or "Instance"
        origin: OriginFields

    class Stabilized(Aggregate.Event):
        class_version = 1
        resource_id: str
        level: str
        as_of: int  # log position of the last instance stored under the resource
        origin: OriginFields

    class MetadataSet(Aggregate.Event):
        class_version = 1
        resource_id: str
        level: str
        metadata: int  # Orthanc's metadata number (user metadata: 1024 to 65535)
        value: str
        origin: OriginFields

    class MetadataRemoved(Aggregate.Event):
        class_version = 1
        resource_id: str
        level: str
        metadata: int
        origin: OriginFields

    class AttachmentSet(Aggregate.Event):
        """Also what compressing or uncompressing an attachment records: the same data in a
        new file (Orthanc logs it as any other write of the attachment)."""

        class_version = 2
        resource_id: str
        level: str
        content_type: int  # Orthanc's content type (user attachments: 1024 to 65535)
        # uuid, size, md5 of the file in the storage area, and (v2) its compression, as
        # Instance.Stored's attachment
        attachment: dict[str, Any]
        replaced: str | None  # the file of the attachment it replaces
        origin: OriginFields

        upcast_v1_v2 = staticmethod(_stored_uncompressed)

    class AttachmentRemoved(Aggregate.Event):
        class_version = 1
        resource_id: str
        level: str
        content_type: int
        uuid: str
        origin: OriginFields

    class LabelAdded(Aggregate.Event):
        class_version = 1
        resource_id: str
        level: str
        label: str
        origin: OriginFields

    class LabelRemoved(Aggregate.Event):
        class_version = 1
        resource_id: str
        level: str
        label: str
        origin: OriginFields

    class ProtectionChanged(Aggregate.Event):
        class_version = 1
        resource_id: str
        level: str
        protected: bool
        origin: OriginFields

    class Forgotten(Aggregate.Event):
        class_version = 1
        resource_id: str
        level: str
        attachments: list[str]  # the files of its user attachments
        origin: OriginFields

    @staticmethod
    def create_id(resource_id: str, **_: Any) -> UUID:
        return resource_aggregate_id(resource_id)

    @event(Registered)
    def __init__(self, resource_id: str, level: str, origin: OriginFields) -> None:
        self.resource_id = resource_id
        self.level = level
        self.stable_as_of = 0
        self._forget()

    def _forget(self) -> None:
        self.metadata: dict[int, int] = {}  # number -> revision
        self.attachments: dict[int, tuple[str, int]] = {}  # content type -> (uuid, revision)
        self.labels: set[str] = set()
        self.protected = False

    @event(Stabilized)
    def _stabilized(self, resource_id: str, level: str, as_of: int, origin: OriginFields) -> None:
        self.stable_as_of = as_of

    @property
    def revision(self) -> int:
        return self.version

    @property
    def has_annotations(self) -> bool:
        return bool(self.metadata or self.attachments or self.labels or self.protected)

    def stabilize(self, as_of: int, origin: OriginFields) -> bool:
        """`as_of` is the log position of the resource's last stored instance."""
        if as_of <= self.stable_as_of:
            return False
        self._stabilized(resource_id=self.resource_id, level=self.level, as_of=as_of, origin=origin)
        return True

    def _about(self, origin: OriginFields) -> dict[str, Any]:
        return {"resource_id": self.resource_id, "level": self.level, "origin": origin}

    def set_metadata(self, metadata: int, value: str, origin: OriginFields) -> None:
        self._metadata_set(metadata=metadata, value=value, **self._about(origin))

    @event(MetadataSet)
    def _metadata_set(
        self, resource_id: str, level: str, metadata: int, value: str, origin: OriginFields
    ) -> None:
        self.metadata[metadata] = self.version + 1

    def remove_metadata(self, metadata: int, origin: OriginFields) -> None:
        self._metadata_removed(metadata=metadata, **self._about(origin))

    @event(MetadataRemoved)
    def _metadata_removed(
        self, resource_id: str, level: str, metadata: int, origin: OriginFields
    ) -> None:
        self.metadata.pop(metadata, None)

    def set_attachment(
        self, content_type: int, attachment: dict[str, Any], origin: OriginFields
    ) -> None:
        previous = self.attachments.get(content_type)
        self._attachment_set(
            content_type=content_type,
            attachment=attachment,
            replaced=previous[0] if previous else None,
            **self._about(origin),
        )

    @event(AttachmentSet)
    def _attachment_set(
        self,
        resource_id: str,
        level: str,
        content_type: int,
        attachment: dict[str, Any],
        replaced: str | None,
        origin: OriginFields,
    ) -> None:
        self.attachments[content_type] = (attachment["uuid"], self.version + 1)

    def remove_attachment(self, content_type: int, origin: OriginFields) -> None:
        uuid, _ = self.attachments[content_type]
        self._attachment_removed(content_type=content_type, uuid=uuid, **self._about(origin))

    @event(AttachmentRemoved)
    def _attachment_removed(
        self, resource_id: str, level: str, content_type: int, uuid: str, origin: OriginFields
    ) -> None:
        self.attachments.pop(content_type, None)

    def add_label(self, label: str, origin: OriginFields) -> bool:
        if label in self.labels:
            return False
        self._label_added(label=label, **self._about(origin))
        return True

    @event(LabelAdded)
    def _label_added(self, resource_id: str, level: str, label: str, origin: OriginFields) -> None:
        self.labels.add(label)

    def remove_label(self, label: str, origin: OriginFields) -> bool:
        if label not in self.labels:
            return False
        self._label_removed(label=label, **self._about(origin))
        return True

    @event(LabelRemoved)
    def _label_removed(
        self, resource_id: str, level: str, label: str, origin: OriginFields
    ) -> None:
        self.labels.discard(label)

    def set_protected(self, protected: bool, origin: OriginFields) -> bool:
        if protected == self.protected:
            return False
        self._protection_changed(protected=protected, **self._about(origin))
        return True

    @event(ProtectionChanged)
    def _protection_changed(
        self, resource_id: str, level: str, protected: bool, origin: OriginFields
    ) -> None:
        self.protected = protected

    def forget(self, origin: OriginFields) -> bool:
        """The resource was deleted: what was said of it goes with it."""
        if not self.has_annotations:
            return False
        files = sorted(uuid for uuid, _ in self.attachments.values())
        self._forgotten(attachments=files, **self._about(origin))
        return True

    @event(Forgotten)
    def _forgotten(
        self, resource_id: str, level: str, attachments: list[str], origin: OriginFields
    ) -> None:
        self._forget()


class ChangesLog(Aggregate):
    """Orthanc's /changes log: clearing it hides what came before, it never destroys it."""

    class Opened(Aggregate.Created):
        class_version = 1

    class Cleared(Aggregate.Event):
        class_version = 1
        origin: OriginFields

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return CHANGES_LOG_ID

    @event(Opened)
    def __init__(self) -> None:
        pass

    @event(Cleared)
    def clear(self, origin: OriginFields) -> None:
        pass


def _drop_credentials(state: dict[str, Any]) -> None:
    """Version 1 kept a peer's password, header values and key password in the event."""
    public, secrets = split_credentials(state["configuration"])
    state["configuration"] = public
    state["credentials"] = sorted(secrets)


class RemoteNode(Aggregate):
    """A DICOM modality or an Orthanc peer Chronicle talks to, defined by configuration or REST.

    `kind` is "modality" or "peer"; `source` says who defined it ("configuration" or "rest"),
    so that a start-up with an edited configuration file only touches what the file defined.
    Credentials never enter the log: they live in the secret store, and events name only
    which credentials the node has (`credentials`) and when they changed.
    """

    class Defined(Aggregate.Created):
        class_version = 2
        kind: str
        name: str
        configuration: dict[str, Any]  # without credentials
        source: str
        origin: OriginFields
        credentials: list[str]  # which credentials are set ("Password", "HttpHeaders"…)

        upcast_v1_v2 = staticmethod(_drop_credentials)

    class Updated(Aggregate.Event):
        class_version = 2
        kind: str
        name: str
        configuration: dict[str, Any]
        source: str
        origin: OriginFields
        credentials: list[str]

        upcast_v1_v2 = staticmethod(_drop_credentials)

    class CredentialsChanged(Aggregate.Event):
        """The node's credentials were set, changed or cleared (their values are elsewhere)."""

        class_version = 1
        kind: str
        name: str
        credentials: list[str]
        origin: OriginFields

    class Removed(Aggregate.Event):
        class_version = 1
        kind: str
        name: str
        origin: OriginFields

    @staticmethod
    def create_id(kind: str, name: str, **_: Any) -> UUID:
        return remote_node_aggregate_id(kind, name)

    @event(Defined)
    def __init__(
        self,
        kind: str,
        name: str,
        configuration: dict[str, Any],
        source: str,
        origin: OriginFields,
        credentials: list[str],
    ) -> None:
        self.kind = kind
        self.name = name
        self.configuration = configuration
        self.source = source
        self.credentials = credentials
        self.live = True

    @event(Updated)
    def _updated(
        self,
        kind: str,
        name: str,
        configuration: dict[str, Any],
        source: str,
        origin: OriginFields,
        credentials: list[str],
    ) -> None:
        self.configuration = configuration
        self.source = source
        self.credentials = credentials
        self.live = True

    @event(CredentialsChanged)
    def _credentials_changed(
        self, kind: str, name: str, credentials: list[str], origin: OriginFields
    ) -> None:
        self.credentials = credentials

    @event(Removed)
    def _removed(self, kind: str, name: str, origin: OriginFields) -> None:
        self.live = False

    def update(
        self,
        configuration: dict[str, Any],
        source: str,
        credentials: list[str],
        origin: OriginFields,
    ) -> None:
        self._updated(
            kind=self.kind,
            name=self.name,
            configuration=configuration,
            source=source,
            origin=origin,
            credentials=credentials,
        )

    def change_credentials(self, credentials: list[str], origin: OriginFields) -> None:
        self._credentials_changed(
            kind=self.kind, name=self.name, credentials=credentials, origin=origin
        )

    def remove(self, origin: OriginFields) -> None:
        self._removed(kind=self.kind, name=self.name, origin=origin)


class User(Aggregate):
    """A user of the HTTP surfaces. Its password never enters the log (its argon2 hash is in
    the secret store); each event names who did it (`by`: a user name, "cli" or
    "configuration") and the request's origin."""

    class Created(Aggregate.Created):
        class_version = 1
        name: str
        role: str
        source: str  # "configuration" (RegisteredUsers), "cli" or "rest"
        by: str
        origin: OriginFields

    class AddedAgain(Aggregate.Event):
        """A removed user's name given to a user again."""

        class_version = 1
        name: str
        role: str
        source: str
        by: str
        origin: OriginFields

    class PasswordChanged(Aggregate.Event):
        class_version = 1
        name: str
        by: str
        origin: OriginFields

    class RoleChanged(Aggregate.Event):
        class_version = 1
        name: str
        role: str
        by: str
        origin: OriginFields

    class DisabledChanged(Aggregate.Event):
        class_version = 1
        name: str
        disabled: bool
        by: str
        origin: OriginFields

    class Removed(Aggregate.Event):
        class_version = 1
        name: str
        by: str
        origin: OriginFields

    @staticmethod
    def create_id(name: str, **_: Any) -> UUID:
        return user_aggregate_id(name)

    @event(Created)
    def __init__(self, name: str, role: str, source: str, by: str, origin: OriginFields) -> None:
        self.name = name
        self.role = role
        self.source = source
        self.disabled = False
        self.live = True

    @event(AddedAgain)
    def _added_again(
        self, name: str, role: str, source: str, by: str, origin: OriginFields
    ) -> None:
        self.role, self.source, self.disabled, self.live = role, source, False, True

    @event(PasswordChanged)
    def _password_changed(self, name: str, by: str, origin: OriginFields) -> None:
        pass

    @event(RoleChanged)
    def _role_changed(self, name: str, role: str, by: str, origin: OriginFields) -> None:
        self.role = role

    @event(DisabledChanged)
    def _disabled_changed(self, name: str, disabled: bool, by: str, origin: OriginFields) -> None:
        self.disabled = disabled

    @event(Removed)
    def _removed(self, name: str, by: str, origin: OriginFields) -> None:
        self.live = False

    def add_again(self, role: str, source: str, by: str, origin: OriginFields) -> None:
        self._added_again(name=self.name, role=role, source=source, by=by, origin=origin)

    def change_password(self, by: str, origin: OriginFields) -> None:
        self._password_changed(name=self.name, by=by, origin=origin)

    def change_role(self, role: str, by: str, origin: OriginFields) -> None:
        self._role_changed(name=self.name, role=role, by=by, origin=origin)

    def set_disabled(self, disabled: bool, by: str, origin: OriginFields) -> None:
        self._disabled_changed(name=self.name, disabled=disabled, by=by, origin=origin)

    def remove(self, by: str, origin: OriginFields) -> None:
        self._removed(name=self.name, by=by, origin=origin)


class ApiToken(Aggregate):
    """A bearer token an admin made for a script: it acts as its user, until it expires or is
    revoked. Only a digest of its value is kept (in the secret store); the log never has it."""

    class Created(Aggregate.Created):
        class_version = 1
        token_id: str
        user: str
        description: str
        expires: str  # ISO 8601 UTC, or "" for never
        by: str
        origin: OriginFields

    class Revoked(Aggregate.Event):
        class_version = 1
        token_id: str
        by: str
        origin: OriginFields

    @staticmethod
    def create_id(token_id: str, **_: Any) -> UUID:
        return token_aggregate_id(token_id)

    @event(Created)
    def __init__(
        self,
        token_id: str,
        user: str,
        description: str,
        expires: str,
        by: str,
        origin: OriginFields,
    ) -> None:
        self.token_id = token_id
        self.user = user
        self.revoked = False

    @event(Revoked)
    def _revoked(self, token_id: str, by: str, origin: OriginFields) -> None:
        self.revoked = True

    def revoke(self, by: str, origin: OriginFields) -> None:
        self._revoked(token_id=self.token_id, by=by, origin=origin)


class Job(Aggregate):
    """One of Orthanc's jobs (store to a modality or peer, move...): its whole life is events,
    so jobs survive restarts and are visible from any process."""

    class Submitted(Aggregate.Created):
        class_version = 1
        job_type: str
        priority: int
        parameters: dict[str, Any]  # names destinations, never their configuration
        origin: OriginFields

    class Started(Aggregate.Event):
        class_version = 1
        attempt: int
        origin: OriginFields

    class Progressed(Aggregate.Event):
        class_version = 1
        progress: int
        done: list[str]  # what this step completed (instance IDs for store jobs)
        origin: OriginFields

    class Succeeded(Aggregate.Event):
        class_version = 1
        content: dict[str, Any]
        origin: OriginFields

    class Failed(Aggregate.Event):
        class_version = 1
        error_code: int
        error_description: str
        details: str
        origin: OriginFields

    class Paused(Aggregate.Event):
        class_version = 1
        origin: OriginFields

    class Resumed(Aggregate.Event):
        class_version = 1
        origin: OriginFields

    class Cancelled(Aggregate.Event):
        class_version = 1
        origin: OriginFields

    class Resubmitted(Aggregate.Event):
        class_version = 1
        origin: OriginFields

    @event(Submitted)
    def __init__(
        self,
        job_type: str,
        priority: int,
        parameters: dict[str, Any],
        origin: OriginFields,
    ) -> None:
        self.job_type = job_type
        self.priority = priority
        self.parameters = parameters
        self.origin = origin
        self.state = "Pending"
        self.progress = 0
        self.attempt = 0
        self.done: set[str] = set()

    @event(Started)
    def start(self, attempt: int, origin: OriginFields) -> None:
        self.state = "Running"
        self.attempt = attempt

    @event(Progressed)
    def progress_to(self, progress: int, done: list[str], origin: OriginFields) -> None:
        self.progress = progress
        self.done.update(done)

    @event(Succeeded)
    def succeed(self, content: dict[str, Any], origin: OriginFields) -> None:
        self.state = "Success"
        self.progress = 100

    @event(Failed)
    def fail(
        self, error_code: int, error_description: str, details: str, origin: OriginFields
    ) -> None:
        self.state = "Failure"

    @event(Paused)
    def pause(self, origin: OriginFields) -> None:
        self.state = "Paused"

    @event(Resumed)
    def resume(self, origin: OriginFields) -> None:
        self.state = "Pending"

    @event(Cancelled)
    def cancel(self, origin: OriginFields) -> None:
        self.state = "Failure"

    @event(Resubmitted)
    def resubmit(self, origin: OriginFields) -> None:
        self.state = "Pending"
        self.progress = 0
        self.done = set()


def _listed_by_itself(state: dict[str, Any]) -> dict[str, Any]:
    """Before export requests were events, /exports listed every instance sent."""
    state["listed"] = True
    return state


class ExportRecord(Aggregate):
    """One instance sent (or not) to a modality or peer: the audit trail behind /exports."""

    class Recorded(Aggregate.Created):
        class_version = 2
        instance_id: str
        series_id: str
        study_id: str
        patient_id: str
        identifiers: dict[str, str]  # PatientID, StudyInstanceUID, SeriesInstanceUID, SOP UID
        destination_kind: str
        destination: str
        remote_aet: str
        job_id: str | None
        succeeded: bool
        error: str
        origin: OriginFields
        listed: bool  # /exports lists it itself: v1 records; since v2, ExportRequest entries

        upcast_v1_v2 = staticmethod(_listed_by_itself)

    @event(Recorded)
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
        origin: OriginFields,
        listed: bool = False,
    ) -> None:
        pass


class ExportRequest(Aggregate):
    """One resource a store call named for a modality or peer, as Orthanc's /exports lists it
    (one entry for a study, whatever becomes of its instances: ExportRecord says that)."""

    class Requested(Aggregate.Created):
        class_version = 1
        resource_id: str
        level: str  # Patient, Study, Series or Instance
        identifiers: dict[str, str]  # PatientID and the UIDs down to the resource's level
        destination_kind: str
        destination: str
        job_id: str
        origin: OriginFields

    @event(Requested)
    def __init__(
        self,
        resource_id: str,
        level: str,
        identifiers: dict[str, str],
        destination_kind: str,
        destination: str,
        job_id: str,
        origin: OriginFields,
    ) -> None:
        pass


class ExportsLog(Aggregate):
    """Orthanc's /exports: clearing hides earlier entries from it, the audit trail keeps them."""

    class Opened(Aggregate.Created):
        class_version = 1

    class Cleared(Aggregate.Event):
        class_version = 1
        origin: OriginFields

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return EXPORTS_LOG_ID

    @event(Opened)
    def __init__(self) -> None:
        pass

    @event(Cleared)
    def clear(self, origin: OriginFields) -> None:
        pass


AGGREGATES: tuple[type[Aggregate], ...] = (
    Instance,
    Resource,
    ChangesLog,
    RemoteNode,
    Job,
    ExportRecord,
    ExportRequest,
    ExportsLog,
)

# Old topic -> the class stored events under that topic now load as.
RENAMED_TOPICS: dict[str, type[Aggregate]] = {
    "domain.aggregates:ResourceStability": Resource,
}
for _old_topic, _aggregate in RENAMED_TOPICS.items():
    register_topic(_old_topic, _aggregate)


def event_classes(aggregate: type[Aggregate]) -> list[type[Aggregate.Event]]:
    """The event classes an aggregate declares, in declaration order (not the `Event` and
    `Created` that eventsourcing adds to every aggregate: ours declare their own)."""
    return [
        value
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and name not in GENERATED_EVENT_CLASSES
    ]


GENERATED_EVENT_CLASSES = frozenset({"Event", "Created"})


class RuntimeSetting(Aggregate):
    """A setting Orthanc lets REST change while it runs (DefaultEncoding,
    AcceptedTransferSyntaxes, UnknownSopClassAccepted), shared by every process.

    Defined by the first change through REST: until then each process applies its
    configuration file's value, and nothing is recorded. `source` says who set a value
    ("configuration" at a start, or "rest"); `configured` is the value the configuration file
    last gave, so that a start with an unchanged file keeps a value set through REST, and a
    start with an edited one applies the file's.
    """

    class Defined(Aggregate.Created):
        class_version = 1
        name: str
        value: Any
        configured: Any
        source: str
        origin: OriginFields

    class Changed(Aggregate.Event):
        class_version = 1
        name: str
        value: Any
        source: str
        origin: OriginFields

    @staticmethod
    def create_id(name: str, **_: Any) -> UUID:
        return runtime_setting_aggregate_id(name)

    @event(Defined)
    def __init__(
        self, name: str, value: Any, configured: Any, source: str, origin: OriginFields
    ) -> None:
        self.name = name
        self.value = value
        self.configured = configured

    @event(Changed)
    def _changed(self, name: str, value: Any, source: str, origin: OriginFields) -> None:
        self.value = value
        if source == "configuration":
            self.configured = value

    def change(self, value: Any, source: str, origin: OriginFields) -> None:
        self._changed(name=self.name, value=value, source=source, origin=origin)
