"""The body of POST /tools/find (and /tools/count-resources), checked as Orthanc checks it, as
a query on the hierarchy read model (projections.hierarchy.matching)."""

from __future__ import annotations

from typing import Any

import attrs
from pydicom.datadict import dictionary_VR, keyword_for_tag

from api.dicom_json import TagsFormat
from api.errors import OrthancCode, OrthancError
from domain.annotation_names import AnnotationNames
from domain.dicom_text import UnknownDicomTag, parse_tag
from domain.levels import INSTANCE, LEVEL_SPELLINGS, STUDY
from projections.hierarchy import matching
from projections.hierarchy.matching import Constraint, Ordering, ResourceQuery

LABELS_MODES = ("All", "Any", "None")
# Orthanc 1.12.5's ResponseContent values.
RESPONSE_CONTENT = frozenset(
    {
        "MainDicomTags",
        "Metadata",
        "Children",
        "Parent",
        "Labels",
        "Status",
        "IsStable",
        "IsProtected",
        "Attachments",
        "RequestedTags",
    }
)
# Expand is 1.12's legacy content: the expanded resource, without the whole Metadata map.
EXPANDED = RESPONSE_CONTENT - {"Attachments", "IsProtected", "Metadata"}
SOP_CLASS = "SOPClassUID"  # kept with each instance, but no main tag of the levels above
BY_STUDY_UID = (Ordering("tag", "StudyInstanceUID"),)
PARENT_FIELDS = {"ParentPatient": 0, "ParentStudy": 1, "ParentSeries": 2}


@attrs.frozen
class FindRequest:
    query: ResourceQuery
    instance_constraints: tuple[Constraint, ...]  # on attributes that are not main tags
    content: frozenset[str]  # what to answer of each match; empty: its ID only
    requested_tags: tuple[int, ...]
    tag_format: TagsFormat
    # As Orthanc: a constraint on a main tag of a lower level (or ModalitiesInStudy elsewhere
    # than at study level) matches nothing.
    unmatchable: bool = False


def bad_request(details: str) -> OrthancError:
    return OrthancError(OrthancCode.BAD_REQUEST, details)


def out_of_range(details: str) -> OrthancError:
    return OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE, details)


def parse_find(body: Any, names: AnnotationNames) -> FindRequest:
    """`names`: the configured user metadata names, which OrderBy may use."""
    if not isinstance(body, dict):
        raise bad_request("The body must contain a JSON object")
    level_text = body.get("Level")
    if not isinstance(level_text, str):
        raise bad_request('Field "Level" is missing, or should be a string')
    if "Query" not in body:
        raise bad_request('Field "Query" is missing, or should be a JSON object')
    query = body["Query"] if body["Query"] is not None else {}  # Orthanc: null is {}
    if not isinstance(query, dict):
        raise bad_request('Field "Query" should be a JSON object')
    case_sensitive = _boolean(body, "CaseSensitive", False)
    limit = _count(body, "Limit")
    since = _count(body, "Since")
    level = _level(level_text)
    found = _constraints(query, level, case_sensitive)
    resource_query = ResourceQuery(
        level,
        found.on_hierarchy,
        by_id=level != INSTANCE,
        labels=_labels(body),
        labels_mode=_labels_mode(body),
        parent=_parent(body, level),
        # Orthanc 1.10 lists studies found by ModalitiesInStudy in StudyInstanceUID order
        order_by=_order_by(body, level, names) or (BY_STUDY_UID if found.by_modalities else ()),
        offset=since or 0,
        limit=limit or None,  # Orthanc: a Limit of 0 is no limit
    )
    return FindRequest(
        resource_query,
        found.on_instance,
        _content(body),
        _requested_tags(body),
        _tag_format(body),
        found.unmatchable,
    )


def _boolean(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise bad_request(f'Field "{key}" should be a Boolean')
    return value


def _count(body: dict[str, Any], key: str) -> int | None:
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f'Field "{key}" should be an integer')
    if value < 0:
        raise out_of_range(f'Field "{key}" should be a positive integer')
    return value


