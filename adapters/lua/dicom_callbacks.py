"""The Lua callbacks the DICOM server asks, under Orthanc's names.

- IncomingFindRequestFilter(query, origin) rewrites each C-FIND query, as Orthanc 1.10.1: the
  query's elements as a table of "gggg,eeee" -> text (sequences and binary values as ""), the
  origin {RemoteIp, RemoteAet, CalledAet, Manufacturer}; the table it returns, tag names or
  "gggg,eeee" -> text, is the query (its sequences stay those of the original, as in Orthanc).
- Is<Group>TransferSyntaxAccepted(aet, ip, calledAet) and IsUnknownSopClassAccepted(aet, ip,
  calledAet), asked per association: true adds the group's syntaxes (or unknown SOP classes)
  to what /tools/accepted-transfer-syntaxes (and unknown-sop-class-accepted) accept, false
  takes them away. Orthanc asked them up to 1.8; since 1.9 it has the settings only, so these
  let a script written for an older Orthanc decide per calling modality.
"""

from __future__ import annotations

import logging
from typing import Any

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.tag import BaseTag, Tag

from adapters.lua.engine import Caller, LuaEngine, LuaError
from adapters.lua.values import to_lua, to_python
from domain.binary_numbers import BINARY_NUMBER_VRS, parse_numbers
from domain.passwords import ADMIN
from domain.transfer_syntax_groups import TRANSFER_SYNTAX_GROUPS

log = logging.getLogger("chronicle.lua")

FIND_FILTER = "IncomingFindRequestFilter"
UNKNOWN_SOP_CLASS = "IsUnknownSopClassAccepted"
DICOM_CALLBACKS = Caller(user="lua-dicom", role=ADMIN)
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN", "SQ"}


class FindFilterFailed(Exception):
    """IncomingFindRequestFilter failed or answered something else than a table of tags."""


def filter_find_query(engine: LuaEngine, identifier: Dataset, origin: dict[str, str]) -> Dataset:
    """The query as IncomingFindRequestFilter rewrites it (unchanged without one)."""
    if not engine.defines(FIND_FILTER):
        return identifier
    query = {_tag_text(element.tag): _text(element) for element in identifier}
    runtime = engine.runtime
    try:
        answer = engine.call(
            FIND_FILTER, to_lua(runtime, query), to_lua(runtime, origin), caller=DICOM_CALLBACKS
        )
        return _query_of(to_python(answer, keep_strings=True), identifier)
    except LuaError as error:
        log.error("Lua: %s failed: %s\n%s", FIND_FILTER, error.message, error.traceback)
        raise FindFilterFailed(error.message) from None


NEGOTIATION_CALLBACKS = (
    *(f"Is{group}TransferSyntaxAccepted" for group in TRANSFER_SYNTAX_GROUPS),
    UNKNOWN_SOP_CLASS,
)


def decides_negotiation(engine: LuaEngine) -> bool:
    """Whether the scripts define a callback negotiated_syntaxes would ask (a cheap check, so
    that an association costs nothing more when they define none)."""
    return any(map(engine.defines, NEGOTIATION_CALLBACKS))


def negotiated_syntaxes(
    engine: LuaEngine, accepted: list[str], unknown_accepted: bool, peer: tuple[str, str, str]
) -> tuple[list[str], bool]:
    """What one association may use, once the scripts' callbacks had their say. `peer`: the
    calling AE title, its address and the called AE title, the callbacks' arguments."""
    syntaxes = list(accepted)
    arguments = [part.encode() for part in peer]
    for group, uids in TRANSFER_SYNTAX_GROUPS.items():
        verdict = _ask(engine, f"Is{group}TransferSyntaxAccepted", arguments)
        if verdict is True:
            syntaxes += [uid for uid in uids if uid not in syntaxes]
        elif verdict is False:
            syntaxes = [uid for uid in syntaxes if uid not in uids]
    verdict = _ask(engine, UNKNOWN_SOP_CLASS, arguments)
    return syntaxes, unknown_accepted if verdict is None else verdict


def _ask(engine: LuaEngine, name: str, arguments: list[bytes]) -> bool | None:
    """The callback's verdict; None when the scripts define none or it failed (logged)."""
    if not engine.defines(name):
        return None
    try:
        answer = engine.call(name, *arguments, caller=DICOM_CALLBACKS)
    except LuaError as error:
        log.error("Lua: %s failed: %s\n%s", name, error.message, error.traceback)
        return None
    if not isinstance(answer, bool):
        log.error("Lua: %s must return a boolean", name)
        return None
    return answer


def _tag_text(tag: BaseTag) -> str:
    return f"{tag.group:04x},{tag.element:04x}"


def _text(element: DataElement) -> str:
    value = element.value
    if element.VR in _BINARY_VRS or value is None or isinstance(value, bytes):
        return ""
    if isinstance(value, list | tuple):
        return "\\".join("" if item is None else str(item) for item in value)
    return str(value)


def _query_of(answer: Any, original: Dataset) -> Dataset:
    if answer == []:
        answer = {}  # an empty Lua table
    if not isinstance(answer, dict) or not all(isinstance(v, str) for v in answer.values()):
        raise LuaError(
            "the filter must return a table mapping names of DICOM tags to strings"
        ) from None
    query = Dataset()
    for name, text in sorted(answer.items()):  # as Orthanc's JSON object: a later key wins
        tag = _parse_tag(name)
        query.add(_element(tag, text))
    for element in original:
        if element.VR == "SQ" and element.tag not in query:
            query.add(element)
    return query


def _parse_tag(name: str) -> BaseTag:
    keyword_tag = tag_for_keyword(name)
    if keyword_tag is not None:
        return Tag(keyword_tag)
    group, _, element = name.partition(",")
    try:
        return Tag(int(group, 16), int(element, 16))
    except ValueError:
        raise LuaError(f"the filter returned an unknown DICOM tag: {name!r}") from None


def _element(tag: BaseTag, text: str) -> DataElement:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        vr = "LO"  # a private or unknown tag: matched as text
    if vr in BINARY_NUMBER_VRS:
        try:
            return DataElement(tag, vr, parse_numbers(vr, text))
        except ValueError as error:
            raise LuaError(f"the filter set {_tag_text(tag)} to {text!r}: {error}") from None
    if vr in _BINARY_VRS:
        raise LuaError(f"the filter cannot set the binary tag {_tag_text(tag)}")
    return DataElement(tag, vr, text)
