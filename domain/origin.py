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


# Orthanc's "Origin" metadata values for the channels it knows.
_ORTHANC_ORIGIN = {Channel.REST: "RestApi", Channel.DICOM: "DicomProtocol"}


@attrs.frozen
class Origin:
    channel: Channel
    user: str = ""
    remote_ip: str = ""
    remote_aet: str = ""
    called_aet: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "channel": self.channel.value,
            "user": self.user,
            "remote_ip": self.remote_ip,
            "remote_aet": self.remote_aet,
            "called_aet": self.called_aet,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Origin:
        return cls(
            channel=Channel(data.get("channel", Channel.SYSTEM.value)),
            user=data.get("user", ""),
            remote_ip=data.get("remote_ip", ""),
            remote_aet=data.get("remote_aet", ""),
            called_aet=data.get("called_aet", ""),
        )

    @property
    def orthanc_origin(self) -> str:
        return _ORTHANC_ORIGIN.get(self.channel, "Unknown")


SYSTEM = Origin(Channel.SYSTEM)
