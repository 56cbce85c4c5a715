"""Reads of the hierarchy read model, for the API and the adapters: a handful of statements
per call, never one per child resource, never a file opened."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import psycopg
from psycopg.rows import dict_row

from domain.levels import ANCESTOR_COLUMN, INSTANCE, LEVEL_NAMES

Row = dict[str, Any]


def _rows(conn: psycopg.Connection, query: str, params: Any = None) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def get_resource(conn: psycopg.Connection, level: int, resource_id: str) -> Row | None:
    rows = _rows(
        conn,
        "SELECT * FROM hierarchy.resources WHERE id = %s AND level = %s",
        (resource_id, level),
    )
    return rows[0] if rows else None


def get_resources(conn: psycopg.Connection, ids: list[str]) -> dict[str, Row]:
    if not ids:
        return {}
    rows = _rows(conn, "SELECT * FROM hierarchy.resources WHERE id = ANY(%s)", (ids,))
    return {row["id"]: row for row in rows}


def list_resources(
    conn: psycopg.Connection, level: int, since: int, limit: int | None
) -> list[Row]:
    return _rows(
        conn,
        "SELECT * FROM hierarchy.resources WHERE level = %s ORDER BY created_position "
        "OFFSET %s LIMIT %s",
        (level, since, limit),
    )


def _under(column: str, levels: range, ids: str) -> str:
    """The rows whose `column` (an ancestor's ID) is one of `ids`, level by level: each level's
    rows are found through that level's partial index (migrations 001 and 004), which a range
    of levels would not use."""
    return " UNION ALL ".join(
        f"SELECT * FROM hierarchy.resources WHERE {column} = ANY({ids}) AND level = {k}"
        for k in levels
    )


def descendants(
    conn: psycopg.Connection, level: int, resource_id: str, child_level: int
) -> list[Row]:
    """The resources of `child_level` under a resource, in the order Orthanc lists them.

    Orthanc walks down one level at a time and prepends each parent's children (creation
    order) to the list of the next level, so the children of the last parent come first:
    a patient's series are those of its newest study first.
    """
    if child_level == level + 1:
        return _rows(
            conn,
            "SELECT * FROM hierarchy.resources WHERE parent_id = %s ORDER BY created_position",
            (resource_id,),
        )
    levels = range(level + 1, child_level + 1)
    rows = _rows(
        conn,
        f"SELECT * FROM ({_under(ANCESTOR_COLUMN[level], levels, '%(ids)s')}) r "
        "ORDER BY created_position",
        {"ids": [resource_id]},
    )
    children: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        children[row["parent_id"]].append(row)
    current = [resource_id]
    found: list[Row] = []
    for _ in range(level, child_level):
        found = []
        for parent_id in current:
            found = children.get(parent_id, []) + found
        current = [row["id"] for row in found]
    return found


def instance_rows(conn: psycopg.Connection, level: int, resource_id: str) -> list[Row]:
    if level == INSTANCE:
        row = get_resource(conn, INSTANCE, resource_id)
        return [row] if row else []
    return descendants(conn, level, resource_id, INSTANCE)


def instances_after(conn: psycopg.Connection, position: int, limit: int) -> list[Row]:
    """The instances created after a log position, in creation order, `limit` at most."""
    return _rows(
        conn,
        "SELECT * FROM hierarchy.resources WHERE level = 3 AND created_position > %s "
        "ORDER BY created_position LIMIT %s",
        (position, limit),
    )


def first_instance(conn: psycopg.Connection, row: Row) -> Row | None:
    """The first instance stored of a patient, study or series."""
    rows = _rows(
        conn,
        f"SELECT * FROM hierarchy.resources WHERE {ANCESTOR_COLUMN[row['level']]} = %s "
        "AND level = 3 ORDER BY created_position LIMIT 1",
        (row["id"],),
    )
    return rows[0] if rows else None


def last_instance_under(conn: psycopg.Connection, level: int, resource_id: str) -> Row | None:
    """The instance Orthanc's depth-first walk of a patient, study or series reaches first: the
    newest one of the newest series of the newest study."""
    rows = _rows(
        conn,
        "SELECT i.* FROM hierarchy.resources i "
        "JOIN hierarchy.resources se ON se.id = i.series_id "
        "JOIN hierarchy.resources st ON st.id = i.study_id "
        f"WHERE i.level = 3 AND i.{ANCESTOR_COLUMN[level]} = %s "
        "ORDER BY st.created_position DESC, se.created_position DESC, i.created_position DESC "
        "LIMIT 1",
        (resource_id,),
    )
    return rows[0] if rows else None


def computed_counts(conn: psycopg.Connection, level: int, ids: list[str]) -> dict[str, Row]:
    """What Orthanc's computed tags need: counts of descendants, modalities and SOP classes."""
    column = ANCESTOR_COLUMN[level]
    rows = _rows(
        conn,
        f"SELECT {column} AS id, "
        "count(*) FILTER (WHERE level = 1) AS studies, "
        "count(*) FILTER (WHERE level = 2) AS series, "
        "count(*) FILTER (WHERE level = 3) AS instances, "
        "array_agg(DISTINCT main_tags->>'Modality') FILTER (WHERE level = 2) AS modalities, "
        "array_agg(DISTINCT sop_class_uid) FILTER (WHERE level = 3) AS sop_classes "
        f"FROM ({_under(column, range(level + 1, INSTANCE + 1), '%(ids)s')}) r "
        f"GROUP BY {column}",
        {"ids": ids},
    )
    return {row["id"]: row for row in rows}


