"""A DICOM client for tests: one C-STORE over an association of its own."""

from __future__ import annotations

from io import BytesIO

from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE

from tests.support.server import ChronicleProcess


def c_store(server: ChronicleProcess, data: bytes, calling: str = "LUASCU") -> int:
    """Sends the file (Explicit VR Little Endian) to the server's AE; the status it answers."""
    dataset = dcmread(BytesIO(data))
    ae = AE(ae_title=calling)
    ae.add_requested_context(dataset.SOPClassUID, ExplicitVRLittleEndian)
    association = ae.associate("127.0.0.1", server.dicom_port, ae_title="CHRONICLE")
    assert association.is_established
    try:
        return int(association.send_c_store(dataset).Status)
    finally:
        association.release()
