"""A deterministic, JSON-able description of a DICOM file, to compare two servers' outputs of
the same modification (Orthanc's captured answer and Chronicle's).

`normalized()` lists every element as ``[path, VR, value]`` in dataset order (file meta first,
then the dataset; sequences as their item count, then their items' elements):

* paths are lower-case ``gggg,eeee`` tags, items as ``[i]``: ``"0008,1140[0].0008,1155"``;
* text is its str (multi-values joined with ``\\``), numbers their str, binary values (OB, OW,
  UN, ..., PixelData) the sha1 hex of their bytes;
* the group 0002 elements that name the writer are left out (group length, version,
  ImplementationClassUID/VersionName, SourceApplicationEntityTitle).

Then what each server generates at random is replaced by what a comparison can rely on:

* a UI value, or the PatientID, absent from `source` (and from `known`, the values the request
  gave) becomes ``"<new#k>"``, k numbering the distinct new values in order of first
  appearance (one new UID in two places stays visible);
* a PatientName ``Anonymized<digits>`` becomes ``"Anonymized#"``;
* DeidentificationMethod keeps what follows its first ``" - "`` (the writer's name precedes it).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

Entry = list[str]

_WRITER_TAGS = {Tag(0x0002, e) for e in (0x0000, 0x0001, 0x0012, 0x0013, 0x0016)}
_BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "OB or OW", "US or OW"}
_PATIENT_ID = Tag(0x0010, 0x0020)
_PATIENT_NAME = Tag(0x0010, 0x0010)
_DEIDENTIFICATION_METHOD = Tag(0x0012, 0x0063)
_ANONYMIZED_NAME = re.compile(r"Anonymized\d+")


def normalized(
    data: bytes,
    source: bytes | None = None,
    *,
    known: Iterable[str] = (),
    labels: dict[str, str] | None = None,
) -> list[Entry]:
    """`data` described as the module says. `source`: the file it was made from (its values,
    and those in `known`, are kept as they are; without it no value is relabelled). `labels`:
    new value -> label, shared by the files of one resource so that a UID they share gets the
    same label."""
    kept = _values(source) | set(known) if source is not None else None
    labels = {} if labels is None else labels
    entries = []
    for path, element in _elements(_read(data)):
        value = _text(element)
        if kept is not None and _generated(element) and value and value not in kept:
            value = labels.setdefault(value, f"<new#{len(labels) + 1}>")
        entries.append([path, element.VR, _stable(element.tag, value)])
    return entries


def _read(data: bytes) -> Dataset:
    """The whole file, UN elements kept UN (pydicom would otherwise give them the VR of the
    dictionary, hiding a difference in how the servers wrote them)."""
    saved = pydicom.config.replace_un_with_known_vr
    pydicom.config.replace_un_with_known_vr = False
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        list(_elements(dataset))  # converts every raw element while the setting holds
    finally:
        pydicom.config.replace_un_with_known_vr = saved
    return dataset


def _elements(dataset: Dataset) -> Iterator[tuple[str, DataElement]]:
    """(path, element) of the file meta, then of the dataset, recursing into sequences."""
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        yield from ((_tag(e.tag), e) for e in meta if e.tag not in _WRITER_TAGS)
    yield from _walk(dataset, "")


def _walk(dataset: Dataset, prefix: str) -> Iterator[tuple[str, DataElement]]:
    for element in dataset:
        path = prefix + _tag(element.tag)
        yield path, element
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                yield from _walk(item, f"{path}[{index}].")


def _tag(tag: BaseTag) -> str:
    return f"{tag.group:04x},{tag.element:04x}"


def _text(element: DataElement) -> str:
    """The element's value as one string (see the module's docstring)."""
    value: Any = element.value
    if element.VR == "SQ":
        return str(len(value))
    if element.VR in _BINARY_VRS or isinstance(value, bytes | bytearray):
        return hashlib.sha1(bytes(value or b"")).hexdigest()
    if value is None:
        return ""
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return "\\".join(str(item) for item in value)
    return str(value)


def _generated(element: DataElement) -> bool:
    """Whether a server makes this value up (a new UID, an anonymized PatientID)."""
    return element.VR == "UI" or element.tag == _PATIENT_ID


def _stable(tag: BaseTag, value: str) -> str:
    if tag == _PATIENT_NAME and _ANONYMIZED_NAME.fullmatch(value):
        return "Anonymized#"
    if tag == _DEIDENTIFICATION_METHOD and " - " in value:
        return value.split(" - ", 1)[1]
    return value


def _values(data: bytes) -> set[str]:
    """Every value of the file, as `_text` writes it."""
    return {_text(element) for _, element in _elements(_read(data))}


def without_group_lengths(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded case (its "dataset", its "instances"' datasets) without the retired group
    lengths (gggg,0000) of the groups above 0006: pydicom does not write them (PS3.5 7.2),
    Orthanc recomputes and keeps them. Readers ignore them, and so do the comparisons."""

    def kept(dataset: list[list[Any]]) -> list[list[Any]]:
        return [entry for entry in dataset if not _retired_group_length(entry[0])]

    recorded = dict(recorded)
    if recorded.get("dataset") is not None:
        recorded["dataset"] = kept(recorded["dataset"])
    if recorded.get("instances"):
        recorded["instances"] = [
            {**item, "dataset": kept(item["dataset"])} if item.get("dataset") else item
            for item in recorded["instances"]
        ]
    return recorded


def _retired_group_length(path: str) -> bool:
    last = path.rsplit(".", 1)[-1]
    group, _, element = last.partition(",")
    return element == "0000" and int(group, 16) > 6
