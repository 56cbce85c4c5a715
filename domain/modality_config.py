"""Orthanc's modality and peer definitions, normalised and validated (pure: no I/O).

A modality is given as Orthanc accepts it, in the configuration file or by
`PUT /modalities/{id}`: the array form `[AET, Host, Port(, Manufacturer)]` or the object form
`{"AET", "Host", "Port", "Manufacturer", "AllowStore", ...}`. It is stored in the shape Orthanc
1.11 answers on `GET /modalities/{id}/configuration` (every key, with its default).

A peer is `[Url(, Username, Password)]` or `{"Url", "Username", "Password", "HttpHeaders", ...}`.
It is stored whole (the sender needs the password and header values) and shown through
`public_peer()`, which, as Orthanc does, never shows the password or header values.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

MAX_AET_LENGTH = 16

# Orthanc's manufacturer names; obsolete ones map to the value Orthanc 1.11 uses for them.
MANUFACTURERS = {
    "Generic": "Generic",
    "GenericNoWildcardInDates": "GenericNoWildcardInDates",
    "GenericNoUniversalWildcard": "GenericNoUniversalWildcard",
    "Vitrea": "Vitrea",
    "GE": "GE",
    "StoreScp": "StoreScp",
    "AgfaImpax": "GenericNoWildcardInDates",
    "EFilm2": "GenericNoWildcardInDates",
    "SyngoVia": "GenericNoWildcardInDates",
    "ClearCanvas": "Generic",
    "Dcm4Chee": "Generic",
    "MedInria": "Generic",
}

_PERMISSIONS = (
    "AllowEcho",
    "AllowFind",
    "AllowFindWorklist",
    "AllowGet",
    "AllowMove",
    "AllowStore",
    "AllowNAction",
    "AllowEventReport",
    "AllowTranscoding",
)


class ConfigProblem(Enum):
    BAD_FORMAT = "bad format"  # Orthanc's BadFileFormat (15)
    OUT_OF_RANGE = "out of range"  # Orthanc's ParameterOutOfRange (3)


class RemoteNodeConfigError(ValueError):
    """A modality or peer definition Orthanc would refuse; `problem` says which error code."""

    def __init__(self, problem: ConfigProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def _bad(message: str) -> RemoteNodeConfigError:
    return RemoteNodeConfigError(ConfigProblem.BAD_FORMAT, message)


def _out_of_range(message: str) -> RemoteNodeConfigError:
    return RemoteNodeConfigError(ConfigProblem.OUT_OF_RANGE, message)


# ---------------------------------------------------------------------------------------------
# Modalities


def _refuse_nul(value: Any) -> None:
    """No NUL anywhere: the read models could never store such a definition's event."""
    if isinstance(value, str) and "\x00" in value:
        raise _out_of_range("A NUL character is not allowed in a definition")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key)
            _refuse_nul(item)
    if isinstance(value, list):
        for item in value:
            _refuse_nul(item)


def normalise_modality(value: Any) -> dict[str, Any]:
    """The full Orthanc 1.11 configuration object of a modality, or RemoteNodeConfigError."""
    _refuse_nul(value)
    if isinstance(value, list):
        return _modality_from_array(value)
    if isinstance(value, dict):
        return _modality_from_object(value)
    raise _bad("a modality is an array [AET, Host, Port] or an object with AET, Host and Port")


def _modality_defaults(aet: str, host: str, port: int, manufacturer: str) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "AET": aet,
        "Host": host,
        "Port": port,
        "Manufacturer": manufacturer,
        "LocalAet": "",
        "Timeout": 0,
        "UseDicomTls": False,
    }
    configuration.update(dict.fromkeys(_PERMISSIONS, True))
    return dict(sorted(configuration.items()))


def _modality_from_array(value: list[Any]) -> dict[str, Any]:
    if len(value) not in (3, 4):
        raise _bad("a modality array is [AET, Host, Port] or [AET, Host, Port, Manufacturer]")
    aet = ae_title(value[0], "AET")
    host = _host(value[1])
    port = _port(value[2])
    manufacturer = _manufacturer(value[3] if len(value) == 4 else "Generic")
    return _modality_defaults(aet, host, port, manufacturer)


def _modality_from_object(value: dict[str, Any]) -> dict[str, Any]:
    aet = ae_title(value.get("AET"), "AET")
    host = _host(value.get("Host"))
    if "Port" not in value:
        raise _bad("Missing field: Port")
    port = _port(value["Port"])
    manufacturer = _manufacturer(value.get("Manufacturer", "Generic"))
    configuration = _modality_defaults(aet, host, port, manufacturer)
    for key in _PERMISSIONS:
        if key in value:
            configuration[key] = _boolean(value[key], key)
    if "AllowStorageCommitment" in value:
        allowed = _boolean(value["AllowStorageCommitment"], "AllowStorageCommitment")
        configuration["AllowNAction"] = configuration["AllowEventReport"] = allowed
    if "UseDicomTls" in value:
        configuration["UseDicomTls"] = _boolean(value["UseDicomTls"], "UseDicomTls")
    if value.get("LocalAet") not in (None, ""):
        configuration["LocalAet"] = ae_title(value["LocalAet"], "LocalAet")
    if "Timeout" in value:
        configuration["Timeout"] = _timeout(value["Timeout"])
    return configuration


