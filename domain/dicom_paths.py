"""Paths into nested sequences, as Orthanc's modify and anonymize requests name them:
`PatientName`, `0010,0010`, `ReferencedImageSequence[0].ReferencedSOPInstanceUID`, or with `[*]`
for every item of a sequence (DicomPath in Orthanc).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs
from pydicom.dataset import Dataset

from domain.dicom_text import parse_tag

ANY_ITEM = -1  # "[*]"


class BadDicomPath(ValueError):
    pass


@attrs.frozen
class DicomPath:
    prefix: tuple[tuple[int, int], ...]  # (sequence tag, item index or ANY_ITEM), outermost first
    tag: int

    @classmethod
    def parse(cls, text: str) -> DicomPath:
        """Raises domain.dicom_text.UnknownDicomTag for a name no dictionary knows, BadDicomPath
        (with Orthanc's message) for a malformed path. A tag may be a keyword, `gggg,eeee` or
        `(gggg,eeee)`; spaces around the parts are ignored, as Orthanc ignores them."""
        steps = text.split(".")
        tag = _parsed_tag(steps[-1].strip())
        return cls(tuple(_parsed_step(step) for step in steps[:-1]), tag)

    def matches(self, parents: Sequence[tuple[int, int]], tag: int) -> bool:
        """Whether an element `tag` inside the items `parents` is what this path names (an
        element below it included: a kept sequence keeps what it holds)."""
        if len(parents) < len(self.prefix):
            return False
        for (want_tag, want_index), (tag_here, index_here) in zip(
            self.prefix, parents, strict=False
        ):
            if want_tag != tag_here or want_index not in (ANY_ITEM, index_here):
                return False
        if len(parents) == len(self.prefix):
            return tag == self.tag
        return parents[len(self.prefix)][0] == self.tag

    def items(self, ds: Dataset) -> Iterator[Dataset]:
        """The datasets (sequence items) that hold this path's final tag."""
        current = [ds]
        for sequence_tag, index in self.prefix:
            following = []
            for item in current:
                if sequence_tag not in item or item[sequence_tag].VR != "SQ":
                    continue
                children = list(item[sequence_tag].value)
                if index == ANY_ITEM:
                    following.extend(children)
                elif index < len(children):
                    following.append(children[index])
            current = following
        yield from current


def _parsed_tag(token: str) -> int:
    if token.startswith("(") and token.endswith(")"):
        token = token[1:-1]
    return parse_tag(token)


def _parsed_step(step: str) -> tuple[int, int]:
    """One `Sequence[index]` of a path's prefix, checked as Orthanc checks it."""
    left, bracket, right = step.partition("[")
    if not bracket:
        raise BadDicomPath("Parent path doesn't contain an index")
    left, right = left.strip(), right.strip()
    if not left:
        raise BadDicomPath("Parent path doesn't contain a tag")
    if not right.endswith("]"):
        raise BadDicomPath("Parent path doesn't contain the end of the index")
    tag = _parsed_tag(left)
    index = right[:-1].strip()
    if index == "*":
        return tag, ANY_ITEM
    try:
        number = int(index)
    except ValueError:
        raise BadDicomPath(f"Not a valid index in parent path: [{right}") from None
    if number < 0:
        raise BadDicomPath(f"Negative index in parent path: {index}")
    return tag, number
