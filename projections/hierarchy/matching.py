"""Finding resources in the hierarchy read model by their main DICOM tags, with Orthanc's
matching rules: the query builder behind the C-FIND SCP (and /tools/find).

A query becomes one SQL statement over hierarchy.resources (the resources at the query level
joined to their ancestors, constraints on lower levels as EXISTS sub-queries), plus one
aggregate statement for the computed attributes (NumberOf*, ModalitiesInStudy,
SOPClassesInStudy) when they are asked for.

Matching follows Orthanc 1.11 (DatabaseLookup): an empty value is universal; a value with "-"
on a DA/DT/TM attribute is a range; a value with "\\" is a list of single values; "*" and "?"
are wildcards on AE/CS/LO/LT/PN/SH/ST/UC/UR/UT; anything else is single value matching.
Matching is case-sensitive except for PN (Orthanc's CaseSensitivePN is false). Constraints on
attributes the hierarchy does not keep are ignored, as Orthanc does with StorageAccessOnFind
set to Never.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import attrs
import psycopg
from psycopg.rows import dict_row

from domain.levels import ANCESTOR_COLUMN, INSTANCE, PATIENT, SERIES, STUDY
from domain.main_tags import MAIN_TAGS
from projections.hierarchy.queries import computed_counts

WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
RANGE_VRS = frozenset({"DA", "DT", "TM"})

# keyword -> the levels whose main tags hold it
TAG_LEVELS: dict[str, list[int]] = {}
for _level, _keywords in enumerate(MAIN_TAGS.values()):
    for _keyword in _keywords:
        TAG_LEVELS.setdefault(_keyword, []).append(_level)
TAG_LEVELS["SOPClassUID"] = [INSTANCE]  # the sop_class_uid column

# The attributes computed from the hierarchy rather than kept, per query level.
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
ALL_COUNTERS = frozenset().union(*COUNTERS.values())
# Counters Orthanc answers but never matches on (ModalitiesInStudy matches the series).
NEVER_MATCHED = ALL_COUNTERS - {"ModalitiesInStudy"}


@attrs.frozen
class Constraint:
    keyword: str
    level: int  # where the attribute is kept
    kind: str  # "equal", "list", "wildcard", "range", "any"
    values: tuple[str, ...]
    case_sensitive: bool


@attrs.frozen
class ResourceQuery:
    level: int
    constraints: tuple[Constraint, ...]
    counters: bool = False  # also compute the level's COUNTERS for each match


@attrs.frozen
class Match:
    resource_id: str
    values: dict[str, str]  # keyword -> main tag value (all levels down to the query's)


def constraints_for(keyword: str, vr: str, text: str, query_level: int) -> list[Constraint]:
    """What matching `keyword` (of value representation `vr`) against `text` requires; none
    when the value is universal or the hierarchy does not keep the attribute."""
    text = text.strip()
    if not text or keyword in NEVER_MATCHED:
        return []
    if keyword == "ModalitiesInStudy":
        items = tuple(sorted({item.strip() for item in text.split("\\") if item.strip()}))
        return [Constraint("Modality", SERIES, "list", items, True)] if items else []
    if keyword not in TAG_LEVELS:
        return []
    return [_constraint(keyword, _attribute_level(keyword, query_level), vr, text)]


def _attribute_level(keyword: str, query_level: int) -> int:
    levels = TAG_LEVELS[keyword]
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


def value_constraint(keyword: str, vr: str, text: str) -> Constraint | None:
    """A constraint on any attribute (main tag or not), for matching an instance's own tags;
    None when the value is universal."""
    text = text.strip()
    return _constraint(keyword, INSTANCE, vr, text) if text else None


def satisfied(constraint: Constraint, value: str | None) -> bool:
    """`condition()` evaluated on one value (None: the attribute is absent)."""
    if value is None:
        return False
    values = list(constraint.values)
    if not constraint.case_sensitive:
        value, values = value.upper(), [item.upper() for item in values]
    if constraint.kind == "any":
        return True
    if constraint.kind == "equal":
        return value == values[0]
    if constraint.kind == "list":
        return value in values
    if constraint.kind == "wildcard":
        return fnmatch.fnmatchcase(value, values[0].replace("[", "[[]"))
    lower, upper = values
    return (not lower or value >= lower) and (not upper or value <= upper)


# --- SQL -------------------------------------------------------------------------------------


def _alias(level: int, query_level: int) -> str:
    return "r" if level == query_level else f"a{level}"


def _value_sql(alias: str, keyword: str) -> str:
    if keyword == "SOPClassUID":
        return f"{alias}.sop_class_uid"
    if keyword not in TAG_LEVELS:  # never user text in the statement
        raise ValueError(f"not a main tag: {keyword!r}")
    return f"({alias}.main_tags->>'{keyword}')"


def like_pattern(text: str) -> str:
    """A DICOM wildcard pattern ("*", "?") as a LIKE pattern with "\\" as the escape."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def condition(alias: str, constraint: Constraint) -> tuple[str, list[Any]]:
    """The SQL condition on the row `alias`, and its parameters."""
    column = _value_sql(alias, constraint.keyword)
    values = list(constraint.values)
    if not constraint.case_sensitive:
        column = f"upper({column})"
        values = [value.upper() for value in values]
    if constraint.kind == "any":  # "*": any value, but the attribute must be there
        return f"{column} IS NOT NULL", []
    if constraint.kind == "equal":
        return f"{column} = %s", values
    if constraint.kind == "list":
        return f"{column} = ANY(%s)", [values]
    if constraint.kind == "wildcard":
        return f"{column} LIKE %s ESCAPE '\\'", [like_pattern(values[0])]
    lower, upper = values
    parts, params = [], []
    if lower:
        parts.append(f"{column} >= %s")
        params.append(lower)
    if upper:
        parts.append(f"{column} <= %s")
        params.append(upper)
    return " AND ".join(parts) or "TRUE", params


