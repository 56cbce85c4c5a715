"""Modify and anonymize DICOM datasets as Orthanc does (its DicomModification): Replace, Remove,
Keep (by tag or path), RemovePrivateTags, PrivateCreator, the de-identification profiles, and
new UIDs mapped consistently across every instance one modification touches, so the new
study, series and instances hang together and references between them still hold.

Built from a request (`modification_from_request`, `anonymization_from_request`), then applied
to each dataset (`Modification.apply`), which it changes in place.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from typing import Any

import attrs
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR, private_dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import generate_uid

from domain import deidentification
from domain.binary_numbers import BINARY_NUMBER_VRS, parse_numbers
from domain.deidentification import (
    PATIENT_ID,
    PATIENT_NAME,
    SERIES_INSTANCE_UID,
    SOP_INSTANCE_UID,
    STUDY_INSTANCE_UID,
    TagRange,
)
from domain.dicom_paths import BadDicomPath, DicomPath
from domain.dicom_text import UnknownDicomTag, format_tag, parse_tag
from domain.levels import INSTANCE, LEVEL_NAMES, PATIENT, SERIES, STUDY

DEIDENTIFICATION_METHOD = 0x00120063
PATIENT_IDENTITY_REMOVED = 0x00120062
REFERENCED_IMAGE_SEQUENCE = 0x00081140
SOURCE_IMAGE_SEQUENCE = 0x00082112
REFERENCED_SOP_INSTANCE_UID = 0x00081155
REFERENCED_FRAME_OF_REFERENCE_SEQUENCE = 0x30060010
RT_REFERENCED_STUDY_SEQUENCE = 0x30060012
DATABASE_KEYS = {PATIENT_ID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID}
TEXT_VRS = frozenset(
    {
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "ST",
        "TM",
        "UC",
        "UI",
        "UR",
        "UT",
    }
)
BYTES_VRS = frozenset(("OB", "OD", "OF", "OL", "OV", "OW", "UN"))
_BINARY_URI = "data:application/octet-stream;base64,"  # Orthanc's URI_SCHEME_PREFIX_BINARY
Parents = tuple[tuple[int, int], ...]  # (sequence tag, item index), outermost first


class ModificationRefused(ValueError):
    """A request Orthanc refuses; `code` names its error (api.errors.OrthancCode)."""

    def __init__(self, code: str, details: str | None = None) -> None:
        super().__init__(details or code)
        self.code = code
        self.details = details


def _refused(code: str, details: str | None = None) -> ModificationRefused:
    return ModificationRefused(code, details)


@attrs.define
class Modification:
    level: int = INSTANCE
    is_anonymization: bool = False
    removals: set[int] = attrs.Factory(set)
    clearings: set[int] = attrs.Factory(set)
    removed_ranges: list[TagRange] = attrs.Factory(list)
    uids: set[int] = attrs.Factory(set)
    replacements: dict[int, Any] = attrs.Factory(dict)  # tag -> the request's JSON value
    keep_paths: list[DicomPath] = attrs.Factory(list)
    remove_paths: list[DicomPath] = attrs.Factory(list)
    path_replacements: list[tuple[DicomPath, Any]] = attrs.Factory(list)
    remove_private_tags: bool = False
    private_tags_to_keep: set[int] = attrs.Factory(set)
    keep_uids: set[int] = attrs.Factory(set)  # of Study/Series/SOP Instance UID
    allow_manual_identifiers: bool = True
    private_creator: str = ""
    profile_method: str | None = None  # DeidentificationMethod until the request alters it
    decode_data_uris: bool = True  # create-dicom's InterpretBinaryTags
    uid_map: dict[tuple[int, str], str] = attrs.Factory(dict)  # (level, original) -> new
    new_patient_id: Callable[[], str] = lambda: str(uuid.uuid4())
    # Set, new identifiers derive from it and the originals (a job's ID: a job run again makes
    # the same instances); None: they are random.
    uid_seed: str | None = None

    # -- building -----------------------------------------------------------------------------

    def keep(self, path: DicomPath) -> None:
        if not path.prefix:
            tag = path.tag
            self.removals.discard(tag)
            self.clearings.discard(tag)
            self.uids.discard(tag)
            self.replacements.pop(tag, None)
            if tag in (STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID):
                self.keep_uids.add(tag)
            elif Tag(tag).is_private:
                self.private_tags_to_keep.add(tag)
        self.keep_paths.append(path)
        self._not_the_profile()

    def remove(self, path: DicomPath) -> None:
        if path.prefix:
            self.remove_paths.append(path)
        else:
            self._forget(path.tag)
            self.removals.add(path.tag)
        self._not_the_profile()

    def replace(self, path: DicomPath, value: Any, safe_for_anonymization: bool = False) -> None:
        if path.prefix:
            self.path_replacements.append((path, value))
        else:
            self._forget(path.tag)
            self.replacements[path.tag] = value
        if not safe_for_anonymization:
            self._not_the_profile()

    def _forget(self, tag: int) -> None:
        self.removals.discard(tag)
        self.clearings.discard(tag)
        self.uids.discard(tag)
        self.replacements.pop(tag, None)
        self.private_tags_to_keep.discard(tag)

    def _not_the_profile(self) -> None:
        """Once the request alters the profile, DeidentificationMethod no longer names it."""
        self.profile_method = None

    def is_replaced(self, tag: int) -> bool:
        return tag in self.replacements

    def is_removed(self, tag: int) -> bool:
        return tag in self.removals or any(tag in span for span in self.removed_ranges)

    def _manually_modified(self, tag: int) -> bool:
        return tag in self.clearings or self.is_removed(tag) or self.is_replaced(tag)

    # -- checking -----------------------------------------------------------------------------

    def check(self) -> None:
        """Orthanc's refusals that depend on the request only, raised before any work."""
        if any(self.is_removed(tag) for tag in DATABASE_KEYS):
            raise _refused("BAD_REQUEST")
        patient_id_changes = self.is_replaced(PATIENT_ID) or PATIENT_ID in self.uids
        if self.level == PATIENT and not patient_id_changes:
            raise _refused(
                "BAD_REQUEST", "When modifying a patient, her PatientID is required to be modified"
            )
        parents = {STUDY: (PATIENT_ID,), SERIES: (PATIENT_ID, STUDY_INSTANCE_UID)}
        parents[INSTANCE] = (PATIENT_ID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID)
        for tag in parents.get(self.level, ()):
            changed = patient_id_changes if tag == PATIENT_ID else self.is_replaced(tag)
            if changed:
                raise _refused("BAD_REQUEST", _parent_refusal(self.level, tag))
        if not self.allow_manual_identifiers:
            for tag in (STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID):
                if _uid_level(tag) > self.level and self.is_replaced(tag):
                    raise _refused("BAD_REQUEST", _manual_refusal(self.level, tag))

    # -- applying -----------------------------------------------------------------------------

    def apply(self, ds: Dataset) -> None:
        """Modifies `ds` in place (its file meta header follows the new SOP Instance UID)."""
        self.check()
        if self.is_anonymization:
            self._register_replaced_uids(ds)
        if self.remove_private_tags:
            for element in list(ds):
                if element.tag.is_private and int(element.tag) not in self.private_tags_to_keep:
                    del ds[element.tag]
        for tag in self.clearings:
            if tag in ds:
                ds[tag] = _empty_like(ds[tag])
        for tag in list(ds.keys()):
            if self.is_removed(int(tag)):
                del ds[tag]
        for tag, value in sorted(self.replacements.items()):
            ds[tag] = self._element(ds, tag, value)
        self._map_identifiers(ds)
        if self.is_anonymization:
            self._update_relationships(ds, ())
        for path in self.remove_paths:
            for item in path.items(ds):
                if path.tag in item:
                    del item[path.tag]
        for path, value in self.path_replacements:
            for item in path.items(ds):
                item[path.tag] = self._element(item, path.tag, value)

    def _register_replaced_uids(self, ds: Dataset) -> None:
        for tag in (STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID):
            if self.is_replaced(tag):
                original = str(ds.get(tag).value if tag in ds else "").strip()
                self.uid_map.setdefault((_uid_level(tag), original), str(self.replacements[tag]))

    def _map_identifiers(self, ds: Dataset) -> None:
        for tag in (STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID):
            level = _uid_level(tag)
            if self.level > level or self.is_replaced(tag) or tag in self.keep_uids:
                continue
            original = str(ds[tag].value) if tag in ds else ""
            ds[tag] = DataElement(tag, "UI", self.map_identifier(original, level))

    def map_identifier(self, original: str, level: int) -> str:
        """The new identifier of `original` at `level`, the same every time within this
        modification (a new UUID for a patient, a new UID otherwise)."""
        key = (level, original.strip())
        mapped = self.uid_map.get(key)
        if mapped is None and self.uid_seed is not None:
            derived = uuid.uuid5(uuid.NAMESPACE_OID, f"{self.uid_seed}|{level}|{key[1]}")
            mapped = str(derived) if level == PATIENT else f"2.25.{derived.int}"
            self.uid_map[key] = mapped
        if mapped is None:
            mapped = self.new_patient_id() if level == PATIENT else generate_uid(prefix=None)
            self.uid_map[key] = mapped
        return mapped

    def _update_relationships(self, ds: Dataset, parents: Parents) -> None:
        """Anonymization's walk over every element: nested identifiers mapped, nested
        elements the profile removes or empties removed or emptied, references remapped."""
        for element in list(ds):
            tag = int(element.tag)
            if parents and self._kept(parents, tag):
                continue
            action = self._nested_action(element, tag) if parents else None
            if action == "remove":
                del ds[element.tag]
                continue
            if action == "clear":
                ds[tag] = _empty_like(element)
                continue
            if element.VR == "SQ":
                for index, item in enumerate(element.value):
                    self._update_relationships(item, (*parents, (tag, index)))
            elif element.VR in TEXT_VRS:
                mapped = self._mapped_text(element, tag, parents)
                if mapped is not None:
                    ds[tag] = DataElement(tag, element.VR, mapped)

    def _kept(self, parents: Parents, tag: int) -> bool:
        return any(path.matches(parents, tag) for path in self.keep_paths)

    def _nested_action(self, element: DataElement, tag: int) -> str | None:
        if self.remove_private_tags and element.tag.is_private:
            return "remove"
        if self.is_removed(tag):
            return "remove"
        if tag in self.clearings:
            return "clear" if element.VR in TEXT_VRS else "remove"
        return None

    def _mapped_text(self, element: DataElement, tag: int, parents: Parents) -> str | None:
        value = _text_of(element)
        if not parents:
            if tag not in self.uids or self._manually_modified(tag):
                return None
            return self.map_identifier(value, PATIENT if _is_patient_key(tag) else INSTANCE)
        if tag in (STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID):
            return self.map_identifier(value, _uid_level(tag))
        if tag not in self.uids:
            return None
        if _is_patient_key(tag):
            return self.map_identifier(value, PATIENT)
        if _references_a_study(parents, tag):
            return self.map_identifier(value, STUDY)
        return self.map_identifier(value, INSTANCE)

    # -- values -------------------------------------------------------------------------------

    def element(self, ds: Dataset, tag: int, value: Any) -> DataElement:
        """The element a request's JSON value makes for `tag` in `ds` (text, a data URI, a list
        of items for a sequence), with this modification's private creator."""
        return self._element(ds, tag, value)

    def _element(self, ds: Dataset, tag: int, value: Any) -> DataElement:
        vr = self._vr(ds, tag)
        if isinstance(value, list):
            if vr != "SQ":
                raise _refused(
                    "BAD_PARAMETER_TYPE", f"Bad Parameter type for tag {format_tag(tag)}"
                )
            return DataElement(tag, "SQ", DicomSequence([self._item(item) for item in value]))
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise _refused("BAD_PARAMETER_TYPE", f"Bad Parameter type for tag {format_tag(tag)}")
        if vr == "SQ":  # Orthanc makes the sequence, and a string cannot fill it
            if value:
                raise _refused("BAD_FILE_FORMAT", f"Tag {format_tag(tag)} holds a sequence")
            return DataElement(tag, "SQ", DicomSequence())
        decoded = _decoded(value) if self.decode_data_uris else value
        return DataElement(tag, vr, _value_for(vr, decoded, tag, ds))

    def _item(self, value: Any) -> Dataset:
        item = Dataset()
        if isinstance(value, list) and not value:
            return item  # Lua cannot tell an empty table from an empty array
        if not isinstance(value, dict):
            raise _refused("BAD_PARAMETER_TYPE")
        for name, member in value.items():
            tag = _parsed_tag(name)
            item[tag] = self._element(item, tag, member)
        return item

    def _vr(self, ds: Dataset, tag: int) -> str:
        if tag in ds and ds[tag].VR not in ("UN", None):
            return str(ds[tag].VR)
        if Tag(tag).is_private:
            creator = self.private_creator or _creator_of(ds, tag)
            try:
                return str(private_dictionary_VR(tag, creator)) if creator else "UN"
            except KeyError:
                return "UN"
        try:
            return _single_vr(str(dictionary_VR(tag)))
        except KeyError:
            return "UN"


