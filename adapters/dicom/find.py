"""C-FIND, C-MOVE and C-GET identifiers: what they ask of the hierarchy read model, and the
answer datasets. Matching itself is projections.hierarchy.matching (never files)."""

from __future__ import annotations

from typing import Any

import attrs
import psycopg
from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

from domain.binary_numbers import BINARY_NUMBER_VRS, parse_numbers
from domain.dicom_text import Encoding, format_tag, representable, specific_character_set
from domain.levels import INSTANCE, LEVEL_SPELLINGS, PATIENT, SERIES, STUDY
from projections.hierarchy import matching, queries
from projections.hierarchy.matching import Constraint, Match, ResourceQuery

_NOT_ANSWERED = {0x00080005, 0x00080052}  # SpecificCharacterSet, QueryRetrieveLevel


class InvalidQuery(ValueError):
    """The identifier cannot be answered (no or unknown QueryRetrieveLevel)."""


@attrs.frozen
class Query:
    """`resources` is what the hierarchy matches on its main tags. As Orthanc with its default
    StorageAccessOnFind ("Always"): when the identifier holds an attribute that is not a main
    tag, each match is answered from the tags of one of its instances (`reads_instance`), and
    when such an attribute is constrained, every constraint is checked on those tags too
    (`instance_constraints`); otherwise a constraint on a lower level's main tag matches
    nothing (`unmatchable`), since Orthanc then only looks at the query level and above."""

    resources: ResourceQuery
    requested: tuple[DataElement, ...]  # the keys to answer, in the identifier's order
    level_text: str
    reads_instance: bool = False
    instance_constraints: tuple[Constraint, ...] = ()
    unmatchable: bool = False

    @property
    def level(self) -> int:
        return self.resources.level


def element_text(element: DataElement) -> str:
    """The value as the peer wrote it: multiple values joined with backslashes."""
    value = element.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join("" if item is None else str(item) for item in value)
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def parse_query(identifier: Dataset) -> Query:
    """`level_text` keeps the level as the peer wrote it: Orthanc's answers echo it."""
    level_text = str(identifier.get("QueryRetrieveLevel", "") or "").strip()
    if level_text.upper() not in LEVEL_SPELLINGS:
        raise InvalidQuery(f"unsupported QueryRetrieveLevel {level_text!r}")
    level = LEVEL_SPELLINGS[level_text.upper()]
    constraints: list[Constraint] = []
    requested: list[DataElement] = []
    for element in identifier:
        if element.tag in _NOT_ANSWERED or element.tag.element == 0 or element.tag.group == 2:
            continue  # the file meta group is never part of an answer, as in Orthanc
        requested.append(element)
        if element.VR != "SQ":
            constraints.extend(_constraints(element, level))
    keywords = {keyword_for_tag(e.tag) for e in requested}
    counters = bool(keywords & matching.COUNTERS[level])
    resources = ResourceQuery(level, tuple(constraints), counters)
    on_values = [c for e in requested if (c := _value_constraint(e)) is not None]
    other = [e for e in requested if not _is_main(e)]
    constrained = any(element_text(e).strip() for e in other if e.VR != "SQ")
    below = any(_kept_below(c.keyword, level) for c in on_values)
    return Query(
        resources,
        tuple(requested),
        level_text,
        reads_instance=bool(other),
        instance_constraints=tuple(on_values) if constrained else (),
        unmatchable=below and not constrained,
    )


def answer_key(tag: BaseTag) -> str:
    """How the records name an attribute: its keyword, or gggg,eeee (private, unknown)."""
    return keyword_for_tag(tag) or f"{tag.group:04x},{tag.element:04x}"


def _is_main(element: DataElement) -> bool:
    keyword = keyword_for_tag(element.tag)
    return keyword in matching.TAG_LEVELS or keyword in matching.ALL_COUNTERS


def _value_constraint(element: DataElement) -> Constraint | None:
    if element.VR == "SQ" or keyword_for_tag(element.tag) in matching.ALL_COUNTERS:
        return None
    try:
        text = element_text(element)
    except (ValueError, TypeError):
        return None
    return matching.value_constraint(answer_key(element.tag), _vr(element), text)


def _kept_below(keyword: str, level: int) -> bool:
    levels = matching.TAG_LEVELS.get(keyword)
    return levels is not None and min(levels) > level


