"""Lua's event callbacks through a running server, as Orthanc's scripts use them: deleted,
updated, job, change, heart-beat and Finalize callbacks, each once per event, across a restart
and never on a rebuild. The script writes what it is called with to a journal file, which
outlives the Lua state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dicom_factory import make_instance
from tests.support.lua_servers import scripted_server
from tests.support.server import ChronicleProcess, free_port, upload_accepted
from tests.support.storage_scp import StorageSCP
from tests.support.waiting import eventually

JOURNAL_SCRIPT = """
local function note(...)
  local file = io.open(JOURNAL, "a")
  file:write(table.concat({...}, " ") .. "\\n")
  file:close()
end
function OnStoredInstance(id, tags, metadata)
  note("stored", id)
  local file = io.open(JOURNAL .. ".last", "w")
  file:write(DumpJson(tags) .. "\\n" .. DumpJson(metadata))
  file:close()
end
for _, level in ipairs({"Instance", "Series", "Study", "Patient"}) do
  _G["OnDeleted" .. level] = function(id) note("deleted", level, id) end
  _G["OnUpdated" .. level] = function(id) note("updated", level, id) end
end
function OnJobSubmitted(id) note("job-submitted", id) end
function OnJobSuccess(id) note("job-success", id) end
function OnJobFailure(id) note("job-failure", id) end
function OnChange(kind, level, id) note("change", kind, level, id) end
function OnHeartBeat() note("heart-beat") end
function Finalize() note("finalize") end
"""


@pytest.fixture
def destination() -> Iterator[StorageSCP]:
    scp = StorageSCP().start()
    yield scp
    scp.stop()


@pytest.fixture
def journaled(
    tmp_path: Path, database_url: str, destination: StorageSCP
) -> Iterator[ChronicleProcess]:
    script = f"JOURNAL = {str(tmp_path / 'journal.txt')!r}\n{JOURNAL_SCRIPT}"
    settings = (
        "lua_heart_beat_period = 1\n"
        "[dicom_modalities]\n"
        f'dest = ["DEST", "127.0.0.1", {destination.port}]\n'
        f'closed = ["CLOSED", "127.0.0.1", {free_port()}]\n'
    )
    with scripted_server(tmp_path, database_url, script, settings) as process:
        yield process


def _journal(server: ChronicleProcess) -> list[list[str]]:
    path = server.data_dir.parent / "journal.txt"
    text = path.read_text() if path.exists() else ""
    return [line.split(" ") for line in text.splitlines() if line != "heart-beat"]


def _entries(server: ChronicleProcess, kind: str) -> list[list[str]]:
    return [entry[1:] for entry in _journal(server) if entry[0] == kind]


def _store_job(client: httpx.Client, modality: str, instance: str) -> str:
    answer = client.post(
        f"/modalities/{modality}/store", json={"Resources": [instance], "Asynchronous": True}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["ID"])


def test_each_callback_runs_once_per_event_as_orthanc_calls_it(
    journaled: ChronicleProcess,
) -> None:
    with journaled.client() as client:
        first = upload_accepted(
            client, make_instance("CB-1", "1.2.7.1", "1.2.7.1.1", "1.2.7.1.1.1")
        )
        second = upload_accepted(
            client, make_instance("CB-1", "1.2.7.1", "1.2.7.1.1", "1.2.7.1.1.2")
        )
        other = upload_accepted(
            client, make_instance("CB-2", "1.2.7.2", "1.2.7.2.1", "1.2.7.2.1.1")
        )
        # (an instance deleted before its OnStoredInstance ran gets none)
        assert eventually(lambda: len(_entries(journaled, "stored")) == 3)
        # the tags and metadata it was given are what REST answers for the instance (but the
        # null values, as a Lua table holds no nil: PixelData)
        last = (journaled.data_dir.parent / "journal.txt.last").read_text().splitlines()
        tags = client.get(f"/instances/{other['ID']}/simplified-tags").json()
        assert [json.loads(part) for part in last] == [
            {key: value for key, value in tags.items() if value is not None},
            client.get(f"/instances/{other['ID']}/metadata", params={"expand": ""}).json(),
        ]
        assert client.put(f"/instances/{other['ID']}/metadata/1024", content=b"x").is_success
        assert client.put(f"/patients/{other['ParentPatient']}/metadata/1025", content=b"y")
        assert client.delete(f"/instances/{second['ID']}").is_success
        assert client.delete(f"/instances/{first['ID']}").is_success  # the last of its patient
        sent = _store_job(client, "dest", other["ID"])
        failed = _store_job(client, "closed", other["ID"])
        assert eventually(lambda: len(_entries(journaled, "job-failure")) == 1)
        assert eventually(lambda: len(_entries(journaled, "job-success")) == 1)
        changes = client.get("/changes", params={"limit": 1000}).json()["Changes"]

    assert _entries(journaled, "stored") == [[first["ID"]], [second["ID"]], [other["ID"]]]
    assert _entries(journaled, "updated") == [
        ["Instance", other["ID"]],
        ["Patient", other["ParentPatient"]],
    ]
    assert _entries(journaled, "deleted") == [
        ["Instance", second["ID"]],
        *(
            [level, first[key]]
            for level, key in (
                ("Instance", "ID"),
                ("Series", "ParentSeries"),
                ("Study", "ParentStudy"),
                ("Patient", "ParentPatient"),
            )
        ),
    ]
    assert sorted(_entries(journaled, "job-submitted")) == sorted([[sent], [failed]])
    assert _entries(journaled, "job-success") == [[sent]]
    assert _entries(journaled, "job-failure") == [[failed]]
    # OnChange: every change of /changes, in its order (those of the deleted patient, which
    # /changes no longer shows, included)
    shown = [[c["ChangeType"], c["ResourceType"], c["ID"]] for c in changes]
    removed = {*first.values(), *second.values()}

    def still_shown() -> list[list[str]]:
        return [entry for entry in _entries(journaled, "change") if entry[2] not in removed]

    assert eventually(lambda: still_shown()[: len(shown)] == shown), (still_shown(), shown)
    seen = _entries(journaled, "change")
    assert ["Deleted", "Patient", first["ParentPatient"]] in seen
    assert seen.count(["NewInstance", "Instance", first["ID"]]) == 1


def test_heart_beat_and_finalize_and_no_callback_on_restart_or_rebuild(
    journaled: ChronicleProcess,
) -> None:
    journal = journaled.data_dir.parent / "journal.txt"
    assert eventually(lambda: journal.exists() and "heart-beat" in journal.read_text())
    with journaled.client() as client:
        before = upload_accepted(
            client, make_instance("RB-1", "1.2.6.1", "1.2.6.1.1", "1.2.6.1.1.1")
        )
        assert eventually(lambda: [before["ID"]] in _entries(journaled, "stored"))
    journaled.stop()
    assert _journal(journaled)[-1] == ["finalize"]
    journaled.start()
    rebuilt = journaled.rebuild()
    assert rebuilt.returncode == 0, rebuilt.stderr
    with journaled.client() as client:
        after = upload_accepted(
            client, make_instance("RB-2", "1.2.6.2", "1.2.6.2.1", "1.2.6.2.1.1")
        )
        # the callbacks run in log order: once this one ran, nothing earlier will
        assert eventually(lambda: [after["ID"]] in _entries(journaled, "stored"))
    assert _entries(journaled, "stored") == [[before["ID"]], [after["ID"]]]