def _decoded(text: str) -> str | bytes:
    """The value, or the bytes a "data:application/octet-stream;base64," URI holds (decoded
    for any VR, as Orthanc does; other data URIs are text like any other)."""
    if not text.startswith(_BINARY_URI):
        return text
    try:
        raw = base64.b64decode(text[len(_BINARY_URI) :], validate=True)
    except binascii.Error:
        raise _refused("BAD_FILE_FORMAT", "Invalid base64 in a data URI") from None
    return raw


def _value_for(vr: str, value: str | bytes, tag: int, ds: Dataset) -> Any:
    """The element's value; decoded bytes for a text VR are read in the dataset's character
    set, as Orthanc puts them in the element as they are."""
    if vr in BYTES_VRS:
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        return raw + b"\0" * (len(raw) % 2)  # even, padded as DCMTK pads it
    if isinstance(value, bytes):
        encodings = convert_encodings(ds.get("SpecificCharacterSet"))
        value = decode_bytes(value, encodings, set())
    return _text_value_for(vr, value, tag)


def _text_value_for(vr: str, text: str, tag: int) -> Any:
    if vr in BINARY_NUMBER_VRS:
        try:
            return parse_numbers(vr, text)
        except ValueError:
            raise _refused(
                "BAD_FILE_FORMAT", f"Cannot parse {text!r} for {format_tag(tag)}"
            ) from None
    if vr == "AT":
        return [_parsed_tag(item) for item in text.split("\\")] if text else None
    return text


