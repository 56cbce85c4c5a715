"""The shared corpus of real-world DICOM files (../shared/dicom-corpus beside the checkout, or
CHRONICLE_DICOM_CORPUS). A test that needs a file the corpus lacks fails: a mistyped name or a
missing corpus must never turn a test green."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("CHRONICLE_DICOM_CORPUS", REPO.parent / "shared" / "dicom-corpus"))


def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared DICOM corpus is missing: {CORPUS} (set CHRONICLE_DICOM_CORPUS)")
    return CORPUS


def corpus_path(relative: str) -> Path:
    path = corpus_dir() / relative
    if not path.is_file():
        pytest.fail(f"corpus file {relative} is missing from {CORPUS}")
    return path


def corpus_bytes(relative: str) -> bytes:
    return corpus_path(relative).read_bytes()
