"""Settings: defaults, then a TOML or Orthanc JSON file, then CHRONICLE_* variables, then flags."""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import attrs

from domain.dicom_structure import InputBounds

log = logging.getLogger(__name__)

ENV_PREFIX = "CHRONICLE_"
MAX_WORKERS = 64


@attrs.frozen
class Settings:
    data_dir: Path = Path("chronicle-data")
    database_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8042
    dicom_aet: str = "CHRONICLE"
    dicom_port: int = 4242
    stable_age: float = 60.0
    overwrite_instances: bool = False
    max_upload_mb: int = 2048
    # Bounds on one received file (REST, ZIP member, C-STORE, import): see domain.dicom_structure.
    max_inflated_mb: int = 64  # a Deflated-syntax dataset, once inflated
    max_dicom_elements: int = 1_000_000
    max_sequence_depth: int = 64
    default_encoding: str = "Latin1"
    name: str = "Chronicle"
    db_pool_size: int = 4
    # `chronicle serve --workers N`: N processes serving one archive on the same ports.
    workers: int = 1
    # Bind HTTP and DICOM with SO_REUSEPORT, beside the other processes of one `serve`.
    shared_ports: bool = False
    # HTTP Basic for every route [AuthenticationEnabled]; [RegisteredUsers] are admins.
    authentication_enabled: bool = False
    registered_users: dict[str, Any] = attrs.field(factory=dict)
    # With authentication on, what anonymous callers may still read: GET /system's minimal
    # form (Name, Version, ApiVersion, Implementation), the OpenAPI document under /schema.
    anonymous_system: bool = False
    anonymous_openapi: bool = False
    # HTTPS [SslEnabled]; [SslCertificate]: one PEM file with the certificate chain and key;
    # [SslVerifyPeers] asks clients for a certificate signed by [SslTrustedClientCertificates].
    ssl_enabled: bool = False
    ssl_certificate: str = ""
    ssl_verify_peers: bool = False
    ssl_trusted_client_certificates: str = ""
    # HTTPS peers: checked against the system's CAs or [HttpsCACertificates], unless
    # [HttpsVerifyPeers] is false.
    https_verify_peers: bool = True
    https_ca_certificates: str = ""
    # DICOM networking (Orthanc's option in brackets); defaults are the safe ones.
    dicom_enabled: bool = True  # [DicomServerEnabled]
    dicom_modalities: dict[str, Any] = attrs.field(factory=dict)  # [DicomModalities]
    orthanc_peers: dict[str, Any] = attrs.field(factory=dict)  # [OrthancPeers]
    dicom_always_allow_echo: bool = True  # [DicomAlwaysAllowEcho]
    dicom_always_allow_store: bool = False  # [DicomAlwaysAllowStore] (Orthanc: true)
    dicom_always_allow_find: bool = False  # [DicomAlwaysAllowFind]
    dicom_always_allow_move: bool = False  # [DicomAlwaysAllowMove]
    dicom_always_allow_get: bool = False  # [DicomAlwaysAllowGet]
    dicom_check_called_aet: bool = True  # [DicomCheckCalledAet] (Orthanc: false)
    dicom_check_modality_host: bool = False  # [DicomCheckModalityHost]
    dicom_scu_timeout: float = 10.0  # [DicomScuTimeout]
    dicom_scp_timeout: float = 30.0  # [DicomScpTimeout]
    dicom_association_close_delay: float = 5.0  # [DicomAssociationCloseDelay]
    dicom_maximum_pdu_length: int = 16384  # [MaximumPduLength]
    dicom_maximum_associations: int = 16
    # DICOM TLS (adapters/dicom/tls.py): [DicomTlsEnabled] for the SCP; the certificate, key
    # and trusted certificates serve the SCU too, towards modalities with UseDicomTls.
    dicom_tls_enabled: bool = False
    dicom_tls_certificate: str = ""
    dicom_tls_private_key: str = ""
    dicom_tls_trusted_certificates: str = ""
    dicom_tls_remote_certificate_required: bool = True
    # Connections that have not sent an A-ASSOCIATE-RQ yet (adapters/dicom/listener.py).
    dicom_pre_association_timeout: float = 5.0
    dicom_maximum_pending_connections: int = 32
    dicom_maximum_pending_per_host: int = 8
    synchronous_cmove: bool = True  # [SynchronousCMove]
    accepted_transfer_syntaxes: list[str] = attrs.field(factory=lambda: ["*"])
    unknown_sop_class_accepted: bool = False  # [UnknownSopClassAccepted]
    jobs_history_size: int = 10  # [JobsHistorySize]
    # [LogExportedResources] (Orthanc: false). Exports are always recorded for the audit
    # trail; false only keeps GET /exports empty, as Orthanc's log would be.
    log_exported_resources: bool = True
    # GET /changes lists the changes of deleted resources too, and their Deleted changes
    # (Orthanc forgets them; Chronicle's log keeps them either way: see GET /changes?history).
    changes_full_history: bool = False
    # [Dictionary] private tags named (and typed, in implicit-VR files) by the tags routes
    dictionary: dict[str, Any] = attrs.field(factory=dict)
    # [DefaultPrivateCreator] kept for modify/anonymize; naming never depends on it (Orthanc)
    default_private_creator: str = ""
    # [CheckRevisions]: writing an existing metadata or attachment needs its ETag in If-Match
    check_revisions: bool = False
    # [RestApiWriteToFileSystemEnabled]: POST /instances/{id}/export writes on this machine
    rest_api_write_to_file_system_enabled: bool = False
    metrics_enabled: bool = True  # [MetricsEnabled]: /tools/metrics-prometheus reports
    storage_compression: bool = False  # [StorageCompression]: new DICOM files zlib-compressed
    # [IngestTranscoding]: the transfer syntax every new instance is stored in ("": as it
    # came), and whether uncompressed and compressed files are transcoded to it
    ingest_transcoding: str = ""
    ingest_transcoding_of_uncompressed: bool = True
    ingest_transcoding_of_compressed: bool = True
    # Lua (adapters/lua): [ExecuteLuaEnabled] lets admins POST /tools/execute-script;
    # [LuaScripts] are run at start. Each call into Lua is stopped past these limits.
    execute_lua_enabled: bool = False
    lua_scripts: list[str] = attrs.field(factory=list)
    lua_max_instructions: int = 500_000_000
    lua_max_memory_mb: int = 256
    media_archive_size: int = 1  # [MediaArchiveSize] archive job outputs kept at once
    lua_heart_beat_period: int = 0  # [LuaHeartBeatPeriod] seconds between OnHeartBeat(); 0: never
    # [UserMetadata] name -> number (1024-65535); [UserContentType] name -> number or
    # [number, MIME type], for user attachments
    user_metadata: dict[str, Any] = attrs.field(factory=dict)
    user_content_type: dict[str, Any] = attrs.field(factory=dict)
    # Storage quotas (adapters/recycling.py), 0: no limit. [MaximumStorageSize] in MB (the
    # stored bytes of every file: DICOM files and user attachments, compressed as stored),
    # [MaximumPatientCount]; [MaximumStorageMode] "Recycle" deletes the least recently stored
    # unprotected patients to make room, "Reject" refuses the new instance.
    maximum_storage_size: int = 0
    maximum_patient_count: int = 0
    maximum_storage_mode: str = "Recycle"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def input_bounds(self) -> InputBounds:
        return InputBounds(
            max_inflated_bytes=self.max_inflated_mb * 1024 * 1024,
            max_elements=self.max_dicom_elements,
            max_depth=self.max_sequence_depth,
        )

    @property
    def maximum_storage_bytes(self) -> int:
        return self.maximum_storage_size * 1024 * 1024

    @property
    def storage_limited(self) -> bool:
        return self.maximum_storage_size > 0 or self.maximum_patient_count > 0