def _empty_like(element: DataElement) -> DataElement:
    value: Any = None  # a binary number: no value
    if element.VR == "SQ":
        value = DicomSequence()
    elif element.VR in TEXT_VRS:
        value = ""
    elif element.VR in BYTES_VRS:
        value = b""
    return DataElement(element.tag, element.VR, value)


def _text_of(element: DataElement) -> str:
    value = element.value
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(item) for item in value)
    return str(value)


def _creator_of(ds: Dataset, tag: int) -> str:
    block = (tag >> 16 << 16) | ((tag & 0xFF00) >> 8)
    return str(ds[block].value) if block in ds else ""


def _single_vr(vr: str) -> str:
    """The dictionary's "US or SS" and "OB or OW" as Orthanc's DCMTK writes them."""
    return vr.split(" or ")[0]


def _uid_level(tag: int) -> int:
    return {STUDY_INSTANCE_UID: STUDY, SERIES_INSTANCE_UID: SERIES}.get(tag, INSTANCE)


def _is_patient_key(tag: int) -> bool:
    return tag in (PATIENT_ID, PATIENT_NAME)


def _references_a_study(parents: Parents, tag: int) -> bool:
    """RT Structure Sets name a study in this ReferencedSOPInstanceUID (Orthanc maps it so)."""
    return (
        tag == REFERENCED_SOP_INSTANCE_UID
        and len(parents) == 2
        and parents[0][0] == REFERENCED_FRAME_OF_REFERENCE_SEQUENCE
        and parents[1][0] == RT_REFERENCED_STUDY_SEQUENCE
    )


