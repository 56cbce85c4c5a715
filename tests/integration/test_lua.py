"""POST /tools/execute-script and LuaScripts, through HTTP as Orthanc's users call them: off by
default; on, a script's output, its definitions kept for the next one, Orthanc's error
answers, the limits, and the REST API called in-process as the script's installer.

The expected outputs and error bodies (but the limits', which Orthanc does not have) are what
Orthanc 1.10.1 answered to the same scripts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest

from tests.support.dicom_factory import make_instance
from tests.support.lua_servers import scripted_server
from tests.support.scu import c_store
from tests.support.server import ChronicleProcess, upload_accepted
from tests.support.storage_scp import StorageSCP
from tests.support.waiting import eventually

INSTRUCTION_LIMIT = 2_000_000


def _run(client: httpx.Client, script: str) -> httpx.Response:
    return client.post("/tools/execute-script", content=script)


@pytest.fixture
def scripting(tmp_path: Path, database_url: str) -> Iterator[ChronicleProcess]:
    script = (
        'greeting = "configured"\n'
        "function Initialize()\n  initialized = true\nend\n"
        'function Describe(name) return "patient " .. name end\n'
        "stored = {}\n"
        "function OnStoredInstance(id, tags, metadata, origin)\n"
        "  table.insert(stored, table.concat({id, tags.PatientID, origin.RequestOrigin,"
        ' metadata.Origin}, "|"))\n'
        "end\n"
    )
    settings = (
        f"execute_lua_enabled = true\nlua_max_instructions = {INSTRUCTION_LIMIT}\n"
        "lua_max_memory_mb = 64\n"
    )
    with scripted_server(tmp_path, database_url, script, settings) as process:
        yield process


def test_scripts_are_refused_unless_enabled(server: ChronicleProcess) -> None:
    with server.client() as client:
        answer = _run(client, 'print("hello")')
    assert (answer.status_code, answer.content) == (403, b"")


def test_a_script_prints_and_its_definitions_stay(scripting: ChronicleProcess) -> None:
    with scripting.client() as client:
        first = _run(client, 'print("a", 2, nil, true) print() answer = 42')
        assert (first.status_code, first.text) == (200, "a, 2, nil, true\n\n")
        assert first.headers["content-type"].startswith("text/plain")
        assert _run(client, "print(answer)").text == "42\n"
        # LuaScripts ran at start, then Initialize()
        kept = _run(client, 'print(greeting, initialized, Describe("P1"))')
        assert kept.text == "configured, true, patient P1\n"


def test_failures_answer_as_orthanc_and_leave_the_state_usable(
    scripting: ChronicleProcess,
) -> None:
    with scripting.client() as client:
        _run(client, "survivor = 1")
        failures = {
            'error("boom")': '[string "line"]:1: boom',
            "this is not lua": "[string \"line\"]:1: syntax error near 'is'",
            "while true do end": (
                f"the Lua script ran past its limit of {INSTRUCTION_LIMIT} instructions"
            ),
            'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end': (
                "the Lua script ran out of its memory limit of 64 MB"
            ),
        }
        for script, details in failures.items():
            answer = _run(client, script)
            assert answer.status_code == 500, script
            body = answer.json()
            assert (body["OrthancStatus"], body["Message"]) == (
                2031,
                "Cannot execute a Lua command",
            )
            assert body["Details"] == details
        assert _run(client, "print(survivor)").text == "1\n"


def test_json_and_recursive_printing_as_orthanc(scripting: ChronicleProcess) -> None:
    script = """
        print(DumpJson({a = 1, b = {1, 2.5}, c = "s", d = true}))
        print(DumpJson({a = 1, b = {1, 2}}, true))
        print(DumpJson(ParseJson('{"x": [1, 2, {"y": null}], "z": "t"}')))
        print(ParseJson("not json"))
        PrintRecursive({b = {2}})
        PrintRecursive("x")
    """
    with scripting.client() as client:
        lines = _run(client, script).text.splitlines()
    assert lines == [
        '{"a":1,"b":[1,2.5],"c":"s","d":true}',
        '{"a":"1","b":["1","2"]}',
        '{"x":[1,2,[]],"z":"t"}',
        "nil",
        "table",
        "\t[b], table",
        "\t[b]\t[1], number, 2",
        "string, x",
    ]


def test_rest_calls_run_in_process_and_are_marked_as_lua(
    scripting: ChronicleProcess, tmp_path: Path
) -> None:
    dicom = tmp_path / "upload.dcm"
    dicom.write_bytes(make_instance("LUA-1"))
    script = f"""
        local file = io.open({str(dicom)!r}, "rb")
        local data = file:read("a")
        file:close()
        local stored = ParseJson(RestApiPost("/instances", data))
        print(stored["ID"])
        print(RestApiGet("/nope"))
        print(RestApiDelete("/patients/nope"))
        print(ParseJson(RestApiGet("/system"))["Name"])
    """
    with scripting.client() as client:
        answer = _run(client, script)
        assert answer.status_code == 200, answer.text
        instance, missing, not_deleted, name = answer.text.splitlines()
        assert (missing, not_deleted, name) == ("nil", "nil", "Chronicle")
        assert client.get(f"/instances/{instance}/metadata/Origin").text == "Lua"
        patient = client.get(f"/instances/{instance}/patient").json()["ID"]
        deleted = _run(client, f'print(RestApiDelete("/patients/{patient}"))')
        assert deleted.text == "true\n"
        assert client.get(f"/patients/{patient}").status_code == 404
        nested = _run(client, 'print(RestApiPost("/tools/execute-script", "print(1)"))')
        assert nested.text == "nil\n"  # a script cannot start another


def test_on_stored_instance_runs_once_per_store_and_never_for_history(
    scripting: ChronicleProcess,
) -> None:
    def stored(client: httpx.Client) -> list[str]:
        return _run(client, "for _, line in ipairs(stored) do print(line) end").text.splitlines()

    with scripting.client() as client:
        first = upload_accepted(
            client, make_instance("LUA-A", "1.2.3.1", "1.2.3.1.1", "1.2.3.1.1.1")
        )
        second = upload_accepted(
            client, make_instance("LUA-B", "1.2.3.2", "1.2.3.2.1", "1.2.3.2.1.1")
        )
        client.post(
            "/instances", content=make_instance("LUA-A", "1.2.3.1", "1.2.3.1.1", "1.2.3.1.1.1")
        )
        assert eventually(lambda: len(stored(client)) == 2)
        assert sorted(stored(client)) == sorted(
            [f"{first['ID']}|LUA-A|RestApi|RestApi", f"{second['ID']}|LUA-B|RestApi|RestApi"]
        )
    scripting.stop()
    scripting.start()  # a new Lua state: what it saw before the restart is not sent again
    with scripting.client() as client:
        third = upload_accepted(
            client, make_instance("LUA-C", "1.2.3.3", "1.2.3.3.1", "1.2.3.3.1.1")
        )
        assert eventually(lambda: len(stored(client)) == 1)
        assert stored(client) == [f"{third['ID']}|LUA-C|RestApi|RestApi"]


ROUTING_SCRIPT = """
function OnStoredInstance(instanceId, tags, metadata, origin)
  if origin.RequestOrigin == "Lua" then return end
  if tags.Modality == "CT" then
    Delete(SendToModality(instanceId, "dest"))
  else
    Delete(SendToModality(instanceId, "nowhere"))  -- fails: nothing is deleted
  end