class ConfigError(ValueError):
    pass


_FIELD_TYPES: dict[str, type] = {
    "workers": int,
    "shared_ports": bool,
    "data_dir": Path,
    "database_url": str,
    "http_host": str,
    "http_port": int,
    "dicom_aet": str,
    "dicom_port": int,
    "stable_age": float,
    "overwrite_instances": bool,
    "max_upload_mb": int,
    "max_inflated_mb": int,
    "max_dicom_elements": int,
    "max_sequence_depth": int,
    "default_encoding": str,
    "name": str,
    "db_pool_size": int,
    "authentication_enabled": bool,
    "registered_users": dict,
    "anonymous_system": bool,
    "anonymous_openapi": bool,
    "ssl_enabled": bool,
    "ssl_certificate": str,
    "ssl_verify_peers": bool,
    "ssl_trusted_client_certificates": str,
    "https_verify_peers": bool,
    "https_ca_certificates": str,
    "dicom_enabled": bool,
    "dicom_modalities": dict,
    "orthanc_peers": dict,
    "dicom_always_allow_echo": bool,
    "dicom_always_allow_store": bool,
    "dicom_always_allow_find": bool,
    "dicom_always_allow_move": bool,
    "dicom_always_allow_get": bool,
    "dicom_check_called_aet": bool,
    "dicom_check_modality_host": bool,
    "dicom_scu_timeout": float,
    "dicom_scp_timeout": float,
    "dicom_association_close_delay": float,
    "dicom_maximum_pdu_length": int,
    "dicom_maximum_associations": int,
    "dicom_tls_enabled": bool,
    "dicom_tls_certificate": str,
    "dicom_tls_private_key": str,
    "dicom_tls_trusted_certificates": str,
    "dicom_tls_remote_certificate_required": bool,
    "dicom_pre_association_timeout": float,
    "dicom_maximum_pending_connections": int,
    "dicom_maximum_pending_per_host": int,
    "synchronous_cmove": bool,
    "accepted_transfer_syntaxes": list,
    "unknown_sop_class_accepted": bool,
    "jobs_history_size": int,
    "log_exported_resources": bool,
    "changes_full_history": bool,
    "dictionary": dict,
    "default_private_creator": str,
    "check_revisions": bool,
    "rest_api_write_to_file_system_enabled": bool,
    "metrics_enabled": bool,
    "execute_lua_enabled": bool,
    "lua_scripts": list,
    "lua_max_instructions": int,
    "lua_max_memory_mb": int,
    "lua_heart_beat_period": int,
    "media_archive_size": int,
    "storage_compression": bool,
    "ingest_transcoding": str,
    "ingest_transcoding_of_uncompressed": bool,
    "ingest_transcoding_of_compressed": bool,
    "user_metadata": dict,
    "user_content_type": dict,
    "maximum_storage_size": int,
    "maximum_patient_count": int,
    "maximum_storage_mode": str,
}
# Counts that must be whole numbers, 0 or more: neither a fraction nor true/false passes.
_COUNTS = {"maximum_storage_size", "maximum_patient_count"}
STORAGE_MODES = ("Recycle", "Reject")

