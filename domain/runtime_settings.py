"""Settings that REST may change while the server runs, as Orthanc's /tools routes do: the
default encoding, the transfer syntaxes the DICOM server accepts, and whether it accepts unknown
SOP classes. Each is a RuntimeSetting aggregate, so every process sees a change."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from pydicom.uid import AllTransferSyntaxes

from domain.aggregates import RuntimeSetting
from domain.commands import CommandContext, existing
from domain.conflicts import retry_on_conflict
from domain.dicom_text import parse_encoding
from domain.identity import runtime_setting_aggregate_id
from domain.origin import Origin
from domain.users import CONFIGURATION

DEFAULT_ENCODING = "DefaultEncoding"
ACCEPTED_TRANSFER_SYNTAXES = "AcceptedTransferSyntaxes"
UNKNOWN_SOP_CLASS_ACCEPTED = "UnknownSopClassAccepted"
RUNTIME_SETTINGS = (DEFAULT_ENCODING, ACCEPTED_TRANSFER_SYNTAXES, UNKNOWN_SOP_CLASS_ACCEPTED)

REST = "rest"


def encoding_name(name: str) -> str:
    """The canonical name of an Orthanc encoding ("utf8" → "Utf8"); ValueError if unknown."""
    return parse_encoding(name.strip()).value


def matching_transfer_syntaxes(patterns: Sequence[str]) -> list[str]:
    """The transfer syntaxes Chronicle knows that match these UIDs or `*`/`?` patterns, in UID
    order (as Orthanc lists them)."""
    matching = {
        str(uid)
        for uid in AllTransferSyntaxes
        if any(fnmatch.fnmatchcase(str(uid), pattern.strip()) for pattern in patterns)
    }
    return sorted(matching, key=lambda uid: [int(part) for part in uid.split(".")])


class RuntimeSettingCommands(CommandContext):
    """Mixed into the Archive application."""

    @retry_on_conflict
    def set_runtime_setting(
        self, name: str, value: Any, configured: Any, origin: Origin
    ) -> int | None:
        """Records a value set through REST while the configuration file says `configured`;
        None when nothing changes (no event)."""
        setting = self._runtime_setting(name)
        if setting is None:
            setting = RuntimeSetting(
                name=name, value=value, configured=configured, source=REST, origin=origin.to_dict()
            )
        elif setting.value == value:
            return None
        else:
            setting.change(value, REST, origin.to_dict())
        return self._append(setting)

    @retry_on_conflict
    def configure_runtime_setting(self, name: str, configured: Any, origin: Origin) -> int | None:
        """At a start: the configuration file's value applies again if the file changed since
        the value was last set; None when nothing changes (no event)."""
        setting = self._runtime_setting(name)
        if setting is None or setting.configured == configured:
            return None
        setting.change(configured, CONFIGURATION, origin.to_dict())
        return self._append(setting)

    def _runtime_setting(self, name: str) -> RuntimeSetting | None:
        setting: RuntimeSetting | None = existing(
            self.repository, runtime_setting_aggregate_id(name)
        )
        return setting
