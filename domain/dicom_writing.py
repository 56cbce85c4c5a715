"""DICOM datasets written back to Part 10 bytes (modified and anonymized instances)."""

from __future__ import annotations

import io

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian


def dataset_bytes(ds: Dataset) -> bytes:
    """The dataset as a Part 10 file in its own transfer syntax (a bare dataset read without a
    meta header is written Explicit VR Little Endian), the meta header rebuilt for it."""
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"):
        source = keyword.removeprefix("MediaStorage")
        if source in ds:
            setattr(meta, keyword, ds[source].value)
    if "FileMetaInformationGroupLength" in meta:
        del meta.FileMetaInformationGroupLength  # recomputed by the writer
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
