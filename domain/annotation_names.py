"""Orthanc's numbering of metadata and attachments: the system ones it defines, and the user
ones an administrator names ([UserMetadata], [UserContentType]) in 1024-65535.

A path names a metadata or an attachment by its name or its number, parsed as Orthanc does:
leniently ("01024" is 1024), names case-sensitive.
"""

from __future__ import annotations

from typing import Any

import attrs

FIRST_USER = 1024
LAST_USER = 65535

# Orthanc's MetadataType enumeration (1.11).
SYSTEM_METADATA = {
    1: "IndexInSeries",
    2: "ReceptionDate",
    3: "RemoteAET",
    4: "ExpectedNumberOfInstances",
    5: "ModifiedFrom",
    6: "AnonymizedFrom",
    7: "LastUpdate",
    8: "Origin",
    9: "TransferSyntax",
    10: "SopClassUid",
    11: "RemoteIP",
    12: "CalledAET",
    13: "HttpUsername",
    14: "PixelDataOffset",
    15: "MainDicomTagsSignature",
    16: "MainDicomSequences",
}
# Orthanc's FileContentType enumeration.
SYSTEM_ATTACHMENTS = {1: "dicom", 2: "dicom-as-json", 3: "dicom-until-pixel-data"}
DEFAULT_MIME = "application/octet-stream"


class BadNames(ValueError):
    """[UserMetadata] or [UserContentType] says something Orthanc would refuse."""


def is_user(number: int) -> bool:
    return FIRST_USER <= number <= LAST_USER


@attrs.frozen
class AnnotationNames:
    metadata: dict[str, int]  # user metadata name -> number
    attachments: dict[str, int]  # user attachment name -> content type
    mime_types: dict[int, str]  # content type -> MIME type of its data

    @classmethod
    def configured(
        cls, user_metadata: dict[str, Any], user_content_type: dict[str, Any]
    ) -> AnnotationNames:
        metadata = {name: _user_number(name, value) for name, value in user_metadata.items()}
        attachments: dict[str, int] = {}
        mime_types: dict[int, str] = {}
        for name, value in user_content_type.items():
            number, mime = (value[0], value[1]) if isinstance(value, list) else (value, None)
            attachments[name] = _user_number(name, number)
            if mime is not None:
                if not isinstance(mime, str):
                    raise BadNames(f"UserContentType {name!r}: the MIME type is not a string")
                mime_types[attachments[name]] = mime
        return cls(metadata, attachments, mime_types)

    def metadata_number(self, text: str) -> int | None:
        """The metadata a path names, None if it names none."""
        return _number(text, SYSTEM_METADATA, self.metadata)

    def attachment_number(self, text: str) -> int | None:
        return _number(text, SYSTEM_ATTACHMENTS, self.attachments)

    def metadata_name(self, number: int) -> str:
        return _name(number, SYSTEM_METADATA, self.metadata)

    def attachment_name(self, number: int) -> str:
        return _name(number, SYSTEM_ATTACHMENTS, self.attachments)

    def mime_type(self, content_type: int) -> str:
        return self.mime_types.get(content_type, DEFAULT_MIME)


def _user_number(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not is_user(value):
        raise BadNames(f"{name!r}: a user number is between {FIRST_USER} and {LAST_USER}")
    return value


def _number(text: str, system: dict[int, str], user: dict[str, int]) -> int | None:
    if text.lstrip("+-").isdigit():
        return int(text)
    for number, name in system.items():
        if name == text:
            return number
    return user.get(text)


def _name(number: int, system: dict[int, str], user: dict[str, int]) -> str:
    if number in system:
        return system[number]
    for name, value in user.items():
        if value == number:
            return name
    return str(number)