def _constraints(element: DataElement, level: int) -> list[Constraint]:
    try:
        text = element_text(element)
    except (ValueError, TypeError):
        return []
    vr = _vr(element)
    if ("*" in text or "?" in text) and vr not in matching.WILDCARD_VRS:
        raise InvalidQuery(f"Wildcards are not allowed on tag {format_tag(element.tag)}")
    return matching.constraints_for(keyword_for_tag(element.tag), vr, text, level)


def _vr(element: DataElement) -> str:
    try:
        return str(dictionary_VR(element.tag))
    except KeyError:
        return str(element.VR)


def find_matches(conn: psycopg.Connection, query: Query) -> list[Match]:
    if query.unmatchable:
        return []
    matches = matching.find(conn, query.resources)
    if not query.reads_instance:
        return matches
    ids = [match.resource_id for match in matches]
    samples = queries.sample_instance_tags(conn, query.level, ids)
    answered = []
    for match in matches:
        tags = samples.get(match.resource_id, {})
        if all(matching.satisfied(c, tags.get(c.keyword)) for c in query.instance_constraints):
            answered.append(Match(match.resource_id, {**match.values, **tags}))
    return answered


def answer_dataset(
    query: Query, match: Match, retrieve_aet: str, encoding: Encoding = Encoding.LATIN1
) -> Dataset:
    """As Orthanc answers: in its DefaultEncoding (`encoding`), whatever the files' or the
    query's character set, characters that encoding cannot hold left out."""
    answer = Dataset()
    term = specific_character_set(encoding)
    if term is not None:
        answer.SpecificCharacterSet = term
    answer.QueryRetrieveLevel = query.level_text
    answer.RetrieveAETitle = retrieve_aet
    for element in query.requested:
        value = match.values.get(answer_key(element.tag), "")
        _set_answer(answer, element, representable(value, encoding) if value else value)
    return answer


def _set_answer(answer: Dataset, element: DataElement, value: str) -> None:
    tag: BaseTag = Tag(element.tag)
    if element.VR == "SQ":
        answer.add_new(tag, "SQ", [])
        return
    vr = _vr(element) if not tag.is_private else str(element.VR)
    if "or" in vr:  # ambiguous VRs (US or SS…): answer with the request's
        vr = str(element.VR)
    try:
        answer.add_new(tag, vr, parse_numbers(vr, value) if vr in BINARY_NUMBER_VRS else value)
    except (ValueError, TypeError, OverflowError):
        answer.add_new(tag, vr, None if vr in BINARY_NUMBER_VRS else "")


# --- C-MOVE / C-GET: which instances -----------------------------------------------------------

_LEVEL_KEYS = {
    PATIENT: "PatientID",
    STUDY: "StudyInstanceUID",
    SERIES: "SeriesInstanceUID",
    INSTANCE: "SOPInstanceUID",
}


@attrs.frozen
class InstanceToSend:
    instance_id: str
    series_id: str
    study_id: str
    patient_id: str
    file_uuid: str
    sop_class_uid: str
    transfer_syntax: str
    identifiers: dict[str, str]
    file_compression: str | None = None  # how the file is stored (None: as it is)


def retrieve_level(identifier: Dataset) -> int:
    """The level of a C-MOVE/C-GET identifier; guessed from its keys when absent (as Orthanc)."""
    text = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if text in LEVEL_SPELLINGS:
        return LEVEL_SPELLINGS[text]
    if text:
        raise InvalidQuery(f"unsupported QueryRetrieveLevel {text!r}")
    for level in (INSTANCE, SERIES, STUDY, PATIENT):
        if str(identifier.get(_LEVEL_KEYS[level], "") or "").strip():
            return level
    raise InvalidQuery("no QueryRetrieveLevel and no unique key")


def instances_to_send(conn: psycopg.Connection, identifier: Dataset) -> list[InstanceToSend]:
    level = retrieve_level(identifier)
    key = _LEVEL_KEYS[level]
    keys = _split(element_text(identifier[key]) if key in identifier else "")
    if not keys:
        raise InvalidQuery(f"no {key} in the identifier")
    return [_instance(row) for row in queries.instances_by_dicom_keys(conn, level, key, keys)]


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split("\\") if item.strip()]


def _instance(row: dict[str, Any]) -> InstanceToSend:
    return InstanceToSend(
        instance_id=row["id"],
        series_id=row["series_id"],
        study_id=row["study_id"],
        patient_id=row["patient_id"],
        file_uuid=row["file_uuid"],
        sop_class_uid=row["sop_class_uid"] or "",
        transfer_syntax=row["transfer_syntax"] or "",
        identifiers=row["identifiers"],
        file_compression=row.get("file_compression"),
    )