def ae_title(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"String value expected in field: {field}")
    aet = value.strip()
    if len(aet) > MAX_AET_LENGTH:
        raise _out_of_range(f"{field} is longer than {MAX_AET_LENGTH} characters: {aet!r}")
    if "\\" in aet or not aet.isascii() or any(ord(c) < 32 for c in aet):
        raise _out_of_range(
            f"{field} holds a backslash, a control or a non-ASCII character: {aet!r}"
        )
    return aet


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad("String value expected in field: Host")
    return value.strip()


def _port(value: Any) -> int:
    if isinstance(value, bool):
        raise _bad("Integer value expected in field: Port")
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]+", value.strip()):
            raise _bad(f"Integer value expected in field: Port, found: {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise _bad("Integer value expected in field: Port")
    if not 1 <= value <= 65534:
        raise _out_of_range(f"A TCP port number must be in range [1..65534], but found: {value}")
    return value


def _manufacturer(value: Any) -> str:
    if not isinstance(value, str) or value not in MANUFACTURERS:
        raise _out_of_range(f'Unknown modality manufacturer: "{value}"')
    return MANUFACTURERS[value]


def _boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"Boolean value expected in field: {field}")
    return value


def _timeout(value: Any) -> int:
    return checked_timeout(value, _bad, _out_of_range)


MAX_TIMEOUT = 2**32 - 1  # Orthanc reads Timeout as an unsigned 32-bit number of seconds


def checked_timeout(value: Any, bad: Any, out_of_range: Any) -> int:
    """A Timeout in seconds (0: the default), as Orthanc accepts it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad("Integer value expected in field: Timeout")
    if not 0 <= value <= MAX_TIMEOUT:
        raise out_of_range(f"Timeout must be in range [0..{MAX_TIMEOUT}], found: {value}")
    return value


# ---------------------------------------------------------------------------------------------
# Peers


def normalise_peer(value: Any) -> dict[str, Any]:
    """A peer's stored configuration (secrets included), or RemoteNodeConfigError."""
    _refuse_nul(value)
    if isinstance(value, list):
        return _peer_from_array(value)
    if isinstance(value, dict):
        return _peer_from_object(value)
    raise _bad("a peer is an array [Url, Username, Password] or an object with a Url")


def _peer_from_array(value: list[Any]) -> dict[str, Any]:
    if len(value) not in (1, 3):
        raise _bad("a peer array is [Url] or [Url, Username, Password]")
    fields = {"Url": value[0]}
    if len(value) == 3:
        fields.update(Username=value[1], Password=value[2])
    return _peer_from_object(fields)


def _peer_from_object(value: dict[str, Any]) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "Url": _url(value.get("Url")),
        "HttpHeaders": _headers(value.get("HttpHeaders", {})),
        "Pkcs11": _boolean(value.get("Pkcs11", False), "Pkcs11"),
        "Timeout": _timeout(value.get("Timeout", 0)),
    }
    username = _optional_string(value, "Username")
    if username:
        configuration["Username"] = username
        configuration["Password"] = _optional_string(value, "Password")
    elif _optional_string(value, "Password"):
        raise _bad("Password given without a Username")
    for key in ("CertificateFile", "CertificateKeyFile", "CertificateKeyPassword"):
        if _optional_string(value, key):
            configuration[key] = value[key]
    return configuration


def _url(value: Any) -> str:
    if value is None or value == "":
        raise _bad("Empty URL")
    if not isinstance(value, str):
        raise _bad("String value expected in field: Url")
    url = value.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise _bad(f"A peer URL starts with http:// or https://, found: {url!r}")
    return url if url.endswith("/") else url + "/"


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _bad("HttpHeaders is an object of strings")
    return dict(value)


def _optional_string(value: dict[str, Any], field: str) -> str:
    found = value.get(field, "")
    if not isinstance(found, str):
        raise _bad(f"String value expected in field: {field}")
    return found


def public_peer(configuration: dict[str, Any]) -> dict[str, Any]:
    """What `GET /peers/{id}/configuration` shows: no password, header names only."""
    shown: dict[str, Any] = {
        "HttpHeaders": sorted(configuration.get("HttpHeaders", {})),
        "Pkcs11": configuration.get("Pkcs11", False),
        "Timeout": configuration.get("Timeout", 0),
        "Url": configuration["Url"],
    }
    if configuration.get("Username"):
        shown["Username"] = configuration["Username"]
        shown["Password"] = None
    if configuration.get("CertificateFile"):
        shown["CertificateFile"] = configuration["CertificateFile"]
        shown["CertificateKeyFile"] = None
        shown["CertificateKeyPassword"] = None
    return dict(sorted(shown.items()))
