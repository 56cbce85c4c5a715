"""The regression corpus of hostile and broken inputs (tests/fixtures/hostile/), one file a case.

    python -m tests.support.hostile_corpus    # writes the files and manifest.json again

Each case names what a broken encoder or an attacker sent and what Chronicle must answer to a
POST /instances of it. The files are committed so that a case found once stays tested; the
generator is kept so that the corpus can be read and rebuilt. Cases too large to commit (20 MB
of zero bytes) are built by the tests themselves from GENERATED.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import attrs

from tests.support.dicom_factory import make_instance
from tests.support.mutations import (
    DEFLATED,
    deep_sequence,
    deflate_garbage,
    deflate_truncated,
    explicit_meta,
)

DIRECTORY = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
MANIFEST = DIRECTORY / "manifest.json"
BOMB_INFLATED = 500 * 1024 * 1024
ZIP_ZEROS = 20 * 1024 * 1024
SEED = 20261203


@attrs.frozen
class Case:
    name: str
    status: int  # of POST /instances
    what: str
    rejected_members: int | None = None  # for a ZIP: the X-Chronicle-Rejected-Files header


def _valid(sop: str = "1.2.826.0.1.3680043.8.498.77.1") -> bytes:
    return make_instance(
        "HOSTILE", "1.2.826.0.1.3680043.8.498.77", "1.2.826.0.1.3680043.8.498.77.0", sop
    )


def _deflate_bomb() -> bytes:
    """A dataset that deflates 1000:1: a 500 MB OB value of zero bytes after a few elements."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    value_header = struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0, BOMB_INFLATED)
    pieces = [compressor.compress(value_header)]
    zeros = bytes(1024 * 1024)
    pieces += [compressor.compress(zeros) for _ in range(BOMB_INFLATED // len(zeros))]
    pieces.append(compressor.flush())
    return bytes(128) + b"DICM" + explicit_meta(DEFLATED) + b"".join(pieces)


def _with_vr(data: bytes, keyword_tag: tuple[int, int], vr: bytes) -> bytes:
    tag = struct.pack("<HH", *keyword_tag)
    at = data.index(tag, 132)
    return data[: at + 4] + vr + data[at + 6 :]


def _huge_length(data: bytes) -> bytes:
    tag = struct.pack("<HH", 0x0008, 0x1030)  # StudyDescription, LO: a 16-bit length
    at = data.index(tag, 132)
    return data[: at + 6] + struct.pack("<H", 0xFFF0) + data[at + 8 :]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _without_sop_instance_uid(data: bytes) -> bytes:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    del ds.SOPInstanceUID
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _bad_decimal() -> bytes:
    data = make_instance(
        "HOSTILE-DS",
        "1.2.826.0.1.3680043.8.498.78",
        "1.2.826.0.1.3680043.8.498.78.0",
        "1.2.826.0.1.3680043.8.498.78.1",
        extra={"SliceThickness": "1.25"},
    )
    at = data.index(struct.pack("<HH2sH", 0x0018, 0x0050, b"DS", 4) + b"1.25")
    return data[: at + 8] + b"ab:c" + data[at + 12 :]


_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def builders() -> dict[Case, Callable[[], bytes]]:
    rng = random.Random(SEED)
    valid = _valid()
    return {
        Case("deflate-bomb.dcm", 400, "Deflated syntax inflating to 500 MB"): _deflate_bomb,
        Case("deflate-corrupt.dcm", 400, "Deflated syntax, body not a deflate stream"): (
            lambda: deflate_garbage(valid, rng)
        ),
        Case("deflate-truncated.dcm", 400, "Deflated syntax, stream cut in half"): (
            lambda: deflate_truncated(valid, rng)
        ),
        Case("deep-nesting.dcm", 400, "sequences nested 5,000 deep"): (
            lambda: deep_sequence(valid, random.Random(5))
        ),
        Case("unknown-vr.dcm", 400, "an element whose VR is 'DQ'"): (
            lambda: _with_vr(valid, (0x0008, 0x0020), b"DQ")
        ),
        Case("truncated.dcm", 400, "a file cut in its header"): lambda: valid[:300],
        Case("huge-length.dcm", 400, "a 16-bit length of 65,520 in a small file"): (
            lambda: _huge_length(valid)
        ),
        Case("picture.png", 400, "a PNG picture"): lambda: _PNG + rng.randbytes(200),
        Case("readme.txt", 400, "a text file"): lambda: b"# Chronicle\n\nNot a DICOM file.\n",
        Case("random.bin", 400, "random bytes"): lambda: random.Random(7).randbytes(3000),
        Case("no-sop-instance-uid.dcm", 404, "a file without SOPInstanceUID"): (
            lambda: _without_sop_instance_uid(valid)
        ),
        Case("trailing-zeros.dcm", 200, "a valid file padded with 64 KB of zero bytes"): (
            lambda: valid + bytes(65536)
        ),
        Case("bad-decimal.dcm", 200, "a valid file whose SliceThickness (DS) is no number"): (
            _bad_decimal
        ),
        Case("zip-of-zeros.zip", 200, "a ZIP whose one member is 20 MB of zeros", 1): (
            lambda: _zip({"zeros.dcm": bytes(ZIP_ZEROS)})
        ),
        Case("zip-mixed.zip", 200, "a ZIP of one valid file, a text and a PNG", 2): (
            lambda: _zip(
                {
                    "one.dcm": _valid("1.2.826.0.1.3680043.8.498.77.2"),
                    "notes.txt": b"hello",
                    "x.png": _PNG,
                }
            )
        ),
    }


# Built by the tests (too large to commit): name -> (status, bytes factory).
GENERATED: dict[str, tuple[int, Callable[[], bytes]]] = {
    "zeros-20mb.bin": (400, lambda: bytes(20 * 1024 * 1024)),
}


def cases() -> list[Case]:
    entries = json.loads(MANIFEST.read_text())
    return [Case(**entry) for entry in entries]


def main() -> None:
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    manifest = []
    for case, build in builders().items():
        (DIRECTORY / case.name).write_bytes(build())
        manifest.append(attrs.asdict(case))
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