def _level(text: str) -> int:
    level = LEVEL_SPELLINGS.get(text.upper())
    if level is None:
        raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE)
    return level


@attrs.frozen
class _Matching:
    on_hierarchy: tuple[Constraint, ...]  # main tags, matched in SQL
    on_instance: tuple[Constraint, ...]  # every constraint, when one is not on a main tag
    unmatchable: bool
    by_modalities: bool  # ModalitiesInStudy at study level


def _constraints(query: dict[str, Any], level: int, case_sensitive: bool) -> _Matching:
    """As Orthanc's REST lookup: values are compared as written (no trimming), a main tag of
    a lower level or a computed counter matches nothing (ModalitiesInStudy only means its
    series at study level), and an attribute that is not a main tag of the level or above is
    checked on the tags of one instance of each match, with every other constraint."""
    on_hierarchy: list[Constraint] = []
    on_instance: list[Constraint] = []
    reads_instance = unmatchable = False
    for name, value in query.items():
        if not isinstance(value, str):
            raise bad_request(f'Tag "{name}" should be associated with a string')
        tag = _tag(name)
        if not value:
            continue  # universal, as in C-FIND
        keyword = keyword_for_tag(tag) or f"{tag >> 16:04x},{tag & 0xFFFF:04x}"
        vr = _vr(tag)
        if vr == "SQ":
            raise OrthancError(OrthancCode.PARAMETER_OUT_OF_RANGE)
        _check_wildcards(vr, value, tag)
        sensitive = case_sensitive or vr == "UI"  # a UID's case means nothing: its index is used
        kept_at = matching.TAG_LEVELS.get(keyword, [])
        main = bool(kept_at) and min(kept_at) <= level
        if keyword == "ModalitiesInStudy":
            main = level == STUDY
            unmatchable |= not main
        elif keyword in matching.ALL_COUNTERS or (kept_at and not main and keyword != SOP_CLASS):
            unmatchable = True
        elif not main:
            reads_instance = True
        if main:
            on_hierarchy += matching.constraints_for(
                keyword, vr, value, level, sensitive, literal=True
            )
        constraint = matching.value_constraint(keyword, vr, value, sensitive, literal=True)
        if constraint is not None and keyword not in matching.ALL_COUNTERS:
            on_instance.append(constraint)
    by_modalities = level == STUDY and any(c.keyword == "Modality" for c in on_hierarchy)
    return _Matching(
        tuple(on_hierarchy),
        tuple(on_instance) if reads_instance else (),
        unmatchable,
        by_modalities,
    )


def _tag(name: str) -> int:
    try:
        return parse_tag(name)
    except UnknownDicomTag:
        raise OrthancError(OrthancCode.UNKNOWN_DICOM_TAG) from None


def _vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _check_wildcards(vr: str, value: str, tag: int) -> None:
    """Orthanc refuses `*` and `?` in a single value or a range on a VR without wildcard
    matching (a date, a UID…); in a list they are compared as they are."""
    if vr in matching.WILDCARD_VRS or ("\\" in value and not _is_range(vr, value)):
        return
    if "*" in value or "?" in value:
        raise out_of_range(f"Wildcards are not allowed on tag {tag >> 16:04x},{tag & 0xFFFF:04x}")


def _is_range(vr: str, value: str) -> bool:
    return vr in matching.RANGE_VRS and "-" in value


def _labels(body: dict[str, Any]) -> tuple[str, ...]:
    labels = body.get("Labels", [])
    if not isinstance(labels, list):
        raise bad_request('Field "Labels" must be an array of strings')
    if not all(isinstance(label, str) for label in labels):
        raise bad_request('Field "Labels" must contain strings')
    return tuple(labels)


def _labels_mode(body: dict[str, Any]) -> str:
    mode = body.get("LabelsConstraint", "All")
    if not isinstance(mode, str):
        raise bad_request('Field "LabelsConstraint" must be an array of strings')
    if mode not in LABELS_MODES:
        raise bad_request('Field "LabelsConstraint" must be "All", "Any", or "None"')
    return mode


