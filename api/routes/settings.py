"""The settings Orthanc lets REST read and change while it runs: the default encoding, the
transfer syntaxes and unknown SOP classes the DICOM server accepts (shared by every process,
domain.runtime_settings), and the log verbosity of each category (this process's)."""

from __future__ import annotations

import json
import re
from typing import Any

from litestar import Request, Response, get, put
from litestar.handlers import HTTPRouteHandler

from adapters.live_settings import LiveSettings
from adapters.log_levels import CATEGORIES, LogLevels, UnknownVerbosity
from adapters.node import ReadModelWaiter
from api.context import rest_origin
from api.errors import OrthancCode, OrthancError
from api.params import boolean_body
from api.routes.metadata import empty_response, text_response
from domain.archive import Archive
from domain.runtime_settings import (
    ACCEPTED_TRANSFER_SYNTAXES,
    DEFAULT_ENCODING,
    UNKNOWN_SOP_CLASS_ACCEPTED,
    encoding_name,
    matching_transfer_syntaxes,
)

# What Orthanc's JSON reader (jsoncpp) takes for a value at the start of a body it then
# refuses: "1.2.840.10008.1.2" reads as a number, so it is not a UID pattern.
_JSON_SCALAR_START = re.compile(r"\s*(-?[0-9]|true|false|null)")


def _change(
    request: Request,
    archive: Archive,
    wait_for: ReadModelWaiter,
    live: LiveSettings,
    name: str,
    value: Any,
) -> None:
    configured = live.configured[name]
    position = archive.set_runtime_setting(name, value, configured, rest_origin(request))
    wait_for(position, ("configuration",))
    live.refresh()


@get("/tools/default-encoding", sync_to_thread=False)
def get_default_encoding(live: LiveSettings) -> Response[bytes]:
    return text_response(live.default_encoding)


@put("/tools/default-encoding", sync_to_thread=True)
def set_default_encoding(
    request: Request, body: bytes, archive: Archive, wait_for: ReadModelWaiter, live: LiveSettings
) -> Response[bytes]:
    """The encoding of instances without SpecificCharacterSet (and of C-FIND answers)."""
    try:
        encoding = encoding_name(body.decode("utf-8", "replace"))
    except ValueError:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE) from None
    _change(request, archive, wait_for, live, DEFAULT_ENCODING, encoding)
    return text_response(encoding)


@get("/tools/accepted-transfer-syntaxes", sync_to_thread=False)
def get_accepted_transfer_syntaxes(live: LiveSettings) -> list[str]:
    return live.accepted_transfer_syntaxes


@put("/tools/accepted-transfer-syntaxes", sync_to_thread=True)
def set_accepted_transfer_syntaxes(
    request: Request, body: bytes, archive: Archive, wait_for: ReadModelWaiter, live: LiveSettings
) -> list[str]:
    """A UID or pattern (`*`, `?`), as text or a JSON string, or a JSON list of them; the
    answer is the syntaxes now accepted (for new associations)."""
    syntaxes = matching_transfer_syntaxes(_transfer_syntax_patterns(body))
    _change(request, archive, wait_for, live, ACCEPTED_TRANSFER_SYNTAXES, syntaxes)
    return syntaxes


def _transfer_syntax_patterns(body: bytes) -> list[str]:
    text = body.decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except ValueError:
        if _JSON_SCALAR_START.match(text):
            raise OrthancError(OrthancCode.BAD_FILE_FORMAT) from None
        return [text]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise OrthancError(OrthancCode.BAD_FILE_FORMAT)


@get("/tools/unknown-sop-class-accepted", sync_to_thread=False)
def get_unknown_sop_class_accepted(live: LiveSettings) -> Response[bytes]:
    return text_response("1" if live.unknown_sop_class_accepted else "0")


@put("/tools/unknown-sop-class-accepted", sync_to_thread=True)
def set_unknown_sop_class_accepted(
    request: Request, body: bytes, archive: Archive, wait_for: ReadModelWaiter, live: LiveSettings
) -> Response[bytes]:
    accepted = boolean_body(body)
    _change(request, archive, wait_for, live, UNKNOWN_SOP_CLASS_ACCEPTED, accepted)
    return empty_response()


def _verbosity(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def _apply(change: Any, verbosity: str) -> Response[bytes]:
    try:
        change(verbosity)
    except UnknownVerbosity:
        raise OrthancError(
            OrthancCode.PARAMETER_OUT_OF_RANGE,
            f'Verbosity can be "default", "verbose" or "trace": {verbosity}',
        ) from None
    return empty_response()


@get("/tools/log-level", sync_to_thread=False)
def get_log_level(log_levels: LogLevels) -> Response[bytes]:
    return text_response(log_levels.overall())


@put("/tools/log-level", sync_to_thread=False)
def set_log_level(body: bytes, log_levels: LogLevels) -> Response[bytes]:
    """Every category's verbosity, in this process."""
    return _apply(log_levels.set_all, _verbosity(body))


def _category_handlers(category: str) -> list[HTTPRouteHandler]:
    path = f"/tools/log-level-{category}"

    @get(path, name=f"log-level-{category}", sync_to_thread=False)
    def get_category(log_levels: LogLevels) -> Response[bytes]:
        return text_response(log_levels.get(category))

    @put(path, name=f"log-level-{category}-put", sync_to_thread=False)
    def set_category(body: bytes, log_levels: LogLevels) -> Response[bytes]:
        return _apply(lambda verbosity: log_levels.set(category, verbosity), _verbosity(body))

    return [get_category, set_category]


settings_handlers: list[HTTPRouteHandler] = [
    get_default_encoding,
    set_default_encoding,
    get_accepted_transfer_syntaxes,
    set_accepted_transfer_syntaxes,
    get_unknown_sop_class_accepted,
    set_unknown_sop_class_accepted,
    get_log_level,
    set_log_level,
    *(handler for category in CATEGORIES for handler in _category_handlers(category)),
]