def series_indexes(conn: psycopg.Connection, series_ids: list[str]) -> dict[str, list[str | None]]:
    """The IndexInSeries (as written) of each series' instances, in storage order."""
    if not series_ids:
        return {}
    rows = conn.execute(
        "SELECT series_id, array_agg(index_in_series_text ORDER BY created_position) "
        "FROM hierarchy.resources WHERE level = 3 AND series_id = ANY(%s) GROUP BY series_id",
        (series_ids,),
    ).fetchall()
    return {row[0]: list(row[1]) for row in rows}


def sample_instance_tags(
    conn: psycopg.Connection, level: int, resource_ids: list[str], newest: bool = True
) -> dict[str, dict[str, str]]:
    """For each resource, the tags of its newest instance (or its first, as /tools/find
    checks): the main tags of every level of its lineage and the instance's other short values
    (what Orthanc reads from one instance's file when a query names attributes that are not
    main tags)."""
    if not resource_ids:
        return {}
    column = "id" if level == INSTANCE else ANCESTOR_COLUMN[level]
    rows = _rows(
        conn,
        f"SELECT DISTINCT ON (i.{column}) i.{column} AS resource_id, p.main_tags AS patient, "
        "st.main_tags AS study, se.main_tags AS series, i.main_tags AS instance, "
        "i.other_tags, i.sop_class_uid FROM hierarchy.resources i "
        "JOIN hierarchy.resources se ON se.id = i.series_id "
        "JOIN hierarchy.resources st ON st.id = i.study_id "
        "JOIN hierarchy.resources p ON p.id = i.patient_id "
        f"WHERE i.level = 3 AND i.{column} = ANY(%s) "
        f"ORDER BY i.{column}, i.created_position {'DESC' if newest else 'ASC'}",
        (resource_ids,),
    )
    samples = {}
    for row in rows:
        tags: dict[str, str] = {}
        for part in ("patient", "study", "series", "instance", "other_tags"):
            tags.update(row[part] or {})
        if row["sop_class_uid"]:
            tags["SOPClassUID"] = row["sop_class_uid"]
        samples[row["resource_id"]] = tags
    return samples


def instances_under(conn: psycopg.Connection, resource_id: str) -> list[Row]:
    """The instances of a resource of any level (empty if there is no such resource)."""
    return _rows(
        conn,
        "SELECT i.* FROM hierarchy.resources r JOIN hierarchy.resources i ON i.level = 3 AND "
        "(i.id = r.id OR i.series_id = r.id OR i.study_id = r.id OR i.patient_id = r.id) "
        "WHERE r.id = %s ORDER BY i.created_position",
        (resource_id,),
    )


