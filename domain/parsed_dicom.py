"""What the parser read from a DICOM file: the dataset, and what it knows beyond it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from pydicom import Dataset


@attrs.frozen
class ParsedDicom:
    dataset: Dataset
    # Read up to the pixel data: the JSON views still list PixelData, as null, as Orthanc does.
    pixel_data_skipped: bool = False
    # Dataset elements DCMTK counts in the meta-header (its group length was too long): taken
    # out of the dataset, shown by /header. Tag -> element.
    meta_overflow: Mapping[int, Any] = attrs.field(factory=dict)
    # Where the pixel data element starts in the file (None: no pixel data, or no preamble).
    pixel_data_offset: int | None = None


def parsed(source: Dataset | ParsedDicom) -> ParsedDicom:
    """A dataset built in memory has nothing beyond itself."""
    return source if isinstance(source, ParsedDicom) else ParsedDicom(source)