def build_sql(query: ResourceQuery) -> tuple[str, list[Any]]:
    """The statement that lists the matches, in creation order, with the main tags of the
    match and of each ancestor (columns tags0…tagsN)."""
    level = query.level
    columns = ["r.id", "r.sop_class_uid"] + [
        f"{_alias(k, level)}.main_tags AS tags{k}" for k in range(level + 1)
    ]
    # The ancestors' levels are implied, but said: the per-level indexes of tags need them.
    joins = [
        f"JOIN hierarchy.resources a{k} ON a{k}.id = r.{ANCESTOR_COLUMN[k]} AND a{k}.level = {k}"
        for k in range(level)
    ]
    where, params = ["r.level = %s"], [level]
    for constraint in query.constraints:
        if constraint.level <= level:
            sql, values = condition(_alias(constraint.level, level), constraint)
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


def _descendant_condition(query: ResourceQuery, child_level: int) -> tuple[str, list[Any]]:
    """One child of that level must match every constraint kept at that level."""
    constraints = [c for c in query.constraints if c.level == child_level]
    if not constraints:
        return "", []
    alias = f"d{child_level}"
    parts = [f"{alias}.level = {child_level}", f"{alias}.{ANCESTOR_COLUMN[query.level]} = r.id"]
    params: list[Any] = []
    for constraint in constraints:
        sql, values = condition(alias, constraint)
        parts.append(sql)
        params.extend(values)
    return f"EXISTS (SELECT 1 FROM hierarchy.resources {alias} WHERE {' AND '.join(parts)})", params


def find(conn: psycopg.Connection, query: ResourceQuery) -> list[Match]:
    statement, params = build_sql(query)
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    counters: dict[str, dict[str, Any]] = {}
    if rows and query.counters and query.level < INSTANCE:
        counters = computed_counts(conn, query.level, [row["id"] for row in rows])
    matches = []
    for row in rows:
        values: dict[str, str] = {}
        for k in range(query.level + 1):
            values.update(row[f"tags{k}"] or {})
        if query.level == INSTANCE and row["sop_class_uid"]:
            values["SOPClassUID"] = row["sop_class_uid"]
        if query.counters and query.level < INSTANCE:
            values.update(counter_values(query.level, counters.get(row["id"])))
        matches.append(Match(row["id"], values))
    return matches


def counter_values(level: int, counts: dict[str, Any] | None) -> dict[str, str]:
    """The COUNTERS of `level` as DICOM values, from hierarchy.queries.computed_counts()."""
    counts = counts or {}

    def count(name: str) -> str:
        return str(counts.get(name) or 0)

    def joined(name: str) -> str:
        return "\\".join(sorted(v for v in (counts.get(name) or []) if v))

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
