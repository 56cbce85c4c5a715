"""Transcoding (domain.transcoding) on the shared corpus: every target syntax from every
kind of source (16-bit signed CT, colour RGB, JPEG YBR, lossless JPEG, RLE), read back by
pydicom's own decoders: the same pixels for a lossless target, close ones for a lossy one; and
what cannot be done is refused before the dataset is changed."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000, JPEGBaseline8Bit, JPEGLSNearLossless

from domain.dicom_modification import ModificationRefused
from domain.dicom_writing import dataset_bytes
from domain.pixel_frames import decode_frame
from domain.transcoding import (
    LOSSY,
    TARGETS,
    CannotTranscode,
    requested_syntax,
    transcoded,
)
from tests.support.corpus import corpus_dir

CORPUS = corpus_dir()
SOURCES = [
    "SignedCT.dcm",
    "ColorTestMalaterre.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.4.50.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.4.70.dcm",
    "TransferSyntaxes/1.2.840.10008.1.2.5.dcm",
]
# Mean absolute error allowed, in units of the samples, by lossy target.
TOLERANCE = {JPEGBaseline8Bit: 2.0, JPEGLSNearLossless: 2.0, JPEG2000: 8.0}


def _pixels(ds: pydicom.Dataset) -> np.ndarray:
    return np.asarray(decode_frame(ds, 0).pixels).astype(np.int64)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("source", SOURCES)
def test_every_target_reads_back(source: str, target: str) -> None:
    original = pydicom.dcmread(CORPUS / source)
    expected = _pixels(original)
    ds = pydicom.dcmread(CORPUS / source)
    if target == JPEGBaseline8Bit and int(ds.BitsAllocated) > 8:
        with pytest.raises(CannotTranscode):
            transcoded(ds, target)
        assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = pydicom.dcmread(io.BytesIO(dataset_bytes(transcoded(ds, target))))
    assert written.file_meta.TransferSyntaxUID == target
    assert written.SOPInstanceUID == original.SOPInstanceUID
    difference = np.abs(_pixels(written) - expected)
    if target in LOSSY:
        assert difference.mean() <= TOLERANCE[target]
        assert written.LossyImageCompression == "01"
    else:
        assert difference.max() == 0
        assert "LossyImageCompression" not in written or original.get("LossyImageCompression")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1.2.3", "PARAMETER_OUT_OF_RANGE"),
        ("not a uid", "PARAMETER_OUT_OF_RANGE"),
        (3, "BAD_FILE_FORMAT"),
        ("1.2.840.10008.1.2.2", "UNSUPPORTED_HERE"),  # big endian, retired: not written
    ],
)
def test_requests_for_what_cannot_be_written_are_refused(value: object, code: str) -> None:
    with pytest.raises(ModificationRefused) as refused:
        requested_syntax(value)
    assert refused.value.code == code


def test_the_same_syntax_changes_nothing() -> None:
    ds = pydicom.dcmread(CORPUS / "SignedCT.dcm")
    before = bytes(ds.PixelData)
    transcoded(ds, str(ds.file_meta.TransferSyntaxUID))
    assert bytes(ds.PixelData) == before