# Orthanc option -> (Chronicle field, converter). Options absent here are reported as unsupported.
_ORTHANC_OPTIONS: dict[str, str] = {
    "Name": "name",
    "StorageDirectory": "data_dir",
    "HttpPort": "http_port",
    "DicomAet": "dicom_aet",
    "DicomPort": "dicom_port",
    "StableAge": "stable_age",
    "OverwriteInstances": "overwrite_instances",
    "DefaultEncoding": "default_encoding",
    "DicomServerEnabled": "dicom_enabled",
    "AuthenticationEnabled": "authentication_enabled",
    "RegisteredUsers": "registered_users",
    "DicomTlsEnabled": "dicom_tls_enabled",
    "DicomTlsCertificate": "dicom_tls_certificate",
    "DicomTlsPrivateKey": "dicom_tls_private_key",
    "DicomTlsTrustedCertificates": "dicom_tls_trusted_certificates",
    "DicomTlsRemoteCertificateRequired": "dicom_tls_remote_certificate_required",
    "SslEnabled": "ssl_enabled",
    "SslCertificate": "ssl_certificate",
    "SslVerifyPeers": "ssl_verify_peers",
    "SslTrustedClientCertificates": "ssl_trusted_client_certificates",
    "HttpsVerifyPeers": "https_verify_peers",
    "HttpsCACertificates": "https_ca_certificates",
    "DicomModalities": "dicom_modalities",
    "OrthancPeers": "orthanc_peers",
    "DicomAlwaysAllowEcho": "dicom_always_allow_echo",
    "DicomAlwaysAllowStore": "dicom_always_allow_store",
    "DicomAlwaysAllowFind": "dicom_always_allow_find",
    "DicomAlwaysAllowMove": "dicom_always_allow_move",
    "DicomAlwaysAllowGet": "dicom_always_allow_get",
    "DicomCheckCalledAet": "dicom_check_called_aet",
    "DicomCheckModalityHost": "dicom_check_modality_host",
    "DicomScuTimeout": "dicom_scu_timeout",
    "DicomScpTimeout": "dicom_scp_timeout",
    "DicomAssociationCloseDelay": "dicom_association_close_delay",
    "MaximumPduLength": "dicom_maximum_pdu_length",
    "SynchronousCMove": "synchronous_cmove",
    "AcceptedTransferSyntaxes": "accepted_transfer_syntaxes",
    "UnknownSopClassAccepted": "unknown_sop_class_accepted",
    "JobsHistorySize": "jobs_history_size",
    "LogExportedResources": "log_exported_resources",
    "Dictionary": "dictionary",
    "DefaultPrivateCreator": "default_private_creator",
    "CheckRevisions": "check_revisions",
    "RestApiWriteToFileSystemEnabled": "rest_api_write_to_file_system_enabled",
    "MetricsEnabled": "metrics_enabled",
    "StorageCompression": "storage_compression",
    "IngestTranscoding": "ingest_transcoding",
    "IngestTranscodingOfUncompressed": "ingest_transcoding_of_uncompressed",
    "IngestTranscodingOfCompressed": "ingest_transcoding_of_compressed",
    "ExecuteLuaEnabled": "execute_lua_enabled",
    "LuaScripts": "lua_scripts",
    "LuaHeartBeatPeriod": "lua_heart_beat_period",
    "MediaArchiveSize": "media_archive_size",
    "UserMetadata": "user_metadata",
    "UserContentType": "user_content_type",
    "MaximumStorageSize": "maximum_storage_size",
    "MaximumPatientCount": "maximum_patient_count",
    "MaximumStorageMode": "maximum_storage_mode",
}
# Orthanc options that are accepted silently because Chronicle's behaviour already matches them
# (RemoteAccessAllowed is handled below: it asks to listen beyond loopback).
_ORTHANC_IGNORED = {"IndexDirectory", "Plugins", "RemoteAccessAllowed"}


