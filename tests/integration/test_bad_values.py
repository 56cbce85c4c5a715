"""Values PostgreSQL cannot hold are a clear 400 (or an empty answer), never a 500: a NUL in an
ID, a parameter beyond 64 bits (found by probing a running server)."""

from __future__ import annotations

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess


def test_nul_characters_and_huge_numbers_are_answered(server: ChronicleProcess) -> None:
    with server.client() as client:
        assert client.post("/instances", content=make_instance("BAD1")).status_code == 200
        for path in ("/patients/%00", "/studies/a%00b/series", "/modalities/%00", "/jobs/%00"):
            answer = client.get(path)
            assert answer.status_code in (400, 404), (path, answer.text)
            assert answer.json()["HttpStatus"] == answer.status_code
        huge = str(10**30)
        assert client.get("/patients", params={"since": huge, "limit": "5"}).json() == []
        assert client.get("/instances", params={"since": "0", "limit": huge}).status_code == 200
        changes = client.get("/changes", params={"since": huge})
        assert changes.status_code == 200 and changes.json()["Changes"] == []
        assert client.get("/exports", params={"since": huge}).status_code == 200
        assert len(client.get("/instances").json()) == 1


def test_modality_definitions_and_echoes_with_bad_values(server: ChronicleProcess) -> None:
    with server.client() as client:
        for definition in (
            {"AET": "X", "Host": "127.0.0.1", "Port": "\u00b2"},  # a digit, but not 0-9
            {"AET": "\u00c9CHO", "Host": "127.0.0.1", "Port": 104},
            {"AET": "X", "Host": "127.0.0.1", "Port": 104, "Timeout": 2**40},
        ):
            answer = client.put("/modalities/bad", json=definition)
            assert answer.status_code == 400, (definition, answer.text)
        surrogate = b'{"AET": "X", "Host": "127.0.0.1", "Port": 104, "Manufacturer": "\\ud800"}'
        assert client.put("/modalities/bad", content=surrogate).status_code == 400
        assert client.get("/modalities").json() == []

        unresolvable = {"AET": "X", "Host": "no-such-host.invalid", "Port": 104}
        echo = client.post("/tools/dicom-echo", json=unresolvable)
        assert (echo.status_code, echo.json()["OrthancStatus"]) == (500, 9)  # Orthanc's answer
        assert "no-such-host.invalid" in echo.json()["Details"]
        too_long = client.post("/tools/dicom-echo", json={**unresolvable, "Timeout": 2**40})
        assert too_long.status_code == 400


def test_definitions_and_jobs_no_read_model_could_hold_are_refused(
    server: ChronicleProcess,
) -> None:
    """Found by probing: such an event, once appended, stopped the configuration or the jobs
    read model for good."""
    with server.client() as client:
        nul_host = client.put("/modalities/x", json={"AET": "X", "Host": "h\u0000", "Port": 1})
        assert nul_host.status_code == 400
        study = client.post("/instances", content=make_instance("BAD2")).json()["ParentStudy"]
        assert (
            client.put(
                "/modalities/y", json={"AET": "Y", "Host": "127.0.0.1", "Port": 1}
            ).status_code
            == 200
        )
        for priority in (10**20, "x", [1]):
            body = {"Resources": [study], "Priority": priority, "Asynchronous": True}
            assert client.post("/modalities/y/store", json=body).status_code == 400, priority
        assert client.get("/jobs").json() == []
        assert client.get("/modalities").json() == ["y"]  # the read model still follows


def test_audit_dates_at_the_ends_of_the_calendar(server: ChronicleProcess) -> None:
    with server.client() as client:
        for params in ({"end": "99991231"}, {"start": "0001-01-01"}, {"end": "0001-01-01"}):
            answer = client.get("/exports/audit", params=params)
            assert answer.status_code in (200, 400), (params, answer.text)
        assert client.get("/exports/audit", params={"end": "99991231"}).json() == []


def test_synchronous_and_asynchronous_are_read_as_orthanc_reads_them(
    server: ChronicleProcess,
) -> None:
    """A JSON boolean or a 400 (the string "false" was taken as true), and `Synchronous` wins
    when both are given."""
    with server.client() as client:
        study = client.post("/instances", content=make_instance("BAD3")).json()["ParentStudy"]
        port = 1  # nothing listens: the job fails, which does not matter here
        assert client.put(
            "/modalities/z", json={"AET": "Z", "Host": "127.0.0.1", "Port": port}
        ).is_success
        for options in ({"Asynchronous": "false"}, {"Synchronous": 1}):
            answer = client.post("/modalities/z/store", json={"Resources": [study], **options})
            assert answer.status_code == 400, (options, answer.text)
            assert "Boolean value expected" in answer.json()["Details"]
        assert client.get("/jobs").json() == []
        both = {"Resources": [study], "Synchronous": False, "Asynchronous": False}
        answer = client.post("/modalities/z/store", json=both)
        assert answer.status_code == 200 and answer.json()["Path"].startswith("/jobs/")


def test_query_values_no_identifier_could_carry_are_400(server: ChronicleProcess) -> None:
    """Found by probing: each was a 500 from pydicom while building or encoding the C-FIND."""
    with server.client() as client:
        modality = {"AET": "NOWHERE", "Host": "127.0.0.1", "Port": 9}
        assert client.put("/modalities/nowhere", json=modality).status_code == 200
        for query, code in (
            ({"ReferencedStudySequence": "text"}, 8),  # a sequence matched against text
            ({"SliceThickness": "abc"}, 15),  # DS that is no number
            ({"Rows": "99999"}, 15),  # beyond US
            ({"Rows": "-1"}, 15),
        ):
            answer = client.post(
                "/modalities/nowhere/query", json={"Level": "Study", "Query": query}
            )
            assert (answer.status_code, answer.json()["OrthancStatus"]) == (400, code), query
        too_long = {"Level": "Study", "Query": {"PatientID": "x"}, "LocalAet": "A" * 17}
        answer = client.post("/modalities/nowhere/query", json=too_long)
        assert (answer.status_code, answer.json()["OrthancStatus"]) == (400, 3)
        assert client.get("/queries").json() == []


def test_a_huge_foreign_host_is_refused_without_being_echoed_whole(
    server: ChronicleProcess,
) -> None:
    with server.client() as client:
        answer = client.get("/system", headers={"Host": "h" * 100_000})
        assert answer.status_code == 421
        assert len(answer.text) < 1000
