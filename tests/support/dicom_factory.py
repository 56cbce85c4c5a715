"""Synthetic DICOM files for tests and benchmarks, written with pydicom."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROOT = "1.2.826.0.1.3680043.8.498."


def make_instance(
    patient_id: str = "PAT1",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    *,
    patient_name: str = "Doe^John",
    instance_number: int = 1,
    size: int = 8,
    modality: str = "CT",
    extra: dict[str, Any] | None = None,
) -> bytes:
    """`extra`: more top-level elements, keyword -> value."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid or generate_uid(ROOT)
    ds.StudyDate = "20240115"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC1"
    ds.Modality = modality
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19800102"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid or generate_uid(ROOT)
    ds.SeriesInstanceUID = series_uid or generate_uid(ROOT)
    ds.StudyID = "S1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.StudyDescription = "Synthetic study"
    ds.SeriesDescription = "Synthetic series"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = (np.arange(size * size, dtype=np.uint16) % 4096).tobytes()
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_series(count: int, patient_id: str = "PAT1", size: int = 8) -> list[bytes]:
    study_uid = generate_uid(ROOT)
    series_uid = generate_uid(ROOT)
    return [
        make_instance(patient_id, study_uid, series_uid, instance_number=i + 1, size=size)
        for i in range(count)
    ]
