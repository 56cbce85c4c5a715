"""Broken DICOM files as a broken encoder or an attacker makes them, from a seeded random source.

Each kind takes a valid file and returns a damaged copy; `mutate` picks a kind. The same seed
always gives the same files, so a failure found in one run is found again.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable

Mutation = Callable[[bytes, random.Random], bytes]


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    damaged = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        # Mostly in the header, where a flip changes structure rather than pixels.
        at = rng.randrange(min(len(damaged), 2048))
        damaged[at] ^= 1 << rng.randrange(8)
    return bytes(damaged)


def huge_length(data: bytes, rng: random.Random) -> bytes:
    """A 16- or 32-bit length somewhere in the header set to a huge or odd value."""
    damaged = bytearray(data)
    at = rng.randrange(132, max(133, min(len(damaged) - 4, 2048)))
    value = rng.choice([0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, len(data) * 3, 1, 3])
    damaged[at : at + 4] = struct.pack("<I", value)
    return bytes(damaged)


def bogus_vr(data: bytes, rng: random.Random) -> bytes:
    """Two letters of the header replaced by a VR-like pair, valid or not."""
    damaged = bytearray(data)
    vr = rng.choice([b"SQ", b"UN", b"OB", b"DS", b"IS", b"AT", b"US", b"FD", b"XX", b"ZZ", b"UT"])
    at = rng.randrange(132, max(133, min(len(damaged) - 2, 2048)))
    damaged[at : at + 2] = vr
    return bytes(damaged)


def random_body(data: bytes, rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(1, 4096))


def preamble_and_garbage(data: bytes, rng: random.Random) -> bytes:
    return data[:132] + rng.randbytes(rng.randint(0, 2048))


def splice(data: bytes, rng: random.Random) -> bytes:
    """A slice of the file repeated or moved elsewhere in it."""
    start = rng.randrange(len(data))
    piece = data[start : start + rng.randint(1, 512)]
    at = rng.randrange(len(data))
    return data[:at] + piece + data[at:]


def deep_sequence(data: bytes, rng: random.Random) -> bytes:
    """A bare explicit-VR dataset nesting undefined-length sequences thousands deep."""
    depth = rng.randint(200, 5000)
    opening = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
    opening += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    header = bytes(128) + b"DICM" + explicit_meta()
    return header + opening * depth + closing * depth


def deflate_garbage(data: bytes, rng: random.Random) -> bytes:
    """A Deflated-syntax meta header followed by bytes that are not a deflate stream."""
    return data[:128] + b"DICM" + explicit_meta(DEFLATED) + rng.randbytes(rng.randint(1, 512))


def deflate_truncated(data: bytes, rng: random.Random) -> bytes:
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = body.compress(rng.randbytes(4096)) + body.flush()
    return data[:128] + b"DICM" + explicit_meta(DEFLATED) + stream[: len(stream) // 2]


DEFLATED = "1.2.840.10008.1.2.1.99"
EXPLICIT = "1.2.840.10008.1.2.1"

KINDS: dict[str, Mutation] = {
    "truncate": truncate,
    "flip": flip_bytes,
    "huge-length": huge_length,
    "bogus-vr": bogus_vr,
    "random": random_body,
    "preamble-garbage": preamble_and_garbage,
    "splice": splice,
    "deep-sequence": deep_sequence,
    "deflate-garbage": deflate_garbage,
    "deflate-truncated": deflate_truncated,
}


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(sorted(KINDS))
    return kind, KINDS[kind](data, rng)


def explicit_meta(transfer_syntax: str = EXPLICIT) -> bytes:
    """A minimal file meta group (after "DICM") naming `transfer_syntax`."""
    uid = transfer_syntax.encode() + (b"\0" if len(transfer_syntax) % 2 else b"")
    element = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", len(uid)) + uid
    length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(element))
    return length + element


def deflated_file(dataset: bytes) -> bytes:
    """A Part 10 file in Deflated Explicit VR Little Endian holding `dataset` (explicit LE)."""
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    return bytes(128) + b"DICM" + explicit_meta(DEFLATED) + body.compress(dataset) + body.flush()
