"""Who and what caused an event."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attrs


class Channel(StrEnum):
    REST = "REST"
    DICOM = "DICOM"
    CLI = "CLI"
    WATCHER = "WATCHER"
    ROUTING = "ROUTING"
    SYSTEM = "SYSTEM"
    LUA = "LUA"  # a Lua script's call of the REST API


# Orthanc's "Origin" metadata values for the channels it knows.
_ORTHANC_ORIGIN = {Channel.REST: "RestApi", Channel.DICOM: "DicomProtocol", Channel.LUA: "Lua"}


@attrs.frozen
class Origin:
    channel: Channel
    user: str = ""
    remote_ip: str = ""
    remote_aet: str = ""
    called_aet: str = ""
    # Why a command ran when the caller asked for something else: RECYCLING for the patients
    # a store deleted to make room. Empty (and left out of events) for what was asked.
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        fields = {
            "channel": self.channel.value,
            "user": self.user,
            "remote_ip": self.remote_ip,
            "remote_aet": self.remote_aet,
            "called_aet": self.called_aet,
        }
        if self.reason:
            fields["reason"] = self.reason
        return fields

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Origin:
        return cls(
            channel=Channel(data.get("channel", Channel.SYSTEM.value)),
            user=data.get("user", ""),
            remote_ip=data.get("remote_ip", ""),
            remote_aet=data.get("remote_aet", ""),
            called_aet=data.get("called_aet", ""),
            reason=data.get("reason", ""),
        )

    @property
    def orthanc_origin(self) -> str:
        return _ORTHANC_ORIGIN.get(self.channel, "Unknown")

    def because(self, reason: str) -> Origin:
        """The same caller, for a command it caused without asking for it."""
        return attrs.evolve(self, reason=reason)


SYSTEM = Origin(Channel.SYSTEM)
# The reason of the deletes a store makes to stay within the storage quotas.
RECYCLING = "recycling"
