"""The Lua callbacks the DICOM server asks, through real associations: the C-STORE filter's
status, a C-FIND query rewritten by IncomingFindRequestFilter, and the transfer-syntax and
unknown-SOP-class callbacks changing what DCMTK's storescu and pynetdicom can negotiate."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, PatientRootQueryRetrieveInformationModelFind

from tests.support.dicom_factory import make_instance
from tests.support.lua_servers import scripted_server
from tests.support.scu import c_store
from tests.support.server import ChronicleProcess, upload_accepted

DCMTK_STORESCU = "/usr/bin/storescu"  # DCMTK's (.ci/run installs it)
UNKNOWN_SOP_CLASS = "1.2.826.0.1.3680043.9.9999.77"
SCRIPT = """
function ReceivedCStoreInstanceFilter(dicom, origin, info)
  if dicom.PatientID == "FULL" then return 0xA700 end
  if dicom.PatientID == "ODD" then return "not a status" end
  return 0
end
function IncomingFindRequestFilter(query, origin)
  find_origin = DumpJson(origin)
  find_level = query["0008,0052"]
  if origin.RemoteAet == "RESTRICTED" then query["PatientID"] = "VIS*" end
  return query
end
function IsJpegTransferSyntaxAccepted(aet, ip, calledAet)
  return aet ~= "NOJPEG"
end
function IsUnknownSopClassAccepted(aet, ip, calledAet)
  return aet == "ANYCLASS"
end
"""


@pytest.fixture
def scripted(tmp_path: Path, database_url: str) -> Iterator[ChronicleProcess]:
    settings = (
        "execute_lua_enabled = true\n"
        "dicom_always_allow_store = true\n"
        "dicom_always_allow_find = true\n"
    )
    with scripted_server(tmp_path, database_url, SCRIPT, settings) as process:
        yield process


def _printed(client: httpx.Client, expression: str) -> str:
    return client.post("/tools/execute-script", content=f"print({expression})").text.strip()


def test_the_c_store_filter_answers_its_status_and_stores_nothing_it_refuses(
    scripted: ChronicleProcess,
) -> None:
    with scripted.client() as client:
        assert c_store(scripted, make_instance("FULL", "1.2.5.1", "1.2.5.1.1", "1.2.5.1.1.1")) == (
            0xA700
        )
        # a filter that answers no number refuses too, as Orthanc when a filter throws
        assert c_store(scripted, make_instance("ODD", "1.2.5.2", "1.2.5.2.1", "1.2.5.2.1.1")) == (
            0xA700
        )
        assert client.get("/instances").json() == []
        assert not scripted.stored_files()
        assert c_store(scripted, make_instance("OK", "1.2.5.3", "1.2.5.3.1", "1.2.5.3.1.1")) == 0
        # REST uploads are not C-STOREs: the filter is not asked
        upload_accepted(client, make_instance("FULL", "1.2.5.4", "1.2.5.4.1", "1.2.5.4.1.1"))
        patients = {client.get(f"/patients/{p}").json()["MainDicomTags"]["PatientID"]
                    for p in client.get("/patients").json()}  # fmt: skip
    assert patients == {"OK", "FULL"}


def _find_patients(server: ChronicleProcess, calling: str) -> list[str]:
    ae = AE(ae_title=calling)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    association = ae.associate("127.0.0.1", server.dicom_port, ae_title="CHRONICLE")
    assert association.is_established
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientID = ""
    try:
        answers = association.send_c_find(query, PatientRootQueryRetrieveInformationModelFind)
        return sorted(
            str(identifier.PatientID)
            for status, identifier in answers
            if status and status.Status == 0xFF00
        )
    finally:
        association.release()


def test_the_find_filter_rewrites_the_query_of_the_modalities_it_restricts(
    scripted: ChronicleProcess,
) -> None:
    with scripted.client() as client:
        for patient, number in (("VIS-1", 1), ("HIDDEN", 2)):
            uids = (f"1.2.4.{number}", f"1.2.4.{number}.1", f"1.2.4.{number}.1.1")
            upload_accepted(client, make_instance(patient, *uids))
        assert _find_patients(scripted, "OTHER") == ["HIDDEN", "VIS-1"]
        assert _find_patients(scripted, "RESTRICTED") == ["VIS-1"]
        assert _printed(client, "find_level") == "PATIENT"
        assert _printed(client, "find_origin") == (
            '{"CalledAet":"CHRONICLE","Manufacturer":"Generic","RemoteAet":"RESTRICTED",'
            '"RemoteIp":"127.0.0.1"}'
        )


def _storescu(
    server: ChronicleProcess, calling: str, path: Path
) -> subprocess.CompletedProcess[str]:
    assert os.path.exists(DCMTK_STORESCU), "DCMTK's storescu is needed (apt-get install dcmtk)"
    return subprocess.run(
        [DCMTK_STORESCU, "--propose-jpeg8", "-aet", calling, "-aec", "CHRONICLE",
         "127.0.0.1", str(server.dicom_port), str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_transfer_syntax_callbacks_decide_what_storescu_can_negotiate(
    scripted: ChronicleProcess, corpus: Path
) -> None:
    jpeg = corpus / "TransferSyntaxes" / "1.2.840.10008.1.2.4.50.dcm"
    refused = _storescu(scripted, "NOJPEG", jpeg)
    assert refused.returncode != 0
    with scripted.client() as client:
        assert client.get("/instances").json() == []
        accepted = _storescu(scripted, "ANYONE", jpeg)
        assert accepted.returncode == 0, accepted.stderr
        (instance,) = client.get("/instances").json()
        syntax = client.get(f"/instances/{instance}/metadata/TransferSyntax").text
    assert syntax == "1.2.840.10008.1.2.4.50"


def _accepts_unknown_class(server: ChronicleProcess, calling: str) -> bool:
    ae = AE(ae_title=calling)
    ae.add_requested_context(UNKNOWN_SOP_CLASS, ExplicitVRLittleEndian)
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    association = ae.associate("127.0.0.1", server.dicom_port, ae_title="CHRONICLE")
    assert association.is_established
    try:
        return UNKNOWN_SOP_CLASS in {cx.abstract_syntax for cx in association.accepted_contexts}
    finally:
        association.release()


def test_the_unknown_sop_class_callback_decides_per_calling_modality(
    scripted: ChronicleProcess,
) -> None:
    assert _accepts_unknown_class(scripted, "ANYCLASS")
    assert not _accepts_unknown_class(scripted, "STRICT")
