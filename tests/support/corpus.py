"""The shared corpus of real-world DICOM files (../shared/dicom-corpus beside the checkout, the
workspace's /work/shared/dicom-corpus, or CHRONICLE_DICOM_CORPUS). A test that needs a file the
corpus lacks fails: a mistyped name or a missing corpus must never turn a test green."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Beside the checkout, as the workspace lays it out; a clone made elsewhere (CI's clean clone)
# finds the workspace's copy.
CANDIDATES = (REPO.parent / "shared" / "dicom-corpus", Path("/work/shared/dicom-corpus"))


def _corpus() -> Path:
    configured = os.environ.get("CHRONICLE_DICOM_CORPUS")
    if configured:
        return Path(configured)
    return next((path for path in CANDIDATES if path.is_dir()), CANDIDATES[0])


CORPUS = _corpus()


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
