"""Modalities, peers, C-ECHO/C-FIND/C-STORE as an SCU, and /queries, against real peers.

The remote modality is a pynetdicom SCP started here on a free loopback port (storage, C-FIND
at every level, worklist) and stopped at the end; DCMTK's storescp is used where installed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pydicom
import pytest
from pydicom import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    CTImageStorage,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from adapters.dicom.reply_race import guard_reply_race
from adapters.dicom.scu import DicomClient, DicomNetworkError
from adapters.peer_client import PeerClient, PeerError
from domain.modality_config import normalise_modality
from domain.transcoding import transcoded_bytes
from tests.support.dicom_factory import make_instance, make_series
from tests.support.server import ChronicleProcess, free_port

DCMTK_STORESCP = Path("/usr/bin/storescp")


class RemoteModality:
    """A pynetdicom SCP: stores what it receives, answers C-FIND from canned answers."""

    def __init__(self, aet: str = "REMOTE", store_status: int = 0x0000) -> None:
        self.aet = aet
        self.port = free_port()
        self.store_status = store_status
        self.received: dict[str, bytes] = {}
        self.identifiers: list[Dataset] = []
        self.associations = 0
        self.answers: dict[str, list[Dataset]] = {}
        self.delay_first_store = 0.0
        self._lock = threading.Lock()
        self._server: Any = None

    def _on_open(self, event: Any) -> None:
        with self._lock:
            self.associations += 1

    def _on_store(self, event: Any) -> int:
        if self.delay_first_store:
            delay, self.delay_first_store = self.delay_first_store, 0.0
            time.sleep(delay)
        if self.store_status == 0x0000:
            self.received[event.request.AffectedSOPInstanceUID] = event.request.DataSet.getvalue()
        return self.store_status

    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        self.identifiers.append(query)
        if "StudyDate" in query and "*" in str(query.StudyDate):
            yield 0xC000, None  # as Orthanc's SCP: no wildcard on a date
            return
        for answer in self.answers.get(query.get("QueryRetrieveLevel", "WORKLIST"), []):
            yield 0xFF00, answer

    def start(
        self, require_called_aet: bool = False, storage_syntaxes: list[str] | None = None
    ) -> RemoteModality:
        ae = AE(ae_title=self.aet)
        ae.require_called_aet = require_called_aet
        if storage_syntaxes is None:
            ae.supported_contexts = AllStoragePresentationContexts
        else:
            ae.add_supported_context(CTImageStorage, storage_syntaxes)
        for sop_class in (
            Verification,
            StudyRootQueryRetrieveInformationModelFind,
            PatientRootQueryRetrieveInformationModelFind,
            ModalityWorklistInformationFind,
        ):
            ae.add_supported_context(sop_class)
        self._server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[
                (evt.EVT_C_STORE, self._on_store),
                (evt.EVT_C_FIND, self._on_find),
                (evt.EVT_ESTABLISHED, self._on_open),
            ],
        )
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def configuration(self) -> dict[str, Any]:
        return normalise_modality({"AET": self.aet, "Host": "127.0.0.1", "Port": self.port})


def _answer(level: str, **tags: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return ds


@pytest.fixture
def remote() -> Iterator[RemoteModality]:
    modality = RemoteModality().start()
    modality.answers = {
        "PATIENT": [_answer("PATIENT", PatientID="P1", PatientName="Doe^Jane")],
        "STUDY": [
            _answer("STUDY", PatientID="P1", StudyInstanceUID="1.2.3", StudyDescription="Head"),
            _answer("STUDY", PatientID="P1", StudyInstanceUID="1.2.4", StudyDescription="Knee"),
        ],
        "SERIES": [_answer("SERIES", StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.1")],
        "WORKLIST": [_answer("WORKLIST", PatientID="W1", AccessionNumber="ACC9")],
    }
    try:
        yield modality
    finally:
        modality.stop()


def _config_file(path: Path, modalities: dict[str, Any], peers: dict[str, Any]) -> Path:
    path.write_text(
        "// Orthanc configuration\n"
        + json.dumps({"DicomModalities": modalities, "OrthancPeers": peers}),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def chronicle(
    tmp_path: Path, database_url: str, remote: RemoteModality
) -> Iterator[ChronicleProcess]:
    config = _config_file(
        tmp_path / "orthanc.json",
        {"remote": [remote.aet, "127.0.0.1", remote.port], "old": ["OLD", "127.0.0.1", 1]},
        {"far": {"Url": "http://127.0.0.1:1/", "Username": "u", "Password": "secret"}},
    )
    process = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def http(chronicle: ChronicleProcess) -> Iterator[httpx.Client]:
    with chronicle.client() as client:
        yield client


def _event_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        table = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name LIKE '%%\\_events'"
        ).fetchone()
        assert table is not None
        return conn.execute(f'SELECT count(*) FROM "{table[0]}"').fetchone()[0]  # type: ignore[index]


def _assert_orthanc_error(response: httpx.Response, status: int, orthanc_status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["HttpStatus"] == status
    assert body["OrthancStatus"] == orthanc_status
    assert {"HttpError", "Message", "Method", "OrthancError", "Uri"} <= set(body)


# --- definitions ---------------------------------------------------------------------------------


def test_configured_modalities_in_orthancs_shape(
    http: httpx.Client, remote: RemoteModality
) -> None:
    assert http.get("/modalities").json() == ["old", "remote"]
    expanded = http.get("/modalities", params={"expand": ""}).json()
    configuration = http.get("/modalities/remote/configuration").json()
    assert expanded["remote"] == configuration
    assert configuration == {
        "AET": "REMOTE",
        "AllowEcho": True,
        "AllowEventReport": True,
        "AllowFind": True,
        "AllowFindWorklist": True,
        "AllowGet": True,
        "AllowMove": True,
        "AllowNAction": True,
        "AllowStore": True,
        "AllowTranscoding": True,
        "Host": "127.0.0.1",
        "LocalAet": "",
        "Manufacturer": "Generic",
        "Port": remote.port,
        "Timeout": 0,
        "UseDicomTls": False,
    }
    assert list(configuration) == sorted(configuration)  # Orthanc's key order
    assert list(expanded["remote"]) == sorted(configuration)
    assert "echo" in http.get("/modalities/remote").json()
    assert http.get("/modalities/nope").status_code == 404
    _assert_orthanc_error(http.get("/modalities/nope/configuration"), 404, 7)


def test_rest_definitions_survive_restart_and_config_changes_apply(
    tmp_path: Path, database_url: str, chronicle: ChronicleProcess, remote: RemoteModality
) -> None:
    with chronicle.client() as http:
        added = {"AET": "ADDED", "Host": "h", "Port": "11112"}
        assert http.put("/modalities/added", json=added).is_success
        assert http.put("/modalities/remote", json=["REDEFINED", "127.0.0.1", 4000]).is_success
        assert http.put("/peers/friend", json=["http://127.0.0.1:2/"]).is_success
    chronicle.stop()
    config = _config_file(tmp_path / "edited.json", {"remote": ["X", "h", 1]}, {})
    restarted = ChronicleProcess(chronicle.data_dir, database_url, "--config", str(config))
    restarted.port = chronicle.port
    restarted.start()
    try:
        with restarted.client() as http:
            # "old" and "far" left the file: removed; REST ones (added, remote, friend) kept
            assert http.get("/modalities").json() == ["added", "remote"]
            assert http.get("/peers").json() == ["friend"]
            assert http.get("/modalities/added/configuration").json()["Port"] == 11112
            assert http.get("/modalities/remote/configuration").json()["AET"] == "REDEFINED"
    finally:
        restarted.stop()


BAD_MODALITIES = [
    ({"AET": "NEW", "Host": "h", "Port": "abc"}, 15),
    ({"AET": "NEW", "Host": "h", "Port": 70000}, 3),
    ({"Host": "h", "Port": 104}, 15),
    ({"AET": "X", "Host": "h", "Port": 104, "Manufacturer": "Nope"}, 3),
    ({"AET": "X", "Host": "h", "Port": 104, "AllowStore": "yes"}, 15),
    (["X", "h"], 15),
    ("not json", 15),
]


@pytest.mark.parametrize(("body", "orthanc_status"), BAD_MODALITIES)
def test_bad_put_is_refused_and_changes_nothing(
    http: httpx.Client, database_url: str, body: Any, orthanc_status: int
) -> None:
    before = _event_count(database_url)
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    for name in ("remote", "fresh"):
        configuration = http.get(f"/modalities/{name}/configuration")
        response = http.put(f"/modalities/{name}", content=content)
        _assert_orthanc_error(response, 400, orthanc_status)
        assert http.get(f"/modalities/{name}/configuration").text == configuration.text
    assert _event_count(database_url) == before


def test_delete_modality_and_peer(http: httpx.Client, database_url: str) -> None:
    assert http.delete("/modalities/old").status_code == 200
    assert http.get("/modalities").json() == ["remote"]
    before = _event_count(database_url)
    _assert_orthanc_error(http.delete("/modalities/old"), 404, 7)
    assert http.delete("/peers/far").status_code == 200
    _assert_orthanc_error(http.delete("/peers/far"), 404, 7)
    assert _event_count(database_url) == before + 1


def test_unchanged_put_appends_no_event(http: httpx.Client, database_url: str) -> None:
    assert http.put("/modalities/new", json=["NEW", "h", 104]).status_code == 200
    before = _event_count(database_url)
    assert http.put("/modalities/new", json={"AET": "NEW", "Host": "h", "Port": 104}).is_success
    assert _event_count(database_url) == before


# --- C-ECHO --------------------------------------------------------------------------------------


def test_echo_configured_modality_and_tool(http: httpx.Client, remote: RemoteModality) -> None:
    assert http.post("/modalities/remote/echo", json={}).json() == {}
    assert http.post("/modalities/remote/echo").status_code == 200
    tool = {"AET": remote.aet, "Host": "127.0.0.1", "Port": remote.port, "Timeout": 5}
    assert http.post("/tools/dicom-echo", json=tool).json() == {}
    _assert_orthanc_error(http.post("/modalities/nope/echo", json={}), 404, 7)
    _assert_orthanc_error(http.post("/tools/dicom-echo", json={"AET": "X"}), 400, 15)


def test_echo_failures_say_why(http: httpx.Client) -> None:
    closed = {"AET": "NOBODY", "Host": "127.0.0.1", "Port": free_port(), "Timeout": 2}
    response = http.post("/tools/dicom-echo", json=closed)
    _assert_orthanc_error(response, 500, 9)
    assert "NOBODY" in response.json()["Details"]
    assert "TCP connection failed" in response.json()["Details"]


def test_echo_rejected_by_called_aet() -> None:
    strict = RemoteModality("STRICT").start(require_called_aet=True)
    try:
        wrong = normalise_modality(["WRONG", "127.0.0.1", strict.port])
        with pytest.raises(DicomNetworkError, match="association rejected"):
            DicomClient("CHRONICLE", 5).echo(wrong)
    finally:
        strict.stop()


# --- C-FIND and /queries -------------------------------------------------------------------------


def test_query_creates_a_browsable_result(http: httpx.Client, remote: RemoteModality) -> None:
    response = http.post(
        "/modalities/remote/query",
        json={"Level": "Study", "Query": {"PatientID": "P1", "0008,1030": "*"}},
    )
    assert response.status_code == 200
    query_id = response.json()["ID"]
    assert response.json()["Path"] == f"/queries/{query_id}"
    sent = remote.identifiers[-1]
    assert (sent.QueryRetrieveLevel, sent.PatientID, sent.StudyDescription) == ("STUDY", "P1", "*")
    assert "StudyInstanceUID" in sent and "AccessionNumber" in sent  # normalised
    assert query_id in http.get("/queries").json()
    assert "answers" in http.get(f"/queries/{query_id}").json()
    assert http.get(f"/queries/{query_id}/answers").json() == ["0", "1"]
    content = http.get(f"/queries/{query_id}/answers/1/content").json()
    assert content["0008,1030"] == {"Name": "StudyDescription", "Type": "String", "Value": "Knee"}
    simplified = http.get(f"/queries/{query_id}/answers/0/content", params={"simplify": ""})
    assert simplified.json()["StudyDescription"] == "Head"
    short = http.get(f"/queries/{query_id}/answers", params={"expand": "", "short": ""}).json()
    assert [answer["0008,1030"] for answer in short] == ["Head", "Knee"]
    assert http.get(f"/queries/{query_id}/level").text == "Study"
    assert http.get(f"/queries/{query_id}/modality").text == "remote"
    assert http.get(f"/queries/{query_id}/query", params={"simplify": ""}).json()["PatientID"] == (
        "P1"
    )
    assert http.get(f"/queries/{query_id}/answers/2/content").status_code == 404
    assert http.delete(f"/queries/{query_id}").status_code == 200
    _assert_orthanc_error(http.get(f"/queries/{query_id}"), 404, 17)


def test_query_validation(http: httpx.Client) -> None:
    _assert_orthanc_error(
        http.post("/modalities/remote/query", json={"Level": "Bad", "Query": {}}), 400, 3
    )
    _assert_orthanc_error(
        http.post("/modalities/nope/query", json={"Level": "Study", "Query": {}}), 404, 7
    )
    response = http.post("/modalities/old/query", json={"Level": "Study", "Query": {}})
    _assert_orthanc_error(response, 500, 9)


def test_queries_are_normalised_as_orthanc_normalises_them(
    http: httpx.Client, remote: RemoteModality
) -> None:
    """Orthanc 1.10.1 leaves out what is not in the level's modules (Rows, at any level), and
    asks the identifiers of the level and above; /query shows the filter as given."""
    query = {"Level": "Series", "Query": {"Rows": "", "Modality": "CT"}}
    response = http.post("/modalities/remote/query", json=query)
    assert response.status_code == 200, response.text
    sent = remote.identifiers[-1]
    assert sorted(e.keyword for e in sent) == [
        "AccessionNumber", "Modality", "PatientID", "QueryRetrieveLevel", "SeriesInstanceUID",
        "StudyInstanceUID",
    ]  # fmt: skip
    shown = http.get(f"/queries/{response.json()['ID']}/query", params={"simplify": ""})
    assert shown.json() == {"Modality": "CT", "Rows": ""}


def test_query_on_binary_number_tags_sends_numbers(
    http: httpx.Client, remote: RemoteModality
) -> None:
    query = {"Level": "Instance", "Query": {"Rows": "512", "Columns": ""}, "Normalize": False}
    response = http.post("/modalities/remote/query", json=query)
    assert response.status_code == 200, response.text
    sent = remote.identifiers[-1]
    assert sent.Rows == 512 and sent["Columns"].VR == "US" and sent.Columns is None
    wrong = http.post(
        "/modalities/remote/query", json={"Level": "Instance", "Query": {"Rows": "x"}}
    )
    assert wrong.status_code == 400, wrong.text


def test_a_query_the_remote_refuses_is_a_422(http: httpx.Client, remote: RemoteModality) -> None:
    refused = http.post(
        "/modalities/remote/query", json={"Level": "Study", "Query": {"StudyDate": "*"}}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["OrthancStatus"] == 9
    assert refused.json()["Details"] == (
        'C-FIND SCU to AET "REMOTE" has failed with DIMSE status 0xC000 '
        "(unable to process - invalid query ?)"
    )


def test_deprecated_finds(http: httpx.Client, remote: RemoteModality) -> None:
    patients = http.post("/modalities/remote/find-patient", json={"PatientName": "D*"}).json()
    assert patients == [
        {"PatientID": "P1", "PatientName": "Doe^Jane", "QueryRetrieveLevel": "PATIENT"}
    ]
    studies = http.post("/modalities/remote/find-study", json={"PatientID": "P1"}).json()
    assert [s["StudyDescription"] for s in studies] == ["Head", "Knee"]
    tree = http.post("/modalities/remote/find", json={"PatientName": "*"}).json()
    assert tree[0]["PatientID"] == "P1"
    assert [s["StudyInstanceUID"] for s in tree[0]["Studies"]] == ["1.2.3", "1.2.4"]
    assert tree[0]["Studies"][0]["Series"][0]["SeriesInstanceUID"] == "1.2.3.1"
    worklist = http.post(
        "/modalities/remote/find-worklist", json={"Query": {"PatientID": "*"}, "Short": True}
    ).json()
    assert worklist == [{"0008,0050": "ACC9", "0008,0052": "WORKLIST", "0010,0020": "W1"}]


# --- C-STORE as an SCU ---------------------------------------------------------------------------


def _dataset_bytes(data: bytes) -> bytes:
    """What follows the file meta: preamble, "DICM", (0002,0000) UL element, then the group."""
    group_length = int.from_bytes(data[140:144], "little")
    return data[144 + group_length :]


def _collect() -> tuple[dict[str, tuple[bool, str]], Any]:
    outcomes: dict[str, tuple[bool, str]] = {}

    def on_result(instance_id: str, succeeded: bool, error: str) -> None:
        outcomes[instance_id] = (succeeded, error)

    return outcomes, on_result


def test_store_many_instances_over_one_association(remote: RemoteModality) -> None:
    files = make_series(12)
    outcomes, on_result = _collect()
    DicomClient("CHRONICLE", 10).store(
        remote.configuration(), [(f"id{i}", data) for i, data in enumerate(files)], on_result
    )
    assert outcomes == {f"id{i}": (True, "") for i in range(12)}
    assert remote.associations == 1
    for data in files:
        uid = pydicom.dcmread(BytesIO(data)).SOPInstanceUID
        assert remote.received[uid] == _dataset_bytes(data)  # the file's bytes, not re-encoded


def test_store_failure_status_is_reported_per_instance() -> None:
    refusing = RemoteModality("FULL", store_status=0xA700).start()
    try:
        outcomes, on_result = _collect()
        DicomClient("CHRONICLE", 10).store(
            refusing.configuration(), [("a", make_instance()), ("b", make_instance())], on_result
        )
    finally:
        refusing.stop()
    assert set(outcomes) == {"a", "b"}
    assert all(not ok and "0xA700" in error for ok, error in outcomes.values())


def _with_transfer_syntax(data: bytes, syntax: str) -> bytes:
    ds = pydicom.dcmread(BytesIO(data))
    ds.file_meta.TransferSyntaxUID = syntax  # not a JPEG codestream: it cannot be decoded
    ds.PixelData = encapsulate([ds.PixelData])
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_a_syntax_the_destination_refuses_is_sent_decoded() -> None:
    """As Orthanc, the uncompressed syntaxes are proposed beside the file's: a destination
    that takes none of the file's gets it decoded; one whose pixels cannot be decoded fails
    alone, with the reason."""
    plain = RemoteModality("PLAIN").start(storage_syntaxes=[ImplicitVRLittleEndian])
    try:
        outcomes, on_result = _collect()
        real = transcoded_bytes(make_instance(), JPEGLosslessSV1)
        fake = _with_transfer_syntax(make_instance(), JPEGBaseline8Bit)
        explicit = make_instance()  # Explicit VR Little Endian: converted, not refused
        files = [("jpeg", real), ("fake", fake), ("explicit", explicit)]
        DicomClient("CHRONICLE", 10).store(plain.configuration(), files, on_result)
    finally:
        plain.stop()
    assert outcomes["explicit"] == (True, "")
    assert outcomes["jpeg"] == (True, "")
    assert outcomes["fake"][0] is False
    assert "cannot send 1.2.840.10008.1.2.4.50 uncompressed" in outcomes["fake"][1]
    assert pydicom.dcmread(BytesIO(real)).SOPInstanceUID in plain.received
    assert len(plain.received) == 2


def test_store_to_closed_port_raises_with_reason() -> None:
    closed = normalise_modality(["NOBODY", "127.0.0.1", free_port()])
    _outcomes, on_result = _collect()
    with pytest.raises(DicomNetworkError, match="TCP connection failed"):
        DicomClient("CHRONICLE", 2).store(closed, [("a", make_instance())], on_result)


def test_instance_without_response_is_retried_once(remote: RemoteModality) -> None:
    remote.delay_first_store = 3.0  # the first C-STORE-RSP comes after the 1 s DIMSE timeout
    outcomes, on_result = _collect()
    DicomClient("CHRONICLE", 1).store(
        remote.configuration(), [("a", make_instance()), ("b", make_instance())], on_result
    )
    assert outcomes == {"a": (True, ""), "b": (True, "")}
    assert remote.associations == 2


def test_unreadable_file_is_reported_not_sent(remote: RemoteModality) -> None:
    outcomes, on_result = _collect()
    DicomClient("CHRONICLE", 5).store(remote.configuration(), [("junk", b"nope")], on_result)
    assert outcomes["junk"][0] is False and "unreadable" in outcomes["junk"][1]


def test_scu_sockets_have_tcp_nodelay(remote: RemoteModality) -> None:
    from pynetdicom.presentation import build_context

    client = DicomClient("CHRONICLE", 5)
    with client.association(remote.configuration(), [build_context(Verification)]) as assoc:
        sock = assoc.dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_reply_race_guard_leaves_responses_to_the_sender() -> None:
    class FakeAssoc:
        def __init__(self) -> None:
            import queue

            class Dimse:
                msg_queue: queue.Queue[Any] = queue.Queue()
                dimse_timeout = 1

                def get_msg(self, block: bool = False) -> Any:
                    try:
                        return self.msg_queue.get(block=block, timeout=1)
                    except queue.Empty:
                        return None, None

            self.dimse = Dimse()

    assoc = FakeAssoc()
    guard_reply_race(assoc)  # type: ignore[arg-type]
    response = C_STORE()
    response.MessageIDBeingRespondedTo = 1
    response.Status = 0
    assoc.dimse.msg_queue.put((1, response))
    assert assoc.dimse.get_msg(block=False) == (None, None)  # the reactor's poll
    assert assoc.dimse.get_msg(block=True) == (1, response)  # the sender's wait
    request = C_STORE()
    request.MessageID = 2
    assoc.dimse.msg_queue.put((1, request))
    assert assoc.dimse.get_msg(block=False) == (1, request)


@pytest.mark.skipif(not DCMTK_STORESCP.exists(), reason="DCMTK storescp not installed")
def test_store_to_dcmtk_storescp(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    process = subprocess.Popen(
        [str(DCMTK_STORESCP), "-aet", "DCMTK", "-od", str(out), str(port)],
        env={**os.environ, "TCP_NODELAY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        modality = normalise_modality(["DCMTK", "127.0.0.1", port])
        client = DicomClient("CHRONICLE", 10)
        for _ in range(100):  # until storescp listens
            try:
                client.echo(modality)
                break
            except DicomNetworkError:
                time.sleep(0.1)
        files = make_series(5)
        outcomes, on_result = _collect()
        client.store(modality, [(str(i), data) for i, data in enumerate(files)], on_result)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert outcomes == {str(i): (True, "") for i in range(5)}
    received = {pydicom.dcmread(path).SOPInstanceUID for path in out.iterdir()}
    assert received == {pydicom.dcmread(BytesIO(data)).SOPInstanceUID for data in files}


@pytest.mark.skipif(shutil.which("echoscu") is None, reason="DCMTK not installed")
def test_dcmtk_is_callable() -> None:
    assert subprocess.run(["/usr/bin/echoscu", "--version"], capture_output=True).returncode == 0


# --- peers ---------------------------------------------------------------------------------------


def test_peers_hide_secrets(http: httpx.Client) -> None:
    assert http.get("/peers").json() == ["far"]
    shown = http.get("/peers/far/configuration").json()
    assert shown == {
        "HttpHeaders": [],
        "Password": None,
        "Pkcs11": False,
        "Timeout": 0,
        "Url": "http://127.0.0.1:1/",
        "Username": "u",
    }
    assert http.get("/peers", params={"expand": ""}).json() == {"far": shown}
    assert "secret" not in http.get("/peers", params={"expand": ""}).text
    assert http.get("/peers/far").json() == ["configuration", "store", "store-straight", "system"]
    _assert_orthanc_error(http.put("/peers/bad", json={"Username": "a"}), 400, 15)
    assert http.get("/peers/bad").status_code == 404


def test_peer_system_and_store(http: httpx.Client, chronicle: ChronicleProcess) -> None:
    assert http.put("/peers/self", json=[chronicle.url]).status_code == 200
    system = http.get("/peers/self/system").json()
    assert system["DicomAet"] == http.get("/system").json()["DicomAet"]
    _assert_orthanc_error(http.get("/peers/far/system"), 500, 9)
    outcomes, on_result = _collect()
    PeerClient().store(
        {"Url": chronicle.url + "/"}, [("x", make_instance()), ("y", b"junk")], on_result
    )
    assert outcomes["x"] == (True, "")
    assert outcomes["y"][0] is False and "HTTP 400" in outcomes["y"][1]
    assert len(http.get("/instances").json()) == 1
    with pytest.raises(PeerError, match="cannot reach"):
        PeerClient().store({"Url": "http://127.0.0.1:1/"}, [("z", make_instance())], on_result)


def test_parallel_stores_under_load_lose_no_response(remote: RemoteModality) -> None:
    """4 associations at once (where pynetdicom's reply race showed): no retry, no failure."""
    batches = [make_series(50, patient_id=f"P{i}") for i in range(4)]
    outcomes, on_result = _collect()
    lock = threading.Lock()

    def locked(instance_id: str, succeeded: bool, error: str) -> None:
        with lock:
            on_result(instance_id, succeeded, error)

    def send(index: int) -> None:
        files = [(f"{index}-{n}", data) for n, data in enumerate(batches[index])]
        DicomClient("CHRONICLE", 30).store(remote.configuration(), files, locked)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 200
    assert all(outcome == (True, "") for outcome in outcomes.values())
    assert remote.associations == 4  # a lost response would have forced a new association
    assert len(remote.received) == 200