def _validated(settings: Settings) -> Settings:
    from domain.annotation_names import AnnotationNames, BadNames
    from domain.dicom_modification import ModificationRefused
    from domain.dicom_text import UnknownDicomTag, configured_private_entries, parse_encoding
    from domain.transcoding import requested_syntax

    if not 1 <= settings.workers <= MAX_WORKERS:
        raise ConfigError(f"workers: between 1 and {MAX_WORKERS}, not {settings.workers}")
    bounds: tuple[str, ...] = (
        "max_upload_mb",
        "max_inflated_mb",
        "max_dicom_elements",
        "max_sequence_depth",
    )
    bounds += ("dicom_maximum_pending_connections", "dicom_maximum_pending_per_host")
    for bound in bounds:
        if getattr(settings, bound) < 1:
            raise ConfigError(f"{bound}: at least 1, not {getattr(settings, bound)}")
    for name, password in settings.registered_users.items():
        if not isinstance(password, str) or not password:
            raise ConfigError(f"RegisteredUsers: the password of {name!r} must be a string")
    if settings.ssl_enabled:
        _check_file("SslCertificate", settings.ssl_certificate)
        if settings.ssl_verify_peers:
            _check_file("SslTrustedClientCertificates", settings.ssl_trusted_client_certificates)
    if settings.dicom_tls_enabled:
        _check_file("DicomTlsCertificate", settings.dicom_tls_certificate)
        _check_file("DicomTlsPrivateKey", settings.dicom_tls_private_key)
    try:
        AnnotationNames.configured(settings.user_metadata, settings.user_content_type)
    except BadNames as exc:
        raise ConfigError(f"UserMetadata/UserContentType: {exc}") from None
    for count in sorted(_COUNTS):
        value = getattr(settings, count)
        if value < 0:
            raise ConfigError(f"{_option_name(count)}: 0 or more (0: no limit), not {value}")
    if settings.maximum_storage_mode not in STORAGE_MODES:
        raise ConfigError(
            f'MaximumStorageMode: "Recycle" or "Reject", not {settings.maximum_storage_mode!r}'
        )
    if settings.dicom_pre_association_timeout <= 0:
        raise ConfigError("dicom_pre_association_timeout: a number of seconds above 0")
    try:
        parse_encoding(settings.default_encoding)
    except ValueError:
        raise ConfigError(f"unknown DefaultEncoding {settings.default_encoding!r}") from None
    try:
        configured_private_entries(settings.dictionary)
    except (ValueError, UnknownDicomTag) as error:
        raise ConfigError(f"Dictionary: {error}") from None
    for script in settings.lua_scripts:
        _check_file("LuaScripts", script)
    if settings.lua_max_instructions < 1000 or settings.lua_max_memory_mb < 1:
        raise ConfigError("lua_max_instructions: at least 1000; lua_max_memory_mb: at least 1")
    if settings.media_archive_size < 1:
        raise ConfigError("MediaArchiveSize: at least 1")
    if settings.lua_heart_beat_period < 0:
        raise ConfigError("LuaHeartBeatPeriod: a number of seconds, 0 or more")
    if settings.ingest_transcoding:
        try:
            requested_syntax(settings.ingest_transcoding)
        except ModificationRefused as refused:
            raise ConfigError(f"IngestTranscoding: {refused.details}") from None
    return settings