def child_ids(conn: psycopg.Connection, parent_ids: list[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = defaultdict(list)
    if parent_ids:
        cursor = conn.execute(
            "SELECT parent_id, id FROM hierarchy.resources WHERE parent_id = ANY(%s) "
            "ORDER BY created_position",
            (parent_ids,),
        )
        for parent_id, child_id in cursor.fetchall():
            result[parent_id].append(child_id)
    return result


def resource_statistics(conn: psycopg.Connection, level: int, resource_id: str) -> Row:
    if level == INSTANCE:
        query = (
            "SELECT 0 AS studies, 0 AS series, count(*) AS instances, "
            "coalesce(sum(file_size), 0) AS size FROM hierarchy.resources "
            "WHERE id = %s AND level = 3"
        )
    else:
        query = (
            "SELECT count(DISTINCT study_id) AS studies, count(DISTINCT series_id) AS series, "
            "count(*) AS instances, coalesce(sum(file_size), 0) AS size "
            f"FROM hierarchy.resources WHERE {ANCESTOR_COLUMN[level]} = %s AND level = 3"
        )
    return _rows(conn, query, (resource_id,))[0]


def global_statistics(conn: psycopg.Connection) -> Row:
    return _rows(
        conn,
        "SELECT count(*) FILTER (WHERE level = 0) AS patients, "
        "count(*) FILTER (WHERE level = 1) AS studies, "
        "count(*) FILTER (WHERE level = 2) AS series, "
        "count(*) FILTER (WHERE level = 3) AS instances, "
        "coalesce(sum(file_size), 0) AS size FROM hierarchy.resources",
    )[0]


# --- Storage quotas (adapters.recycling) ------------------------------------------------------


def storage_usage(conn: psycopg.Connection, instance_id: str, patient_id: str) -> Row:
    """What a store within the storage quotas starts from, in one statement on one row and two
    primary-key lookups: `patients` and `stored_bytes` of the archive (the totals row: DICOM
    files and user attachments as stored), `instance_bytes` of the instance if it is stored
    (NULL if not), and whether its patient is (`patient_stored`)."""
    return _rows(
        conn,
        "SELECT t.patients, t.stored_bytes, "
        "(SELECT coalesce(file_compressed_size, file_size) FROM hierarchy.resources "
        "WHERE id = %s AND level = 3) AS instance_bytes, "
        "EXISTS (SELECT 1 FROM hierarchy.resources WHERE id = %s AND level = 0) "
        "AS patient_stored FROM hierarchy.totals t",
        (instance_id, patient_id),
    )[0]


def recycling_candidates(
    conn: psycopg.Connection, keep: str | None, after: int, limit: int
) -> list[Row]:
    """Up to `limit` patients Orthanc would recycle first: unprotected, other than `keep`, by
    the log position of the last instance stored into them (above `after`, for the next page),
    each with `last_stored_position` and `stored_bytes` (its instances' files and the user
    attachments of it and its descendants, as stored)."""
    return _rows(
        conn,
        "SELECT p.id, p.last_stored_position, "
        "(SELECT coalesce(sum(coalesce(i.file_compressed_size, i.file_size)), 0) "
        "FROM hierarchy.resources i WHERE i.level = 3 AND i.patient_id = p.id) + "
        "(SELECT coalesce(sum(coalesce(a.compressed_size, a.size)), 0) "
        "FROM hierarchy.attachments a WHERE a.resource_id IN ("
        "SELECT p.id UNION ALL "
        "SELECT id FROM hierarchy.resources WHERE level = 1 AND patient_id = p.id UNION ALL "
        "SELECT id FROM hierarchy.resources WHERE level = 2 AND patient_id = p.id UNION ALL "
        "SELECT id FROM hierarchy.resources WHERE level = 3 AND patient_id = p.id)"
        ") AS stored_bytes "
        "FROM hierarchy.resources p WHERE p.level = 0 AND p.last_stored_position > %s "
        "AND p.id IS DISTINCT FROM %s "
        "AND NOT EXISTS (SELECT 1 FROM hierarchy.protected x WHERE x.resource_id = p.id) "
        "ORDER BY p.last_stored_position LIMIT %s",
        (after, keep, limit),
    )


def quiet_resources(
    conn: psycopg.Connection, stable_age: float, limit: int = 1000
) -> list[tuple[str, str, int]]:
    """Patients, studies and series not stable yet that received no instance for `stable_age`
    seconds: (resource ID, level name, log position of its last stored instance) each."""
    rows = conn.execute(
        "SELECT id, level, last_stored_position FROM hierarchy.resources "
        "WHERE level < 3 AND NOT is_stable AND last_update < now() - make_interval(secs => %s) "
        "ORDER BY last_stored_position, level DESC LIMIT %s",
        (stable_age, limit),
    ).fetchall()
    return [(resource_id, LEVEL_NAMES[level], as_of) for resource_id, level, as_of in rows]


def seconds_until_quiet(conn: psycopg.Connection, stable_age: float) -> float | None:
    """How long until the next resource not stable yet becomes quiet (None: there is none);
    0 for one that already is."""
    row = conn.execute(
        "SELECT extract(epoch FROM min(last_update) + make_interval(secs => %s) - now()) "
        "FROM hierarchy.resources WHERE level < 3 AND NOT is_stable "
        "AND last_update >= now() - make_interval(secs => %s)",
        (stable_age, stable_age),
    ).fetchone()
    return max(float(row[0]), 0.0) if row and row[0] is not None else None


def instances_with_identifiers(conn: psycopg.Connection, resource_ids: list[str]) -> list[Row]:
    """The instances under the resources (any level), in storage order, each with the DICOM
    identifiers of its lineage in `identifiers` (PatientID, StudyInstanceUID,
    SeriesInstanceUID, SOPInstanceUID): what sending one and auditing it need."""
    rows = _rows(
        conn,
        "SELECT i.*, "
        "p.main_tags->>'PatientID' AS lineage_patient, "
        "st.main_tags->>'StudyInstanceUID' AS lineage_study, "
        "se.main_tags->>'SeriesInstanceUID' AS lineage_series "
        "FROM hierarchy.resources r JOIN hierarchy.resources i ON i.level = 3 AND "
        "(i.id = r.id OR i.series_id = r.id OR i.study_id = r.id OR i.patient_id = r.id) "
        "JOIN hierarchy.resources se ON se.id = i.series_id "
        "JOIN hierarchy.resources st ON st.id = i.study_id "
        "JOIN hierarchy.resources p ON p.id = i.patient_id "
        "WHERE r.id = ANY(%s) ORDER BY array_position(%s, r.id), i.created_position",
        (resource_ids, resource_ids),
    )
    seen: set[str] = set()
    unique = []
    for row in rows:  # an instance under two of the resources is listed once, first
        if row["id"] not in seen:
            seen.add(row["id"])
            unique.append(row)
    for row in unique:
        row["identifiers"] = {
            "PatientID": row.pop("lineage_patient") or "",
            "StudyInstanceUID": row.pop("lineage_study") or "",
            "SeriesInstanceUID": row.pop("lineage_series") or "",
            "SOPInstanceUID": (row["main_tags"] or {}).get("SOPInstanceUID", ""),
        }
    return unique


def lineage_identifiers(conn: psycopg.Connection, resource_ids: list[str]) -> dict[str, Row]:
    """Each existing resource's `level` and the DICOM identifiers of its lineage down to it
    (PatientID, then StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID as its level has)."""
    rows = _rows(
        conn,
        "SELECT r.id, r.level, p.main_tags->>'PatientID' AS patient, "
        "st.main_tags->>'StudyInstanceUID' AS study, "
        "se.main_tags->>'SeriesInstanceUID' AS series, r.main_tags->>'SOPInstanceUID' AS sop "
        "FROM hierarchy.resources r JOIN hierarchy.resources p ON p.id = r.patient_id "
        "LEFT JOIN hierarchy.resources st ON st.id = r.study_id "
        "LEFT JOIN hierarchy.resources se ON se.id = r.series_id "
        "WHERE r.id = ANY(%s)",
        (resource_ids,),
    )
    keys = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    lineages = {}
    for row in rows:
        values = (row["patient"], row["study"], row["series"], row["sop"])
        identifiers = {key: value or "" for key, value in zip(keys, values, strict=True)}
        lineages[row["id"]] = {
            "level": row["level"],
            "identifiers": dict(list(identifiers.items())[: row["level"] + 1]),
        }
    return lineages


def instances_by_dicom_keys(
    conn: psycopg.Connection, level: int, keyword: str, values: list[str]
) -> list[Row]:
    """The instances under the resources of `level` whose `keyword` main tag is one of
    `values` (C-MOVE and C-GET: PatientID, StudyInstanceUID…), with their identifiers, in
    storage order."""
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM hierarchy.resources WHERE level = %s AND main_tags->>%s = ANY(%s) "
            "ORDER BY created_position",
            (level, keyword, values),
        )
    ]
    rows = instances_with_identifiers(conn, ids)
    return sorted(rows, key=lambda row: row["created_position"])


