"""Orthanc's error codes (its ErrorCode enumeration) that Chronicle answers with: the number
and message of each, and the HTTP status Orthanc gives it. The API answers them as Orthanc's
JSON error (api.errors); jobs record them as their ErrorCode and ErrorDescription."""

from __future__ import annotations

from enum import Enum


class OrthancCode(Enum):
    """Orthanc's ErrorCode values used by Chronicle: (number, message, HTTP status)."""

    INTERNAL_ERROR = (-1, "Internal error", 500)
    NOT_IMPLEMENTED = (2, "Not implemented yet", 500)  # Orthanc answers its own gaps so
    UNSUPPORTED_HERE = (2, "Not implemented yet", 501)  # what Chronicle does not do (yet)
    PARAMETER_OUT_OF_RANGE = (3, "Parameter out of range", 400)
    BAD_PARAMETER_TYPE = (5, "Bad type for a parameter", 400)
    BAD_SEQUENCE_OF_CALLS = (6, "Bad sequence of calls", 400)
    INEXISTENT_ITEM = (7, "Accessing an inexistent item", 404)
    BAD_REQUEST = (8, "Bad request", 400)
    NETWORK_PROTOCOL = (9, "Error in the network protocol", 500)
    DATABASE = (11, "Error in the database engine", 500)
    URI_SYNTAX = (12, "Badly formatted URI", 400)
    INEXISTENT_FILE = (13, "Inexistent file", 404)
    CANNOT_WRITE_FILE = (14, "Cannot write to file", 500)
    BAD_FILE_FORMAT = (15, "Bad file format", 400)
    TIMEOUT = (16, "Timeout", 500)
    CORRUPTED_FILE = (20, "Corrupted file (e.g. inconsistent MD5 hash)", 500)
    UNKNOWN_RESOURCE = (17, "Unknown resource", 404)
    FULL_STORAGE = (19, "The file storage is full", 500)
    INEXISTENT_TAG = (21, "Inexistent tag", 404)
    UNKNOWN_DICOM_TAG = (27, "Unknown DICOM tag", 500)
    BAD_JSON = (28, "Cannot parse a JSON document", 400)
    CANNOT_STORE_INSTANCE = (2018, "Cannot store an instance", 500)
    CREATE_DICOM_NOT_STRING = (
        2019,
        "Only string values are supported when creating DICOM instances",
        400,
    )
    CREATE_DICOM_OVERRIDE_TAG = (
        2020,
        "Trying to override a value inherited from a parent module",
        400,
    )
    CREATE_DICOM_USE_CONTENT = (
        2021,
        'Use "Content" to inject an image into a new DICOM instance',
        400,
    )
    CREATE_DICOM_USE_DATA_URI_SCHEME = (
        2023,
        "The payload of the DICOM instance must be specified according to Data URI scheme",
        400,
    )
    CREATE_DICOM_BAD_PARENT = (
        2024,
        "Trying to attach a new DICOM instance to an inexistent resource",
        400,
    )
    CREATE_DICOM_PARENT_IS_INSTANCE = (
        2025,
        "Trying to attach a new DICOM instance to an instance (must be a series, study or patient)",
        400,
    )
    CANNOT_EXECUTE_LUA = (2031, "Cannot execute a Lua command", 500)
    CANNOT_ORDER_SLICES = (2040, "Unable to order the slices of the series", 500)
    EMPTY_REQUEST = (33, "The request is empty", 400)
    REVISION = (
        43,
        "A bad revision number was provided, which might indicate conflict between multiple "
        "writers",
        409,
    )
    # Orthanc 1.10 has no code for a known user whose role may not call a route.
    FORBIDDEN = (-1, "Forbidden", 403)

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def message(self) -> str:
        return self.value[1]

    @property
    def http_status(self) -> int:
        return self.value[2]
