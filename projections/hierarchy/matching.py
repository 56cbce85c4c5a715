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
from projections.hierarchy.queries import computed_counts, sample_instance_tags

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
class Ordering:
    """One key of /tools/find's OrderBy: a main tag (by keyword) or a metadata (by number)."""

    kind: str  # "tag" or "metadata"
    key: str
    descending: bool = False


@attrs.frozen
class ResourceQuery:
    level: int
    constraints: tuple[Constraint, ...]
    counters: bool = False  # also compute the level's COUNTERS for each match
    # /tools/find's extras (the C-FIND SCP leaves them out)
    labels: tuple[str, ...] = ()
    labels_mode: str = "All"  # "All", "Any" or "None" of `labels`
    parent: tuple[int, str] | None = None  # only the descendants of this (level, ID)
    order_by: tuple[Ordering, ...] = ()
    offset: int = 0
    limit: int | None = None
    by_id: bool = False  # list by Orthanc ID rather than creation order (Orthanc's find)


@attrs.frozen
class Match:
    resource_id: str
    values: dict[str, str]  # keyword -> main tag value (all levels down to the query's)


def constraints_for(
    keyword: str,
    vr: str,
    text: str,
    query_level: int,
    case_sensitive: bool | None = None,
    literal: bool = False,
) -> list[Constraint]:
    """What matching `keyword` (of value representation `vr`) against `text` requires; none
    when the value is universal or the hierarchy does not keep the attribute.

    `case_sensitive` None is DICOM's rule (C-FIND): only PN ignores case. /tools/find says
    for every attribute, as Orthanc's REST lookups do. `literal`: spaces around the value and
    its parts are compared too (a REST query's value is not DICOM-padded)."""
    text = _trimmed(text, literal)
    if not text or keyword in NEVER_MATCHED:
        return []
    if keyword == "ModalitiesInStudy":  # a study matches by one of its series' Modality
        sensitive = True if case_sensitive is None else case_sensitive
        if "\\" not in text:
            return [_constraint("Modality", SERIES, "CS", text, sensitive, literal)]
        parts = (_trimmed(item, literal) for item in text.split("\\"))
        items = tuple(sorted({item for item in parts if item}))
        return [Constraint("Modality", SERIES, "list", items, sensitive)] if items else []
    if keyword not in TAG_LEVELS:
        return []
    level = _attribute_level(keyword, query_level)
    return [_constraint(keyword, level, vr, text, case_sensitive, literal)]


def _trimmed(text: str, literal: bool) -> str:
    return text if literal else text.strip()


def _attribute_level(keyword: str, query_level: int) -> int:
    levels = TAG_LEVELS[keyword]
    at_or_above = [level for level in levels if level <= query_level]
    return max(at_or_above) if at_or_above else min(levels)


def _constraint(
    keyword: str,
    level: int,
    vr: str,
    text: str,
    case_sensitive: bool | None = None,
    literal: bool = False,
) -> Constraint:
    sensitive = vr != "PN" if case_sensitive is None else case_sensitive
    if vr in RANGE_VRS and "-" in text:
        lower, _, upper = text.partition("-")
        bounds = (_trimmed(lower, literal), _trimmed(upper, literal))
        return Constraint(keyword, level, "range", bounds, sensitive)
    if "\\" in text:
        # As Orthanc: an empty item is left out (a list of only empty items matches nothing).
        parts = (_trimmed(item, literal) for item in text.split("\\"))
        items = tuple(item for item in parts if item)
        return Constraint(keyword, level, "list", items, sensitive)
    if vr in WILDCARD_VRS and ("*" in text or "?" in text):
        if set(text) == {"*"}:
            return Constraint(keyword, level, "any", (), sensitive)
        return Constraint(keyword, level, "wildcard", (text,), sensitive)
    return Constraint(keyword, level, "equal", (text,), sensitive)