def vanishing_resources(conn: psycopg.Connection, row: Row, instances: list[Row]) -> list[str]:
    """What deleting these instances (all those under `row`) leaves without instances: the
    resource, everything under it, and each ancestor with no other instance."""
    gone = {row["id"]}
    for instance in instances:
        gone.update(instance[column] for column in ("id", "series_id", "study_id"))
    lineage = [row[ANCESTOR_COLUMN[k]] for k in range(row["level"])]
    ancestors = get_resources(conn, lineage)
    for ancestor_id in lineage:
        ancestor = ancestors.get(ancestor_id)
        if ancestor is not None and ancestor["instances_count"] <= len(instances):
            gone.add(ancestor_id)
    return sorted(gone - {None})


def vanishing_with(conn: psycopg.Connection, instances: list[Row]) -> list[str]:
    """What deleting these instances leaves without instances: them, and each series, study
    and patient whose every instance is among them."""
    gone = {row["id"] for row in instances}
    for column in ("series_id", "study_id", "patient_id"):
        counts = Counter(row[column] for row in instances)
        parents = get_resources(conn, [parent for parent in counts if parent])
        gone.update(
            parent_id
            for parent_id, parent in parents.items()
            if parent["instances_count"] <= counts[parent_id]
        )
    return sorted(gone)