end
"""


def test_auto_routing_sends_then_deletes_what_matches(tmp_path: Path, database_url: str) -> None:
    """Orthanc's classic auto-routing script: every CT goes to the destination and leaves the
    archive; the MR, whose send fails (an unknown modality), stays."""
    destination = StorageSCP().start()
    modalities = f'[dicom_modalities]\ndest = ["DEST", "127.0.0.1", {destination.port}]\n'
    try:
        with (
            scripted_server(tmp_path, database_url, ROUTING_SCRIPT, modalities) as server,
            server.client() as client,
        ):
            ct = make_instance("ROUTE-CT", "1.2.9.1", "1.2.9.1.1", "1.2.9.1.1.1")
            mr = make_instance("ROUTE-MR", "1.2.9.2", "1.2.9.2.1", "1.2.9.2.1.1", modality="MR")
            routed = upload_accepted(client, ct)["ID"]
            kept = upload_accepted(client, mr)["ID"]
            assert eventually(lambda: client.get(f"/instances/{routed}").status_code == 404)
            assert set(destination.received) == {"1.2.9.1.1.1"}
            assert eventually(lambda: f"cannot send {kept} to nowhere" in server.log())
            assert client.get(f"/instances/{kept}").status_code == 200
            assert [entry["Status"] for entry in client.get("/exports/audit").json()] == ["Success"]
    finally:
        destination.stop()


MODIFY_SCRIPT = """
function OnStoredInstance(instanceId, tags, metadata, origin)
   if origin['RequestOrigin'] ~= 'Lua' then
      local replace = {}
      replace['StationName'] = 'My Medical Device'
      Delete(SendToModality(ModifyInstance(instanceId, replace, { 'InstitutionName' }), 'dest'))
   end