def value_constraint(
    keyword: str,
    vr: str,
    text: str,
    case_sensitive: bool | None = None,
    literal: bool = False,
) -> Constraint | None:
    """A constraint on any attribute (main tag or not), for matching an instance's own tags;
    None when the value is universal."""
    text = _trimmed(text, literal)
    return _constraint(keyword, INSTANCE, vr, text, case_sensitive, literal) if text else None


def satisfied(constraint: Constraint, value: str | None) -> bool:
    """`condition()` evaluated on one value (None: the attribute is absent)."""
    if constraint.kind == "range" and not any(constraint.values):
        return True  # "-": no bound at all, as Orthanc
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


# Main tags indexed upper-cased (migrations/hierarchy/004 and 005): a case-sensitive match on
# them is also written upper-cased, so that it uses the index.
UPPER_INDEXED = frozenset({"PatientName", "PatientID", "AccessionNumber"})


def condition(alias: str, constraint: Constraint) -> tuple[str, list[Any]]:
    """The SQL condition on the row `alias`, and its parameters."""
    column = _value_sql(alias, constraint.keyword)
    values = list(constraint.values)
    if constraint.kind == "any":  # "*": any value, but the attribute must be there
        return f"{column} IS NOT NULL", []
    if constraint.kind == "range":
        return _range_condition(column, constraint)
    upper = [value.upper() for value in values]
    if not constraint.case_sensitive:
        return _compared(f"upper({column})", constraint.kind, upper)
    exact, params = _compared(column, constraint.kind, values)
    if constraint.keyword not in UPPER_INDEXED:
        return exact, params
    indexed, indexed_params = _compared(f"upper({column})", constraint.kind, upper)
    return f"{indexed} AND {exact}", indexed_params + params


def _compared(column: str, kind: str, values: list[str]) -> tuple[str, list[Any]]:
    if kind == "equal":
        return f"{column} = %s", values
    if kind == "list":
        return f"{column} = ANY(%s)", [values]
    return f"{column} LIKE %s ESCAPE '\\'", [like_pattern(values[0])]


def _range_condition(column: str, constraint: Constraint) -> tuple[str, list[Any]]:
    if not constraint.case_sensitive:
        column = f"upper({column})"
    lower, upper = (v.upper() if not constraint.case_sensitive else v for v in constraint.values)
    parts, params = [], []
    if lower:
        parts.append(f"{column} >= %s")
        params.append(lower)
    if upper:
        parts.append(f"{column} <= %s")
        params.append(upper)
    return " AND ".join(parts) or "TRUE", params


def build_sql(query: ResourceQuery, windowed: bool = True) -> tuple[str, list[Any]]:
    """The statement that lists the matches, in creation order (or the query's order_by),
    with the main tags of the match and of each ancestor (columns tags0…tagsN). `windowed`:
    the query's offset and limit are applied by the statement."""
    level = query.level
    columns = ["r.id", "r.sop_class_uid"] + [
        f"{_alias(k, level)}.main_tags AS tags{k}" for k in range(level + 1)
    ]
    where, params = _where(query)
    joins = _ancestor_joins(level)
    order, order_params = _order(query)
    statement = (
        f"SELECT {', '.join(columns)} FROM hierarchy.resources r {' '.join(joins)} "
        f"{order['joins']} WHERE {' AND '.join(where)} ORDER BY {order['keys']}"
    )
    params = order_params + params
    if windowed and query.limit is not None:
        statement += " LIMIT %s"
        params.append(query.limit)
    if windowed and query.offset:
        statement += " OFFSET %s"
        params.append(query.offset)
    return statement, params


def count_sql(query: ResourceQuery) -> tuple[str, list[Any]]:
    """How many resources match (offset and limit left out)."""
    where, params = _where(query)
    joins = _ancestor_joins(query.level)
    statement = (
        f"SELECT count(*) AS n FROM hierarchy.resources r {' '.join(joins)} "
        f"WHERE {' AND '.join(where)}"
    )
    return statement, params