def _parent_refusal(level: int, tag: int) -> str:
    names = {PATIENT_ID: "PatientID", STUDY_INSTANCE_UID: "StudyInstanceUID"}
    names[SERIES_INSTANCE_UID] = "SeriesInstanceUID"
    article = "an" if level == INSTANCE else "a"
    return (
        f"When modifying {article} {LEVEL_NAMES[level].lower()}, the parent {names[tag]} "
        "cannot be manually modified"
    )


def _manual_refusal(level: int, tag: int) -> str:
    names = {STUDY_INSTANCE_UID: "StudyInstanceUID", SERIES_INSTANCE_UID: "SeriesInstanceUID"}
    names[SOP_INSTANCE_UID] = "SopInstanceUID"
    return (
        f"When modifying a {LEVEL_NAMES[level].lower()}, the {names[tag]} cannot be manually "
        "modified"
    )


# -- requests ---------------------------------------------------------------------------------


def _parsed_tag(name: str) -> int:
    try:
        return parse_tag(name)
    except UnknownDicomTag:
        raise _refused("UNKNOWN_DICOM_TAG") from None  # Orthanc gives no details


def _parsed_path(name: str) -> DicomPath:
    try:
        return DicomPath.parse(name)
    except UnknownDicomTag:
        raise _refused("UNKNOWN_DICOM_TAG") from None
    except BadDicomPath as bad:
        raise _refused("PARAMETER_OUT_OF_RANGE", str(bad)) from None


def _boolean(request: dict[str, Any], member: str, default: bool) -> bool:
    if member not in request:
        return default
    value = request[member]
    if not isinstance(value, bool):
        raise _refused("BAD_FILE_FORMAT", f'Member "{member}" should be a Boolean value')
    return value