end
"""


def test_modify_instance_stores_a_copy_that_chains(tmp_path: Path, database_url: str) -> None:
    """Orthanc's ModifyInstance(id, replacements, removals): the modified copy is stored
    (ModifiedFrom names the source, its origin is Lua so the callback leaves it alone), sent,
    then deleted by the chain; the source stays."""
    destination = StorageSCP().start()
    modalities = f'[dicom_modalities]\ndest = ["DEST", "127.0.0.1", {destination.port}]\n'
    try:
        with (
            scripted_server(tmp_path, database_url, MODIFY_SCRIPT, modalities) as server,
            server.client() as client,
        ):
            data = make_instance("LUA-MOD", "1.2.9.3", "1.2.9.3.1", "1.2.9.3.1.1")
            source = upload_accepted(client, data)["ID"]
            assert eventually(lambda: len(destination.received) == 1)
            sent = pydicom.dcmread(io.BytesIO(next(iter(destination.received.values()))))
            assert sent.StationName == "My Medical Device"
            assert "InstitutionName" not in sent
            assert sent.SOPInstanceUID != "1.2.9.3.1.1"
            assert sent.StudyInstanceUID == "1.2.9.3"  # an instance-level modification
            assert eventually(lambda: client.get("/instances").json() == [source])
    finally:
        destination.stop()


def test_http_functions_reach_other_servers(scripting: ChronicleProcess) -> None:
    """HttpGet/HttpPost reach any HTTP server (here the archive itself, over the network);
    a refused connection or an error status answers nil."""
    url = scripting.url
    script = f"""
        SetHttpTimeout(5)
        SetHttpCredentials("someone", "secret")
        print(ParseJson(HttpGet("{url}/system"))["Name"])
        print(HttpGet("{url}/nope"))
        print(HttpPost("{url}/tools/lookup", "{{}}") ~= nil)
        print(HttpDelete("{url}/patients/nope"))
        print(HttpGet("http://127.0.0.1:1/"))
    """
    with scripting.client() as client:
        answer = _run(client, script)
    assert answer.text.splitlines() == ["Chronicle", "nil", "true", "nil", "nil"]


FILTER_SCRIPT = """
seen = {}
function ReceivedInstanceFilter(dicom, origin, info)
  table.insert(seen, DumpJson(origin) .. " " .. DumpJson(info))
  return dicom.PatientID ~= "REFUSE"
end
function IncomingHttpRequestFilter(method, uri, ip, username, headers)
  return not (method == "DELETE" or headers["x-refuse"] == "yes")
end
"""


@pytest.fixture
def filtering(tmp_path: Path, database_url: str) -> Iterator[ChronicleProcess]:
    settings = "execute_lua_enabled = true\ndicom_always_allow_store = true\n"
    with scripted_server(tmp_path, database_url, FILTER_SCRIPT, settings) as process:
        yield process


def test_received_instance_filter_stores_nothing_it_refuses(filtering: ChronicleProcess) -> None:
    """As Orthanc 1.10.1: REST answers 200 "FilteredOut" and C-STORE success, and nothing of
    the refused instance is kept; the filter sees Orthanc's origin and info tables."""
    refused = make_instance("REFUSE", "1.2.8.1", "1.2.8.1.1", "1.2.8.1.1.1")
    with filtering.client() as client:
        head = client.get("/changes", params={"last": ""}).json()["Last"]
        answer = client.post("/instances", content=refused)
        assert answer.status_code == 200 and answer.json()["Status"] == "FilteredOut"
        assert c_store(filtering, refused) == 0x0000
        assert client.get("/instances").json() == []
        assert client.get("/changes", params={"last": ""}).json()["Last"] == head
        assert not filtering.stored_files()
        accepted = make_instance("ACCEPT", "1.2.8.2", "1.2.8.2.1", "1.2.8.2.1.1")
        assert c_store(filtering, accepted) == 0x0000
        assert len(client.get("/instances").json()) == 1
        seen = _run(client, "for _, line in ipairs(seen) do print(line) end").text.splitlines()
    info = '{"HasPixelData":true,"TransferSyntaxUID":"1.2.840.10008.1.2.1"}'
    dicom = (
        '{"CalledAet":"CHRONICLE","RemoteAet":"LUASCU","RemoteIp":"127.0.0.1",'
        '"RequestOrigin":"DicomProtocol"}'
    )
    assert seen == [
        '{"RemoteIp":"127.0.0.1","RequestOrigin":"RestApi","Username":""} ' + info,
        f"{dicom} {info}",
        f"{dicom} {info}",
    ]


def test_incoming_http_request_filter_refuses_with_an_empty_403(
    filtering: ChronicleProcess,
) -> None:
    with filtering.client() as client:
        stored = upload_accepted(client, make_instance("KEEP"))["ID"]
        refused = client.delete(f"/instances/{stored}")
        assert (refused.status_code, refused.content) == (403, b"")
        assert client.get("/system", headers={"X-Refuse": "yes"}).status_code == 403
        assert client.get(f"/instances/{stored}").status_code == 200
        # a script's own requests are not filtered
        assert _run(client, f'print(RestApiDelete("/instances/{stored}"))').text == "true\n"
        assert client.get(f"/instances/{stored}").status_code == 404
