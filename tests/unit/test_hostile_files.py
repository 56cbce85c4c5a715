"""Broken and hostile files through the one check every received file passes (read_received).

Only InvalidDicomFile may escape it, and a file it accepts must render in every view. The fuzz
run is seeded and bounded (FUZZ_EXAMPLES); `CHRONICLE_FUZZ_EXAMPLES=20000 pytest
tests/unit/test_hostile_files.py` runs a longer one.
"""

from __future__ import annotations

import os
import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.dicom_json import full_tags, header_tags, simplify
from api.dicomweb_json import dicomweb_json
from domain.dicom_files import InvalidDicomFile, parse_dataset, read_dicom
from domain.dicom_structure import InputBounds
from domain.instance_record import InstanceRecord, read_received
from tests.support.corpus import corpus_dir
from tests.support.dicom_factory import make_instance
from tests.support.hostile_corpus import DIRECTORY, GENERATED, cases
from tests.support.mutations import KINDS, deep_sequence, deflated_file

FUZZ_EXAMPLES = int(os.environ.get("CHRONICLE_FUZZ_EXAMPLES", "600"))
SKIPPED_SUFFIXES = {".png", ".raw", ".md"}


def _seed_files() -> list[bytes]:
    paths = sorted(p for p in corpus_dir().rglob("*") if p.is_file())
    files = [p.read_bytes() for p in paths if p.suffix not in SKIPPED_SUFFIXES]
    small = [data for data in files if len(data) < 300_000]
    assert len(small) >= 10, "the corpus lost its files"
    return [*small, make_instance(size=16)]


SEEDS = _seed_files()


def accepted_or_refused(data: bytes) -> InstanceRecord | None:
    try:
        return read_received(data)
    except InvalidDicomFile as refusal:
        assert refusal.http_status in (400, 404)
        return None


def render_every_view(data: bytes) -> None:
    read = read_dicom(data)
    simplify(full_tags(read))
    header_tags(read)
    whole = parse_dataset(data)
    full_tags(whole, stop_after_pixel_data=False)
    dicomweb_json(whole)


@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    kind=st.sampled_from(sorted(KINDS)),
    salt=st.integers(0, 2**32),
)
def test_a_mutated_file_is_refused_cleanly_or_renders(seed: int, kind: str, salt: int) -> None:
    data = KINDS[kind](SEEDS[seed], random.Random(salt))
    if accepted_or_refused(data) is not None:
        render_every_view(data)


@pytest.mark.parametrize("case", [c for c in cases() if not c.name.endswith(".zip")], ids=str)
def test_the_regression_corpus_gets_its_status(case: object) -> None:
    name, status = case.name, case.status  # type: ignore[attr-defined]
    data = (DIRECTORY / name).read_bytes()
    if status == 200:
        assert accepted_or_refused(data) is not None
        render_every_view(data)
        return
    with pytest.raises(InvalidDicomFile) as refusal:
        read_received(data)
    assert refusal.value.http_status == status


def test_zero_bytes_are_not_dicom_and_padding_is_ignored() -> None:
    status, build = GENERATED["zeros-20mb.bin"]
    with pytest.raises(InvalidDicomFile) as refusal:
        read_received(build())
    assert refusal.value.http_status == status
    assert str(refusal.value).startswith("Not a DICOM file")
    valid = make_instance(size=16)
    # DCMTK reads zero bytes as empty (0000,0000) elements: a padded file is the same instance.
    assert read_received(valid + bytes(1 << 20)) == read_received(valid)
    bare = _bare_implicit_dataset(valid)
    assert read_received(bytes(800) + bare).instance_id == read_received(valid).instance_id


def test_nesting_depth_is_bounded_and_configurable() -> None:
    valid = make_instance(size=16)
    nested = deep_sequence(valid, random.Random(1))
    with pytest.raises(InvalidDicomFile, match="nested deeper than 64"):
        read_dicom(nested)
    shallow = _nested_file(depth=3)
    read_dicom(shallow, bounds=InputBounds(max_depth=3))
    with pytest.raises(InvalidDicomFile, match="nested deeper than 2"):
        read_dicom(shallow, bounds=InputBounds(max_depth=2))


def test_the_element_count_is_bounded() -> None:
    data = make_instance(size=16)
    count = len(read_dicom(data).dataset) + 1  # with PixelData, which the header leaves out
    read_dicom(data, bounds=InputBounds(max_elements=count))
    with pytest.raises(InvalidDicomFile, match=f"more than {count - 1} elements"):
        read_dicom(data, bounds=InputBounds(max_elements=count - 1))


def test_a_deflate_bomb_is_refused_within_a_few_megabytes() -> None:
    bomb = (DIRECTORY / "deflate-bomb.dcm").read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(InvalidDicomFile, match="inflates beyond"):
            read_received(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024  # it inflates to 500 MB


def test_the_inflated_size_is_configurable() -> None:
    original = make_instance(size=64)
    dataset = _explicit_dataset(original)
    deflated = deflated_file(dataset)
    assert read_received(deflated).instance_id == read_received(original).instance_id
    with pytest.raises(InvalidDicomFile, match="inflates beyond"):
        read_dicom(deflated, bounds=InputBounds(max_inflated_bytes=len(dataset) - 1))


def test_text_and_pictures_are_not_dicom(tmp_path: Path) -> None:
    for name in ("picture.png", "readme.txt", "random.bin"):
        with pytest.raises(InvalidDicomFile) as refusal:
            read_received((DIRECTORY / name).read_bytes())
        assert str(refusal.value).startswith("Not a DICOM file"), name


def _explicit_dataset(part10: bytes) -> bytes:
    """The dataset of an explicit VR little endian Part 10 file, without preamble and meta."""
    from domain.dicom_structure import walk_meta

    return part10[walk_meta(part10, 132)[0] :]


def _bare_implicit_dataset(part10: bytes) -> bytes:
    import io

    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    ds = pydicom.dcmread(io.BytesIO(part10))
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, True
    write_dataset(out, ds)
    return out.getvalue()


def _nested_file(depth: int) -> bytes:
    """A valid file with a sequence nested `depth` levels deep (defined lengths)."""
    import io

    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(io.BytesIO(make_instance(size=16)))
    inner = Dataset()
    inner.CodeValue = "1"
    for _ in range(depth - 1):
        outer = Dataset()
        outer.ContentSequence = Sequence([inner])
        inner = outer
    ds.ContentSequence = Sequence([inner])
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()