def _parent(body: dict[str, Any], level: int) -> tuple[int, str] | None:
    named = [(field, parent) for field, parent in PARENT_FIELDS.items() if field in body]
    if not named:
        return None
    if len(named) > 1:
        raise bad_request("Only one of ParentPatient, ParentStudy or ParentSeries may be given")
    field, parent_level = named[0]
    if not isinstance(body[field], str):
        raise bad_request(f'Field "{field}" should be a string')
    if parent_level >= level:
        raise bad_request(f'Field "{field}" names a level that is not above the query\'s')
    return parent_level, body[field]


def _order_by(body: dict[str, Any], level: int, names: AnnotationNames) -> tuple[Ordering, ...]:
    items = body.get("OrderBy", [])
    if not isinstance(items, list):
        raise bad_request('Field "OrderBy" should be an array')
    return tuple(_ordering(item, level, names) for item in items)


def _ordering(item: Any, level: int, names: AnnotationNames) -> Ordering:
    if not isinstance(item, dict) or not all(
        isinstance(item.get(key), str) for key in ("Type", "Key", "Direction")
    ):
        raise bad_request('Field "OrderBy" must contain objects with "Type", "Key", "Direction"')
    direction = item["Direction"].upper()
    if direction not in ("ASC", "DESC"):
        raise bad_request('"Direction" in "OrderBy" must be "ASC" or "DESC"')
    if item["Type"] == "Metadata":
        number = names.metadata_number(item["Key"])
        if number is None:
            raise OrthancError(OrthancCode.INEXISTENT_ITEM, f"Unknown metadata: {item['Key']}")
        return Ordering("metadata", str(number), direction == "DESC")
    if item["Type"] != "DicomTag":
        raise bad_request('"Type" in "OrderBy" must be "DicomTag" or "Metadata"')
    keyword = keyword_for_tag(_tag(item["Key"]))
    levels = matching.TAG_LEVELS.get(keyword, [])
    if not any(tag_level <= level for tag_level in levels):
        raise bad_request(
            f"Ordering by {item['Key']} is only possible on a main DICOM tag of the "
            "query's level or above"
        )
    return Ordering("tag", keyword, direction == "DESC")


def _expand(body: dict[str, Any]) -> bool:
    """Orthanc reads Expand as JSON's truthiness of a boolean, number or null."""
    value = body.get("Expand")
    if value is not None and not isinstance(value, bool | int | float):
        raise bad_request('Field "Expand" should be a Boolean')
    return bool(value)


def _content(body: dict[str, Any]) -> frozenset[str]:
    if "ResponseContent" not in body:
        return EXPANDED if _expand(body) else frozenset()
    items = body["ResponseContent"]
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise bad_request('Field "ResponseContent" should be an array of strings')
    unknown = [item for item in items if item not in RESPONSE_CONTENT | {"ID"}]
    if unknown:
        raise bad_request(f"Unsupported value in ResponseContent: {unknown[0]}")
    return frozenset(items) - {"ID"}


def _requested_tags(body: dict[str, Any]) -> tuple[int, ...]:
    items = body.get("RequestedTags", [])
    if not isinstance(items, list):
        raise bad_request('Field "RequestedTags" should be an array')
    tags: list[int] = []
    for item in items:
        if not isinstance(item, str):
            raise bad_request('Field "RequestedTags" should be an array of strings')
        tag = _tag(item)
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _tag_format(body: dict[str, Any]) -> TagsFormat:
    """As Orthanc: Short wins over Full."""
    for key in ("Short", "Full"):
        if not isinstance(body.get(key, False), bool):
            raise OrthancError(
                OrthancCode.BAD_FILE_FORMAT, f"Boolean value expected in field: {key}"
            )
    if body.get("Short"):
        return TagsFormat.SHORT
    return TagsFormat.FULL if body.get("Full") else TagsFormat.SIMPLIFIED