def _option_name(field: str) -> str:
    """The Orthanc option of a setting, with the setting's own name, for error messages."""
    option = next((key for key, value in _ORTHANC_OPTIONS.items() if value == field), None)
    return f"{option} ({field})" if option else field


def _check_file(option: str, path: str) -> None:
    if not Path(path).is_file():
        raise ConfigError(f"{option}: no such file {path!r}")


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_read_config_file(config_file))
    values.update(_read_environment(os.environ if environ is None else environ))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return _validated(Settings(**{k: _coerce(k, v) for k, v in values.items()}))


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".toml":
        try:
            return _check_known(tomllib.loads(text), path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return _from_orthanc_json(_parse_json_with_comments(text, path))


def _check_known(values: dict[str, Any], path: Path) -> dict[str, Any]:
    unknown = sorted(set(values) - set(_FIELD_TYPES))
    if unknown:
        raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")
    return values


def _parse_json_with_comments(text: str, path: Path) -> dict[str, Any]:
    pattern = r'("(?:\\.|[^"\\])*")|/\*.*?\*/|//[^\n]*'
    stripped = re.sub(pattern, lambda m: m.group(1) or "", text, flags=re.S)
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an Orthanc configuration must be a JSON object")
    return data


def _from_orthanc_json(options: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    unsupported = []
    for key, value in options.items():
        if key in _ORTHANC_OPTIONS:
            values[_ORTHANC_OPTIONS[key]] = value
        elif key not in _ORTHANC_IGNORED:
            unsupported.append(key)
    if options.get("RemoteAccessAllowed") and "http_host" not in values:
        values["http_host"] = "0.0.0.0"
    if unsupported:
        log.warning("Orthanc options not implemented yet: %s", ", ".join(sorted(unsupported)))
    return values


def _read_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    return {
        name: environ[ENV_PREFIX + name.upper()]
        for name in _FIELD_TYPES
        if ENV_PREFIX + name.upper() in environ
    }


def _coerce(name: str, value: Any) -> Any:
    if name not in _FIELD_TYPES:
        raise ConfigError(f"unknown setting {name!r}")
    kind = _FIELD_TYPES[name]
    if name in _COUNTS:
        return _whole_number(name, value)
    if kind in (dict, list):
        if isinstance(value, str):
            value = _parse_json_value(name, value)
        if not isinstance(value, kind):
            raise ConfigError(f"setting {name!r}: expected a {kind.__name__}, got {value!r}")
        return value
    try:
        if kind is bool and isinstance(value, str):
            return _parse_bool(value)
        if kind is Path:
            return Path(value)
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: invalid value {value!r}") from exc


def _whole_number(name: str, value: Any) -> int:
    """An integer as JSON or TOML write it, or its digits in a string (an environment
    variable, a flag); Orthanc would silently fall back to 0 (no limit) on anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    raise ConfigError(
        f"{_option_name(name)}: a whole number, 0 or more (0: no limit), not {value!r}"
    )


def _parse_json_value(name: str, text: str) -> Any:
    """Structured settings from environment variables are JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"setting {name!r}: invalid JSON: {exc}") from exc


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(text)


# Never handed to Lua's GetOrthancConfiguration: passwords and keys.
_SECRET_OPTIONS = {"RegisteredUsers", "SslCertificate", "DicomTlsPrivateKey"}


def orthanc_configuration(settings: Settings) -> dict[str, Any]:
    """The Orthanc options Chronicle honours, by Orthanc's names, with their values now (what
    Lua's GetOrthancConfiguration answers); secrets left out."""
    values: dict[str, Any] = {}
    for option, field in _ORTHANC_OPTIONS.items():
        if option in _SECRET_OPTIONS:
            continue
        value = getattr(settings, field)
        values[option] = str(value) if isinstance(value, Path) else value
    return values