# --- Annotations (projections.hierarchy.annotations) ------------------------------------------


def user_metadata_of(conn: psycopg.Connection, resource_ids: list[str]) -> dict[str, list[Row]]:
    """user_metadata of many resources at once, by resource ID."""
    rows = _rows(
        conn,
        "SELECT resource_id, number, value, revision FROM hierarchy.metadata "
        "WHERE resource_id = ANY(%s) ORDER BY resource_id, number",
        (resource_ids,),
    )
    found: dict[str, list[Row]] = {}
    for row in rows:
        found.setdefault(row.pop("resource_id"), []).append(row)
    return found


def first_instance_origins(
    conn: psycopg.Connection, series_ids: list[str]
) -> dict[str, dict[str, str]]:
    """The origin of each series' first stored instance, by series ID."""
    rows = conn.execute(
        "SELECT DISTINCT ON (series_id) series_id, origin FROM hierarchy.resources "
        "WHERE level = 3 AND series_id = ANY(%s) ORDER BY series_id, created_position",
        (series_ids,),
    ).fetchall()
    return {series_id: origin or {} for series_id, origin in rows}


def user_attachments(conn: psycopg.Connection, resource_id: str) -> list[Row]:
    """content_type, uuid, size, md5, revision, compression, compressed_size, compressed_md5
    of each user attachment, by content type (compression NULL: stored as it is)."""
    return user_attachments_of(conn, [resource_id]).get(resource_id, [])


def user_attachments_of(conn: psycopg.Connection, resource_ids: list[str]) -> dict[str, list[Row]]:
    """user_attachments of many resources at once, by resource ID."""
    rows = _rows(
        conn,
        "SELECT resource_id, content_type, uuid, size, md5, revision, compression, "
        "compressed_size, compressed_md5 FROM hierarchy.attachments "
        "WHERE resource_id = ANY(%s) ORDER BY resource_id, content_type",
        (resource_ids,),
    )
    found: dict[str, list[Row]] = {}
    for row in rows:
        found.setdefault(row.pop("resource_id"), []).append(row)
    return found


def labels_of(conn: psycopg.Connection, resource_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    if resource_ids:
        for row in _rows(
            conn,
            "SELECT resource_id, label FROM hierarchy.labels WHERE resource_id = ANY(%s) "
            "ORDER BY label",
            (resource_ids,),
        ):
            found[row["resource_id"]].append(row["label"])
    return found


def all_labels(conn: psycopg.Connection) -> list[str]:
    return [
        row["label"]
        for row in _rows(conn, "SELECT DISTINCT label FROM hierarchy.labels ORDER BY label")
    ]


def protected_among(conn: psycopg.Connection, patient_ids: list[str]) -> set[str]:
    """Which of these patients are protected from recycling."""
    rows = conn.execute(
        "SELECT resource_id FROM hierarchy.protected WHERE resource_id = ANY(%s)", (patient_ids,)
    ).fetchall()
    return {row[0] for row in rows}


def is_protected(conn: psycopg.Connection, resource_id: str) -> bool:
    rows = _rows(conn, "SELECT 1 FROM hierarchy.protected WHERE resource_id = %s", (resource_id,))
    return bool(rows)
