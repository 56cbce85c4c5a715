"""/reconstruct: files read again with the current DefaultEncoding refresh the main tags of
every level, log no Orthanc change, append nothing when nothing reads differently, and the
result is rebuilt the same from the log."""

from __future__ import annotations

import io

import httpx
from pydicom import dcmread

from adapters.database import DatabaseAddress
from adapters.rebuild import rebuild
from domain.origin import Channel, Origin
from domain.runtime_settings import DEFAULT_ENCODING
from projections.hierarchy import queries as hierarchy
from tests.integration.test_rebuild_property import _dump
from tests.support.dicom_factory import make_instance
from tests.support.nodes import fresh_node
from tests.support.server import ChronicleProcess

ORIGIN = Origin(Channel.REST, user="tester")


def _latin1_file(patient_id: str, instance_number: int = 1) -> bytes:
    """No SpecificCharacterSet, and a PatientName that holds UTF-8 bytes."""
    ds = dcmread(io.BytesIO(make_instance(patient_id, instance_number=instance_number)))
    del ds.SpecificCharacterSet
    ds.PatientName = "Müller^Jürgen".encode().decode("latin-1")
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _head(http: httpx.Client) -> int:
    rows = http.get("/tools/projections").json()
    return max(int(row["Head"]) for row in rows)


def test_reconstruct_reads_the_files_again(server: ChronicleProcess) -> None:
    with server.client() as http:
        stored = http.post("/instances", content=_latin1_file("P-RECON")).json()
        patient, study = stored["ParentPatient"], stored["ParentStudy"]
        name = http.get(f"/patients/{patient}").json()["MainDicomTags"]["PatientName"]
        assert name == "MÃ¼ller^JÃ¼rgen"
        last_change = http.get("/changes?last").json()["Last"]
        assert http.put("/tools/default-encoding", content=b"Utf8").status_code == 200
        head = _head(http)

        answer = http.post(f"/studies/{study}/reconstruct", content=b"{}")
        assert (answer.status_code, answer.content) == (200, b"")
        assert http.get(f"/patients/{patient}").json()["MainDicomTags"]["PatientName"] == (
            "Müller^Jürgen"
        )
        study_body = http.get(f"/studies/{study}").json()
        assert study_body["PatientMainDicomTags"]["PatientName"] == "Müller^Jürgen"
        query = {"Level": "Patient", "Query": {"PatientName": "Müller*"}}
        assert http.post("/tools/find", json=query).json() == [patient]
        assert http.get("/changes?last").json()["Last"] == last_change
        assert _head(http) == head + 1  # one event: the instance read again

        assert http.post("/tools/reconstruct").status_code == 200
        assert _head(http) == head + 1  # nothing reads differently: nothing appended
        assert http.post("/patients/nope/reconstruct").status_code == 404
        assert http.get(f"/studies/{study}/reconstruct").status_code == 405


def test_reconstructed_tags_are_rebuilt_from_the_log(postgres: DatabaseAddress) -> None:
    with fresh_node(postgres, "chronicle_reconstruct_rebuild") as node:
        first = node.ingestor.ingest(_latin1_file("P-R1"), ORIGIN)
        node.ingestor.ingest(_latin1_file("P-R1", instance_number=2), ORIGIN)
        configured = node.live.configured[DEFAULT_ENCODING]
        node.archive.set_runtime_setting(DEFAULT_ENCODING, "Utf8", configured, ORIGIN)
        node.consumers.catch_up_read_models()
        node.live.refresh()
        with node.db.connection() as conn:
            rows = hierarchy.instance_rows(conn, 0, first.patient_id)
        assert len(rows) == 2
        assert node.reconstructor.reconstruct(rows, ORIGIN) is not None
        node.consumers.catch_up_read_models()
        live = _dump(node)
        with node.db.connection() as conn:
            patient = hierarchy.get_resource(conn, 0, first.patient_id)
            assert patient is not None
            assert patient["main_tags"]["PatientName"] == "Müller^Jürgen"
            models = [runner.model for runner in node.consumers.read_models.values()]
            rebuild(node.consumers.reader, conn, models)
        assert _dump(node) == live