def _string(request: dict[str, Any], member: str) -> str:
    value = request[member]
    if not isinstance(value, str):
        raise _refused("BAD_FILE_FORMAT", f"String value expected in field: {member}")
    return value


def _tag_list(target: Modification, request: dict[str, Any], member: str, force: bool) -> None:
    names = request[member]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise _refused("BAD_REQUEST")
    verb = "kept" if member == "Keep" else "removed"
    for name in names:
        path = _parsed_path(name)
        if not path.prefix and not force and path.tag in DATABASE_KEYS:
            raise _refused(
                "BAD_REQUEST",
                f'Marking tag "{name}" as to be {verb} requires the "Force" option to be set '
                "to true",
            )
        if member == "Keep":
            target.keep(path)
        else:
            target.remove(path)


def _replacements(target: Modification, request: dict[str, Any], force: bool) -> None:
    replacements = request["Replace"]
    if not isinstance(replacements, dict):
        raise _refused("BAD_REQUEST")
    for name in sorted(replacements):
        path = _parsed_path(name)
        if not path.prefix and not force and path.tag in DATABASE_KEYS:
            raise _refused(
                "BAD_REQUEST",
                f'Marking tag "{name}" as to be replaced requires the "Force" option to be set '
                "to true",
            )
        target.replace(path, replacements[name])


def _requested_changes(target: Modification, request: dict[str, Any], force: bool) -> None:
    if "Remove" in request:
        _tag_list(target, request, "Remove", force)
    if "Replace" in request:
        _replacements(target, request, force)
    if "Keep" in request:
        _tag_list(target, request, "Keep", force)


def modification_from_request(request: Any, default_private_creator: str = "") -> Modification:
    """The modification a /modify body asks for (its level is set by the caller)."""
    if not isinstance(request, dict):
        raise _refused("BAD_FILE_FORMAT")
    target = Modification(private_creator=default_private_creator)
    force = _boolean(request, "Force", False)
    if _boolean(request, "RemovePrivateTags", False):
        target.remove_private_tags = True
    _requested_changes(target, request, force)
    if "PrivateCreator" in request:
        target.private_creator = _string(request, "PrivateCreator")
    return target


def anonymization_from_request(
    request: Any, default_private_creator: str = ""
) -> tuple[Modification, bool]:
    """The anonymization an /anonymize body asks for, and whether the request itself says
    what PatientName becomes (else the caller replaces it by a generated "AnonymizedN")."""
    if not isinstance(request, dict):
        raise _refused("BAD_FILE_FORMAT")
    force = _boolean(request, "Force", False)
    version = deidentification.DEFAULT_VERSION
    if "DicomVersion" in request:
        if not isinstance(request["DicomVersion"], str):
            raise _refused("BAD_FILE_FORMAT")
        version = request["DicomVersion"]
    target = anonymization(version, default_private_creator)
    if _boolean(request, "KeepPrivateTags", False):
        target.remove_private_tags = False
        target.profile_method = None
    _requested_changes(target, request, force)
    name_given = PATIENT_NAME not in target.uids
    if "PrivateCreator" in request:
        target.private_creator = _string(request, "PrivateCreator")
    return target, name_given


def anonymization(version: str, private_creator: str = "") -> Modification:
    """The profile of `version` (deidentification.VERSIONS) at the patient level."""
    try:
        chosen = deidentification.profile(version)
    except deidentification.UnknownVersion:
        raise _refused(
            "PARAMETER_OUT_OF_RANGE", f"Unknown specific version of the DICOM standard: {version}"
        ) from None
    target = Modification(
        level=PATIENT,
        is_anonymization=True,
        removals=set(chosen.removals),
        clearings=set(chosen.clearings),
        removed_ranges=list(chosen.removed_ranges),
        uids={*chosen.uids, PATIENT_ID, PATIENT_NAME},
        remove_private_tags=True,
        private_creator=private_creator,
        profile_method=chosen.method,
    )
    target.replacements[PATIENT_IDENTITY_REMOVED] = "YES"
    return target


def modify_level(target: Modification) -> int:
    """The level an instance's /modify works at: the highest identifier it replaces."""
    for tag, level in ((PATIENT_ID, PATIENT), (STUDY_INSTANCE_UID, STUDY)):
        if target.is_replaced(tag):
            return level
    return SERIES if target.is_replaced(SERIES_INSTANCE_UID) else INSTANCE


def with_method(target: Modification, software: str) -> None:
    """Writes DeidentificationMethod ("<software> - <profile>") if the request kept the profile
    as it is."""
    if target.profile_method is not None:
        target.replacements[DEIDENTIFICATION_METHOD] = f"{software} - {target.profile_method}"
