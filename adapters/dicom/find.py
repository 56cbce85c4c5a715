"""C-FIND answered from the hierarchy projection (never from files), with Orthanc's rules.

A query becomes one SQL statement over hierarchy.resources (the resources at the query level
joined to their ancestors, constraints on lower levels as EXISTS sub-queries), plus one
aggregate statement for the computed attributes (NumberOf*, ModalitiesInStudy,
SOPClassesInStudy) when they are requested.

Matching follows Orthanc 1.11 (DatabaseLookup): an empty value is universal; a value with
"-" on a DA/DT/TM attribute is a range; a value with "\\" is a list of single values; "*"
and "?" are wildcards on AE/CS/LO/LT/PN/SH/ST/UC/UR/UT; anything else is single value
matching. Matching is case-sensitive except for PN (Orthanc's CaseSensitivePN is false).
Constraints on attributes the hierarchy does not keep are ignored (their value is answered
empty), as Orthanc does with StorageAccessOnFind set to Never.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import psycopg
from psycopg.rows import dict_row
from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

from domain.main_tags import MAIN_TAGS

PATIENT, STUDY, SERIES, INSTANCE = 0, 1, 2, 3
QUERY_LEVELS = {"PATIENT": PATIENT, "STUDY": STUDY, "SERIES": SERIES, "IMAGE": INSTANCE}
QUERY_LEVELS["INSTANCE"] = INSTANCE
ANCESTOR_COLUMN = {PATIENT: "patient_id", STUDY: "study_id", SERIES: "series_id"}
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
RANGE_VRS = frozenset({"DA", "DT", "TM"})
UTF8 = "ISO_IR 192"

# keyword -> levels whose main tags hold it
_TAG_LEVELS: dict[str, list[int]] = {}
for _level, _keywords in enumerate(MAIN_TAGS.values()):
    for _keyword in _keywords:
        _TAG_LEVELS.setdefault(_keyword, []).append(_level)
_TAG_LEVELS["SOPClassUID"] = [INSTANCE]  # the sop_class_uid column

COUNTERS: dict[int, frozenset[str]] = {
    PATIENT: frozenset(
        {
            "NumberOfPatientRelatedStudies",
            "NumberOfPatientRelatedSeries",
            "NumberOfPatientRelatedInstances",
        }
    ),
    STUDY: frozenset(
        {
            "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
            "ModalitiesInStudy",
            "SOPClassesInStudy",
        }
    ),
    SERIES: frozenset({"NumberOfSeriesRelatedInstances"}),
    INSTANCE: frozenset(),
}
_ALL_COUNTERS = frozenset().union(*COUNTERS.values())
_NEVER_MATCHED = _ALL_COUNTERS - {"ModalitiesInStudy"}
_NOT_ANSWERED = {0x00080005, 0x00080052}  # SpecificCharacterSet, QueryRetrieveLevel


class InvalidQuery(ValueError):
    """The identifier cannot be answered (no or unknown QueryRetrieveLevel)."""


@attrs.frozen
class Constraint:
    keyword: str
    level: int  # where the attribute is kept
    kind: str  # "equal", "list", "wildcard", "range"
    values: tuple[str, ...]
    case_sensitive: bool


@attrs.frozen
class Query:
    level: int
    constraints: tuple[Constraint, ...]
    requested: tuple[DataElement, ...]  # the keys to answer, in the identifier's order
    level_text: str


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
    level_text = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if level_text not in QUERY_LEVELS:
        raise InvalidQuery(f"unsupported QueryRetrieveLevel {level_text!r}")
    level = QUERY_LEVELS[level_text]
    constraints: list[Constraint] = []
    requested: list[DataElement] = []
    for element in identifier:
        if element.tag in _NOT_ANSWERED or element.tag.element == 0:
            continue
        requested.append(element)
        if element.VR != "SQ":
            constraints.extend(_constraints(element, level))
    return Query(level, tuple(constraints), tuple(requested), level_text)


def _constraints(element: DataElement, level: int) -> list[Constraint]:
    keyword = keyword_for_tag(element.tag)
    try:
        text = element_text(element).strip()
    except (ValueError, TypeError):
        return []
    if not text or keyword in _NEVER_MATCHED:
        return []
    if keyword == "ModalitiesInStudy":
        items = tuple(sorted({item.strip() for item in text.split("\\") if item.strip()}))
        return [Constraint("Modality", SERIES, "list", items, True)] if items else []
    if keyword not in _TAG_LEVELS:
        return []  # not kept by the hierarchy: Orthanc would read the files
    vr = _vr(element)
    return [_constraint(keyword, _attribute_level(keyword, level), vr, text)]


def _vr(element: DataElement) -> str:
    try:
        return str(dictionary_VR(element.tag))
    except KeyError:
        return str(element.VR)


def _attribute_level(keyword: str, query_level: int) -> int:
    levels = _TAG_LEVELS[keyword]
    at_or_above = [level for level in levels if level <= query_level]
    return max(at_or_above) if at_or_above else min(levels)


def _constraint(keyword: str, level: int, vr: str, text: str) -> Constraint:
    sensitive = vr != "PN"
    if vr in RANGE_VRS and "-" in text:
        lower, _, upper = text.partition("-")
        return Constraint(keyword, level, "range", (lower.strip(), upper.strip()), sensitive)
    if "\\" in text:
        items = tuple(item.strip() for item in text.split("\\"))
        return Constraint(keyword, level, "list", items, sensitive)
    if vr in WILDCARD_VRS and ("*" in text or "?" in text):
        if set(text) == {"*"}:
            return Constraint(keyword, level, "any", (), sensitive)
        return Constraint(keyword, level, "wildcard", (text,), sensitive)
    return Constraint(keyword, level, "equal", (text,), sensitive)


# --- SQL -------------------------------------------------------------------------------------


def _alias(level: int, query_level: int) -> str:
    return "r" if level == query_level else f"a{level}"


def _value_sql(alias: str, keyword: str) -> str:
    if keyword == "SOPClassUID":
        return f"{alias}.sop_class_uid"
    return f"({alias}.main_tags->>'{keyword}')"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _condition(alias: str, constraint: Constraint) -> tuple[str, list[Any]]:
    column = _value_sql(alias, constraint.keyword)
    values = list(constraint.values)
    if not constraint.case_sensitive:
        column = f"upper({column})"
        values = [value.upper() for value in values]
    if constraint.kind == "any":
        return "TRUE", []
    if constraint.kind == "equal":
        return f"{column} = %s", values
    if constraint.kind == "list":
        return f"{column} = ANY(%s)", [values]
    if constraint.kind == "wildcard":
        return f"{column} LIKE %s ESCAPE '\\'", [_like_pattern(values[0])]
    lower, upper = values
    parts, params = [], []
    if lower:
        parts.append(f"{column} >= %s")
        params.append(lower)
    if upper:
        parts.append(f"{column} <= %s")
        params.append(upper)
    return " AND ".join(parts) or "TRUE", params


def build_sql(query: Query) -> tuple[str, list[Any]]:
    level = query.level
    columns = ["r.id", "r.sop_class_uid"] + [
        f"{_alias(k, level)}.main_tags AS tags{k}" for k in range(level + 1)
    ]
    joins = [
        f"JOIN hierarchy.resources a{k} ON a{k}.id = r.{ANCESTOR_COLUMN[k]}" for k in range(level)
    ]
    where, params = ["r.level = %s"], [level]
    for constraint in query.constraints:
        if constraint.level <= level:
            sql, values = _condition(_alias(constraint.level, level), constraint)
            where.append(sql)
            params.extend(values)
    for child_level in range(level + 1, INSTANCE + 1):
        sql, values = _descendant_condition(query, child_level)
        if sql:
            where.append(sql)
            params.extend(values)
    statement = (
        f"SELECT {', '.join(columns)} FROM hierarchy.resources r {' '.join(joins)} "
        f"WHERE {' AND '.join(where)} ORDER BY r.created_position"
    )
    return statement, params


def _descendant_condition(query: Query, child_level: int) -> tuple[str, list[Any]]:
    """One child of that level must match every constraint kept at that level."""
    constraints = [c for c in query.constraints if c.level == child_level]
    if not constraints:
        return "", []
    alias = f"d{child_level}"
    parts = [f"{alias}.level = {child_level}", f"{alias}.{ANCESTOR_COLUMN[query.level]} = r.id"]
    params: list[Any] = []
    for constraint in constraints:
        sql, values = _condition(alias, constraint)
        parts.append(sql)
        params.extend(values)
    return f"EXISTS (SELECT 1 FROM hierarchy.resources {alias} WHERE {' AND '.join(parts)})", params


def _counters(conn: psycopg.Connection, level: int, ids: list[str]) -> dict[str, dict[str, Any]]:
    column = ANCESTOR_COLUMN[level]
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            f"SELECT {column} AS id, "
            "count(*) FILTER (WHERE level = 1) AS studies, "
            "count(*) FILTER (WHERE level = 2) AS series, "
            "count(*) FILTER (WHERE level = 3) AS instances, "
            "array_agg(DISTINCT main_tags->>'Modality') FILTER (WHERE level = 2) AS modalities, "
            "array_agg(DISTINCT sop_class_uid) FILTER (WHERE level = 3) AS sop_classes "
            f"FROM hierarchy.resources WHERE {column} = ANY(%s) AND level > %s GROUP BY {column}",
            (ids, level),
        )
        return {row["id"]: row for row in cursor.fetchall()}


def _counter_values(level: int, row: dict[str, Any] | None) -> dict[str, str]:
    row = row or {}

    def count(name: str) -> str:
        return str(row.get(name) or 0)

    def joined(name: str) -> str:
        return "\\".join(sorted(v for v in (row.get(name) or []) if v))

    if level == PATIENT:
        return {
            "NumberOfPatientRelatedStudies": count("studies"),
            "NumberOfPatientRelatedSeries": count("series"),
            "NumberOfPatientRelatedInstances": count("instances"),
        }
    if level == STUDY:
        return {
            "NumberOfStudyRelatedSeries": count("series"),
            "NumberOfStudyRelatedInstances": count("instances"),
            "ModalitiesInStudy": joined("modalities"),
            "SOPClassesInStudy": joined("sop_classes"),
        }
    return {"NumberOfSeriesRelatedInstances": count("instances")}


# --- answers ---------------------------------------------------------------------------------


@attrs.frozen
class Match:
    values: dict[str, str]  # keyword -> main tag value (all levels down to the query's)


def find_matches(conn: psycopg.Connection, query: Query) -> list[Match]:
    statement, params = build_sql(query)
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(statement, params)  # type: ignore[arg-type]
        rows = cursor.fetchall()
    requested = {keyword_for_tag(e.tag) for e in query.requested}
    counters: dict[str, dict[str, Any]] = {}
    wants_counters = bool(requested & COUNTERS[query.level])
    if rows and wants_counters:
        counters = _counters(conn, query.level, [row["id"] for row in rows])
    matches = []
    for row in rows:
        values: dict[str, str] = {}
        for k in range(query.level + 1):
            values.update(row[f"tags{k}"] or {})
        if query.level == INSTANCE and row["sop_class_uid"]:
            values["SOPClassUID"] = row["sop_class_uid"]
        if wants_counters:
            values.update(_counter_values(query.level, counters.get(row["id"])))
        matches.append(Match(values))
    return matches


def answer_dataset(query: Query, match: Match, retrieve_aet: str) -> Dataset:
    answer = Dataset()
    answer.QueryRetrieveLevel = query.level_text
    answer.RetrieveAETitle = retrieve_aet
    for element in query.requested:
        _set_answer(answer, element, match.values.get(keyword_for_tag(element.tag), ""))
    if _needs_utf8(answer):
        answer.SpecificCharacterSet = UTF8
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
        answer.add_new(tag, vr, value)
    except (ValueError, TypeError, OverflowError):
        answer.add_new(tag, vr, "")


def _needs_utf8(answer: Dataset) -> bool:
    return any(not element_text(element).isascii() for element in answer if element.VR != "SQ")


def run_find(conn: psycopg.Connection, identifier: Dataset, retrieve_aet: str) -> Iterator[Dataset]:
    query = parse_query(identifier)
    for match in find_matches(conn, query):
        yield answer_dataset(query, match, retrieve_aet)


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


def retrieve_level(identifier: Dataset) -> int:
    """The level of a C-MOVE/C-GET identifier; guessed from its keys when absent (as Orthanc)."""
    text = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if text in QUERY_LEVELS:
        return QUERY_LEVELS[text]
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
    column = ANCESTOR_COLUMN.get(level, "id")
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT i.id, i.series_id, i.study_id, i.patient_id, i.file_uuid, i.sop_class_uid, "
            "i.transfer_syntax, "
            "i.main_tags->>'SOPInstanceUID' AS sop, se.main_tags->>'SeriesInstanceUID' AS series, "
            "st.main_tags->>'StudyInstanceUID' AS study, p.main_tags->>'PatientID' AS patient "
            "FROM hierarchy.resources m "
            f"JOIN hierarchy.resources i ON i.level = 3 AND i.{column} = m.id "
            "JOIN hierarchy.resources se ON se.id = i.series_id "
            "JOIN hierarchy.resources st ON st.id = i.study_id "
            "JOIN hierarchy.resources p ON p.id = i.patient_id "
            f"WHERE m.level = %s AND m.main_tags->>'{key}' = ANY(%s) "
            "ORDER BY i.created_position",
            (level, keys),
        )
        return [_instance(row) for row in cursor.fetchall()]


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
        identifiers={
            "PatientID": row["patient"] or "",
            "StudyInstanceUID": row["study"] or "",
            "SeriesInstanceUID": row["series"] or "",
            "SOPInstanceUID": row["sop"] or "",
        },
    )