def _ancestor_joins(level: int) -> list[str]:
    # The ancestors' levels are implied, but said: the per-level indexes of tags need them.
    return [
        f"JOIN hierarchy.resources a{k} ON a{k}.id = r.{ANCESTOR_COLUMN[k]} AND a{k}.level = {k}"
        for k in range(level)
    ]


def _where(query: ResourceQuery) -> tuple[list[str], list[Any]]:
    level = query.level
    where: list[str] = ["r.level = %s"]
    params: list[Any] = [level]
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
    if query.parent is not None:
        parent_level, parent_id = query.parent
        where.append(f"r.{ANCESTOR_COLUMN[parent_level]} = %s")
        params.append(parent_id)
    if query.labels:
        sql, values = _labels_condition(query.labels, query.labels_mode)
        where.append(sql)
        params.extend(values)
    return where, params


def _labels_condition(labels: tuple[str, ...], mode: str) -> tuple[str, list[Any]]:
    having = "SELECT 1 FROM hierarchy.labels l WHERE l.resource_id = r.id AND l.label = ANY(%s)"
    if mode == "Any":
        return f"EXISTS ({having})", [list(labels)]
    if mode == "None":
        return f"NOT EXISTS ({having})", [list(labels)]
    count = (
        "(SELECT count(*) FROM hierarchy.labels l WHERE l.resource_id = r.id "
        "AND l.label = ANY(%s)) = %s"
    )
    return count, [list(set(labels)), len(set(labels))]


def _order(query: ResourceQuery) -> tuple[dict[str, str], list[Any]]:
    """ORDER BY keys (then creation order), and the metadata joins they need."""
    joins, keys, params = [], [], []
    for number, ordering in enumerate(query.order_by):
        direction = " DESC" if ordering.descending else ""
        if ordering.kind == "metadata":
            alias = f"m{number}"
            joins.append(
                f"LEFT JOIN hierarchy.metadata {alias} ON {alias}.resource_id = r.id "
                f"AND {alias}.number = %s"
            )
            params.append(int(ordering.key))
            keys.append(f"{alias}.value{direction}")
        else:
            level = _attribute_level(ordering.key, query.level)
            keys.append(f"{_value_sql(_alias(level, query.level), ordering.key)}{direction}")
    keys.append("r.id" if query.by_id else "r.created_position")
    return {"joins": " ".join(joins), "keys": ", ".join(keys)}, params


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


def find(
    conn: psycopg.Connection,
    query: ResourceQuery,
    instance_constraints: tuple[Constraint, ...] = (),
) -> list[Match]:
    """The matches, in order. `instance_constraints` are also checked on the tags of one
    instance of each match (hierarchy.queries.sample_instance_tags), as Orthanc checks
    attributes that are not main tags on one file of each candidate; the query's window
    then applies to what remains."""
    statement, params = build_sql(query, windowed=not instance_constraints)
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    if instance_constraints:
        rows = _checked_on_instances(conn, query.level, rows, instance_constraints)
        end = None if query.limit is None else query.offset + query.limit
        rows = rows[query.offset : end]
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


def count(
    conn: psycopg.Connection,
    query: ResourceQuery,
    instance_constraints: tuple[Constraint, ...] = (),
) -> int:
    if instance_constraints:
        return len(find(conn, attrs.evolve(query, offset=0, limit=None), instance_constraints))
    statement, params = count_sql(query)
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    return int(row["n"]) if row else 0


def _checked_on_instances(
    conn: psycopg.Connection,
    level: int,
    rows: list[dict[str, Any]],
    constraints: tuple[Constraint, ...],
) -> list[dict[str, Any]]:
    samples = sample_instance_tags(conn, level, [row["id"] for row in rows], newest=False)
    return [
        row
        for row in rows
        if all(satisfied(c, samples.get(row["id"], {}).get(c.keyword)) for c in constraints)
    ]


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
