"""Commands on what is said of a resource rather than stored in it: user metadata, user
attachments, labels and a patient's protection (events on the Resource aggregate).

With revisions checked (Orthanc's CheckRevisions), a write over an existing item names the
revision it read (If-Match): a stale one is refused, so that two clients editing the same
metadata cannot silently overwrite each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from domain.aggregates import Resource
from domain.commands import CommandContext, existing
from domain.conflicts import retry_on_conflict
from domain.identity import resource_aggregate_id
from domain.origin import Origin


class RevisionRequired(Exception):
    """An existing item is written without saying which revision it replaces."""


class RevisionMismatch(Exception):
    """The revision the client read is no longer the item's."""


class NoSuchItem(LookupError):
    """The metadata or attachment to remove or check is not there."""


@attrs.frozen
class Revisions:
    """What a write says of the revision it replaces. `expected` None: the client sent no
    If-Match; `checked` False: revisions are not checked (Orthanc's default), but an If-Match
    that is sent is checked all the same, as Orthanc does."""

    expected: int | None = None
    checked: bool = False

    def allow(self, current: int | None) -> None:
        if self.expected is not None and self.expected != current:
            raise RevisionMismatch(f"the item is at revision {current}, not {self.expected}")
        if self.expected is None and self.checked and current is not None:
            raise RevisionRequired("this item exists: say which revision you replace")


@attrs.frozen
class Written:
    position: int  # of the event in the log
    revision: int  # of the item now


class AnnotationCommands(CommandContext):
    """Mixed into the Archive application."""

    def annotated(self, resource_id: str) -> Resource | None:
        """The resource's aggregate, None when nothing was ever said of it."""
        resource: Resource | None = existing(self.repository, resource_aggregate_id(resource_id))
        return resource

    def _resource(self, resource_id: str, level: str, origin: Origin) -> Resource:
        """The resource's aggregate; a new one (not yet saved) if nothing was said of it."""
        return self.annotated(resource_id) or Resource(
            resource_id=resource_id, level=level, origin=origin.to_dict()
        )

    @retry_on_conflict
    def set_metadata(
        self,
        resource_id: str,
        level: str,
        metadata: int,
        value: str,
        origin: Origin,
        revisions: Revisions = Revisions(),
    ) -> Written:
        resource = self._resource(resource_id, level, origin)
        revisions.allow(resource.metadata.get(metadata))
        resource.set_metadata(metadata, value, origin.to_dict())
        return Written(self._append(resource), resource.metadata[metadata])

    @retry_on_conflict
    def remove_metadata(
        self,
        resource_id: str,
        metadata: int,
        origin: Origin,
        revisions: Revisions = Revisions(),
    ) -> int:
        resource = self.annotated(resource_id)
        if resource is None or metadata not in resource.metadata:
            raise NoSuchItem(f"no metadata {metadata}")
        revisions.allow(resource.metadata[metadata])
        resource.remove_metadata(metadata, origin.to_dict())
        return self._append(resource)

    @retry_on_conflict
    def set_attachment(
        self,
        resource_id: str,
        level: str,
        content_type: int,
        attachment: dict[str, Any],
        origin: Origin,
        revisions: Revisions = Revisions(),
    ) -> Written:
        """`attachment`: uuid, size, md5 of a file already durable in the storage area."""
        resource = self._resource(resource_id, level, origin)
        current = resource.attachments.get(content_type)
        revisions.allow(current[1] if current else None)
        resource.set_attachment(content_type, attachment, origin.to_dict())
        return Written(self._append(resource), resource.attachments[content_type][1])

    @retry_on_conflict
    def change_attachment_compression(
        self,
        resource_id: str,
        content_type: int,
        source: str,
        attachment: dict[str, Any],
        origin: Origin,
    ) -> Written:
        """The attachment's data, rewritten from its file `source` into the file `attachment`
        (uuid, size, md5, compression) already durable in the storage area. Raises
        RevisionMismatch when the attachment no longer is in `source` (written meanwhile)."""
        resource = self.annotated(resource_id)
        if resource is None or content_type not in resource.attachments:
            raise NoSuchItem(f"no attachment {content_type}")
        if resource.attachments[content_type][0] != source:
            raise RevisionMismatch(f"attachment {content_type} was written meanwhile")
        resource.set_attachment(content_type, attachment, origin.to_dict())
        return Written(self._append(resource), resource.attachments[content_type][1])

    @retry_on_conflict
    def remove_attachment(
        self,
        resource_id: str,
        content_type: int,
        origin: Origin,
        revisions: Revisions = Revisions(),
    ) -> int:
        resource = self.annotated(resource_id)
        if resource is None or content_type not in resource.attachments:
            raise NoSuchItem(f"no attachment {content_type}")
        revisions.allow(resource.attachments[content_type][1])
        resource.remove_attachment(content_type, origin.to_dict())
        return self._append(resource)

    @retry_on_conflict
    def set_label(
        self, resource_id: str, level: str, label: str, present: bool, origin: Origin
    ) -> int | None:
        """Adds or removes the label; None when the resource already is as asked."""
        resource = self._resource(resource_id, level, origin)
        if present:
            changed = resource.add_label(label, origin.to_dict())
        else:
            changed = resource.remove_label(label, origin.to_dict())
        return self._append(resource) if changed else None

    @retry_on_conflict
    def set_protected(
        self, resource_id: str, level: str, protected: bool, origin: Origin
    ) -> int | None:
        resource = self._resource(resource_id, level, origin)
        if not resource.set_protected(protected, origin.to_dict()):
            return None
        return self._append(resource)

    def forgotten(self, resource_ids: Sequence[str], origin: Origin) -> list[Resource]:
        """The aggregates of these (deleted) resources that had something said of them, each
        with its Forgotten event pending: saved by the delete, in its transaction."""
        loaded = self._existing_many([resource_aggregate_id(i) for i in resource_ids])
        return [resource for resource in loaded.values() if resource.forget(origin.to_dict())]
