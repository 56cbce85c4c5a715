"""Orthanc's attachment compression (ZlibWithSize): the format, byte for byte, and the storage
area's compressed files."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.compression import ZLIB_WITH_SIZE, CorruptedFile, compress, decompress
from adapters.storage import Compressed, StorageArea

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "orthanc"
NOTES = "Some notes about this resource.\nSecond line: é ü 漢字\n".encode()


def _captured(name: str) -> dict:
    cases = json.loads((FIXTURES / "annotations_cases.json").read_text())["cases"]
    return next(case for case in cases if case["name"] == name)


@given(st.binary(max_size=4096))
def test_round_trip(data: bytes) -> None:
    assert decompress(compress(data, ZLIB_WITH_SIZE), ZLIB_WITH_SIZE) == data


def test_the_uncompressed_size_comes_first_little_endian() -> None:
    stored = compress(NOTES, ZLIB_WITH_SIZE)
    assert stored[:8] == struct.pack("<Q", len(NOTES)) == b"\x3a" + bytes(7)
    assert zlib.decompress(stored[8:]) == NOTES
    big = compress(bytes(70000), ZLIB_WITH_SIZE)
    assert int.from_bytes(big[:8], "little") == 70000


def test_the_bytes_are_orthancs() -> None:
    """What Orthanc 1.10.1 stored for the same data (its compressed-data and compressed-md5)."""
    stored = compress(NOTES, ZLIB_WITH_SIZE)
    captured = _captured("att_instances_notes_after_compress_compressed_data")
    assert stored == base64.b64decode(captured["body"]["base64"])
    md5 = _captured("att_instances_notes_after_compress_compressed_md5")["body"]
    assert hashlib.md5(stored).hexdigest() == md5


def test_empty_data_is_an_empty_file() -> None:
    assert compress(b"", ZLIB_WITH_SIZE) == b""
    assert decompress(b"", ZLIB_WITH_SIZE) == b""


def test_no_compression_keeps_the_bytes() -> None:
    assert compress(NOTES, None) == NOTES
    assert decompress(NOTES, None) == NOTES


@pytest.mark.parametrize(
    "stored",
    [
        b"\x01\x02",  # shorter than the prefix
        struct.pack("<Q", 5) + b"not zlib",
        struct.pack("<Q", 999) + zlib.compress(b"hello"),  # the size says more
        struct.pack("<Q", 2) + zlib.compress(b"hello"),  # the size says less
        compress(NOTES, ZLIB_WITH_SIZE)[:-6],  # truncated
    ],
)
def test_corrupted_files_are_refused(stored: bytes) -> None:
    with pytest.raises(CorruptedFile):
        decompress(stored, ZLIB_WITH_SIZE)


def test_an_unknown_compression_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown compression"):
        compress(NOTES, "gzip")


def test_the_storage_area_records_both_sizes_and_md5s(tmp_path: Path) -> None:
    storage = StorageArea(tmp_path)
    stored = storage.write(NOTES, ZLIB_WITH_SIZE)
    on_disk = storage.path_of(stored.uuid).read_bytes()
    assert on_disk == compress(NOTES, ZLIB_WITH_SIZE)
    assert (stored.size, stored.md5) == (len(NOTES), hashlib.md5(NOTES).hexdigest())
    assert stored.compression == Compressed(
        ZLIB_WITH_SIZE, len(on_disk), hashlib.md5(on_disk).hexdigest()
    )
    assert storage.read(stored.uuid, ZLIB_WITH_SIZE) == NOTES
    assert storage.read(stored.uuid) == on_disk  # the stored bytes, as compressed-data
    plain = storage.write(NOTES)
    assert attrs.asdict(plain)["compression"] is None
    assert storage.read(plain.uuid) == NOTES
