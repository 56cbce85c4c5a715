"""The order of a series' slices, as Orthanc's SliceOrdering finds it (for
/series/{id}/ordered-slices and /series/{id}/numpy): along the normal of the series'
ImageOrientationPatient when every instance has a distinct ImagePositionPatient on it (a
"Volume"), else by IndexInSeries (a "Sequence"); a series that is neither cannot be ordered.
Positions are projected in single precision, as Orthanc does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import attrs
import numpy as np

_EPSILON = 10.0 * float(np.finfo(np.float32).eps)


class CannotOrderSlices(ValueError):
    pass


@attrs.frozen
class Slice:
    instance_id: str
    position: str | None  # ImagePositionPatient, as the main tags have it
    orientation: str | None  # ImageOrientationPatient
    frames: str | None  # NumberOfFrames
    index_in_series: str | None

    @property
    def frames_count(self) -> int:
        try:
            return int((self.frames or "").strip())
        except ValueError:
            return 1


@attrs.frozen
class Ordering:
    volume: bool
    slices: list[Slice]


def _vector(text: str | None, size: int) -> list[float] | None:
    if text is None:
        return None
    tokens = text.split("\\")
    if len(tokens) != size:
        return None
    try:
        return [float(np.float32(token.strip())) for token in tokens]
    except ValueError:
        return None


def normal_of(orientation: str | None) -> list[float] | None:
    cosines = _vector(orientation, 6)
    if cosines is None:
        return None
    c = [np.float32(value) for value in cosines]
    return [
        float(c[1] * c[5] - c[2] * c[4]),
        float(c[2] * c[3] - c[0] * c[5]),
        float(c[0] * c[4] - c[1] * c[3]),
    ]


def _parallel(u: Sequence[float], v: Sequence[float]) -> bool:
    norms = math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(x * x for x in v))
    if abs(norms) < _EPSILON:
        return False
    cosine = sum(a * b for a, b in zip(u, v, strict=True)) / norms
    return abs(cosine - 1.0) < _EPSILON or abs(abs(cosine) - 1.0) < _EPSILON


def _projected(slice_: Slice, normal: Sequence[float]) -> float:
    position = _vector(slice_.position, 3)
    assert position is not None
    n = [np.float32(x) for x in normal]
    p = [np.float32(x) for x in position]
    return float(n[0] * p[0] + n[1] * p[1] + n[2] * p[2])


def ordered(series_orientation: str | None, slices: list[Slice]) -> Ordering:
    """The slices (in the series' storage order) ordered; raises CannotOrderSlices."""
    if len(slices) <= 1:
        return Ordering(False, list(slices))
    by_position = _by_position(normal_of(series_orientation), slices)
    if by_position is not None:
        return Ordering(True, by_position)
    indexes = [_index(slice_.index_in_series) for slice_ in slices]
    if any(index is None for index in indexes):
        raise CannotOrderSlices("Unable to order the slices of the series")
    order = sorted(range(len(slices)), key=lambda k: indexes[k] or 0)
    return Ordering(False, [slices[k] for k in order])


def _by_position(normal: list[float] | None, slices: list[Slice]) -> list[Slice] | None:
    if normal is None:
        return None
    for slice_ in slices:
        own = normal_of(slice_.orientation)
        if _vector(slice_.position, 3) is None or (own is not None and not _parallel(own, normal)):
            return None
    keyed = sorted(slices, key=lambda s: _projected(s, normal))
    positions = [np.float32(_projected(s, normal)) for s in keyed]
    for before, after in itertools.pairwise(positions):
        if abs(float(after - before)) <= _EPSILON:
            return None
    return keyed


def _index(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None
