"""Paths into nested sequences, as Orthanc's modify and anonymize requests name them:
`PatientName`, `0010,0010`, `ReferencedImageSequence[0].ReferencedSOPInstanceUID`, or with `[*]`
for every item of a sequence (DicomPath in Orthanc).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import attrs
from pydicom.dataset import Dataset

from domain.dicom_text import parse_tag

ANY_ITEM = -1  # "[*]"
_STEP = re.compile(r"^(.+)\[(\*|\d+)\]$")


class BadDicomPath(ValueError):
    pass


@attrs.frozen
class DicomPath:
    prefix: tuple[tuple[int, int], ...]  # (sequence tag, item index or ANY_ITEM), outermost first
    tag: int

    @classmethod
    def parse(cls, text: str) -> DicomPath:
        """Raises domain.dicom_text.UnknownDicomTag for a name no dictionary knows, BadDicomPath
        for a malformed path."""
        steps = text.split(".")
        prefix = []
        for step in steps[:-1]:
            match = _STEP.match(step.strip())
            if match is None:
                raise BadDicomPath(f"Cannot parse this path: {text}")
            index = ANY_ITEM if match.group(2) == "*" else int(match.group(2))
            prefix.append((parse_tag(match.group(1).strip()), index))
        return cls(tuple(prefix), parse_tag(steps[-1].strip()))

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
