"""HTTP Basic authentication and roles on a running server, through real clients: every route
refuses anonymous callers with Orthanc's challenge, roles follow api.permissions, users come
from RegisteredUsers and `chronicle user`, and a changed password takes effect at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httplib2
import httpx
import pyorthanc
import pytest

from api.permissions import may
from tests.support.cli import chronicle
from tests.support.dicom_factory import make_instance
from tests.support.nodes import fresh_database
from tests.support.server import ChronicleProcess

ADMIN = ("root", "root-secret")
PEOPLE = {"reader": ("user", "reader-secret"), "audit": ("auditor", "audit-secret")}


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, postgres: object
) -> Iterator[ChronicleProcess]:

    root = tmp_path_factory.mktemp("auth")
    root.chmod(0o711)
    url = fresh_database(postgres, "chronicle_test_authentication")
    config = root / "chronicle.toml"
    config.write_text(
        f'authentication_enabled = true\n[registered_users]\n{ADMIN[0]} = "{ADMIN[1]}"\n'
    )
    server = ChronicleProcess(root / "data", url, "--config", str(config))
    server.start()
    try:
        for name, (role, password) in PEOPLE.items():
            added = chronicle(
                "user", "add", name, "--role", role, "--database-url", url, password=password
            )
            assert added.returncode == 0, added.stderr
        yield server
    finally:
        server.stop()


def _client(server: ChronicleProcess, name: str | None = None) -> httpx.Client:
    if name is None:
        return server.client()
    password = ADMIN[1] if name == ADMIN[0] else PEOPLE[name][1]
    return server.client(auth=(name, password))


def _routes(server: ChronicleProcess) -> list[tuple[str, str]]:
    """(method, path with every parameter as "x") of every operation in the OpenAPI document."""
    with _client(server, ADMIN[0]) as client:
        document = client.get("/schema/openapi.json").json()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "delete")
    ]


def test_every_route_challenges_an_anonymous_caller(secured: ChronicleProcess) -> None:
    routes = _routes(secured)
    assert len(routes) > 100
    with _client(secured) as anonymous:
        for method, path in [*routes, ("GET", "/schema/openapi.json"), ("GET", "/nowhere")]:
            answer = anonymous.request(method, path)
            assert answer.status_code == 401, (method, path)
            assert answer.headers["www-authenticate"] == 'Basic realm="Chronicle"'
            assert answer.content == b""
        wrong = httpx.get(f"{secured.url}/system", auth=(ADMIN[0], "not-it"))
        assert wrong.status_code == 401


def test_each_role_reaches_what_the_table_allows(secured: ChronicleProcess) -> None:
    routes = _routes(secured)
    for name, (role, _) in PEOPLE.items():
        with _client(secured, name) as client:
            for method, path in routes:
                status = client.request(method, path).status_code
                if may(role, method, path):
                    assert status not in (401, 403), (role, method, path, status)
                else:
                    assert status == 403, (role, method, path, status)


def test_what_users_and_auditors_may_do(secured: ChronicleProcess) -> None:
    data = make_instance("AUTH-1")
    with _client(secured, "reader") as reader, _client(secured, "audit") as auditor:
        stored = reader.post("/instances", content=data)
        assert stored.status_code == 200
        study = stored.json()["ParentStudy"]
        assert reader.delete(f"/studies/{study}").status_code == 403
        assert (
            reader.put("/modalities/m", json={"AET": "M", "Host": "h", "Port": 1}).status_code
            == 403
        )
        assert auditor.get(f"/studies/{study}").status_code == 200
        assert auditor.get("/exports").status_code == 200
        assert auditor.get("/changes").status_code == 200
        assert auditor.post("/instances", content=data).status_code == 403
        assert auditor.get("/modalities").status_code == 403
    with _client(secured, ADMIN[0]) as admin:
        assert admin.delete(f"/studies/{study}").status_code == 200


def test_real_orthanc_clients_log_in(secured: ChronicleProcess) -> None:
    orthanc = pyorthanc.Orthanc(secured.url, username=ADMIN[0], password=ADMIN[1])
    assert orthanc.get_system()["Name"]
    anonymous = pyorthanc.Orthanc(secured.url)
    with pytest.raises(httpx.HTTPError, match="HTTP code: 401"):
        anonymous.get_system()
    # httplib2 sends credentials only once challenged.
    browser = httplib2.Http()
    browser.add_credentials("reader", PEOPLE["reader"][1])
    response, body = browser.request(f"{secured.url}/statistics")
    assert response.status == 200 and b"CountInstances" in body


def test_a_changed_or_disabled_password_stops_working_at_once(secured: ChronicleProcess) -> None:
    url = secured.database_url
    assert url is not None
    added = chronicle("user", "add", "temp", "--database-url", url, password="first")
    assert added.returncode == 0, added.stderr
    first = httpx.get(f"{secured.url}/system", auth=("temp", "first"))
    assert first.status_code == 200
    changed = chronicle("user", "passwd", "temp", "--database-url", url, password="second")
    assert changed.returncode == 0, changed.stderr
    assert httpx.get(f"{secured.url}/system", auth=("temp", "first")).status_code == 401
    assert httpx.get(f"{secured.url}/system", auth=("temp", "second")).status_code == 200
    assert chronicle("user", "disable", "temp", "--database-url", url).returncode == 0
    assert httpx.get(f"{secured.url}/system", auth=("temp", "second")).status_code == 401
    assert chronicle("user", "remove", "temp", "--database-url", url).returncode == 0
    listed = chronicle("user", "list", "--database-url", url)
    assert "temp" not in listed.stdout and "reader" in listed.stdout and "root" in listed.stdout


def test_listening_beyond_loopback_needs_authentication_and_a_user(tmp_path: Path) -> None:
    from adapters.config import ConfigError, Settings
    from adapters.server import check_listening_policy

    remote = Settings(http_host="0.0.0.0")
    with pytest.raises(ConfigError, match="without authentication"):
        check_listening_policy(remote)
    with pytest.raises(ConfigError, match="no user can log in"):
        check_listening_policy(Settings(http_host="0.0.0.0", authentication_enabled=True), 0)
    check_listening_policy(Settings(http_host="0.0.0.0", authentication_enabled=True), 1)
    check_listening_policy(Settings(), None)  # loopback: always
    open_dicom = Settings(
        http_host="0.0.0.0",
        authentication_enabled=True,
        dicom_always_allow_store=True,
        dicom_check_called_aet=False,
    )
    with pytest.raises(ConfigError, match="DicomAlwaysAllowStore without DicomCheckCalledAet"):
        check_listening_policy(open_dicom, 1)
    # The server itself refuses before it listens.
    refused = chronicle("serve", "--data-dir", str(tmp_path), "--http-host", "0.0.0.0")
    assert refused.returncode == 2 and "without authentication" in refused.stderr


def test_a_script_uses_a_token_until_it_is_revoked_or_expires(secured: ChronicleProcess) -> None:
    with _client(secured, ADMIN[0]) as admin:
        made = admin.post("/tools/tokens", json={"User": "reader", "Description": "nightly"})
        assert made.status_code == 200
        token, token_id = made.json()["Token"], made.json()["ID"]
        listed = admin.get("/tools/tokens").json()
        assert {"ID": token_id, "User": "reader", "Description": "nightly"}.items() <= next(
            t for t in listed if t["ID"] == token_id
        ).items()
        assert all("Token" not in t and token not in str(t) for t in listed)
        script = httpx.Client(base_url=secured.url, headers={"Authorization": f"Bearer {token}"})
        with script:
            assert script.get("/patients").status_code == 200
            assert script.delete("/patients/x").status_code == 403  # the user's role
            assert script.get("/tools/tokens").status_code == 403
            assert admin.delete(f"/tools/tokens/{token_id}").status_code == 200
            assert script.get("/patients").status_code == 401
        assert admin.delete(f"/tools/tokens/{token_id}").status_code == 404
        expired = admin.post(
            "/tools/tokens", json={"User": "reader", "Expires": "2020-01-01T00:00:00Z"}
        ).json()["Token"]
        stale = httpx.get(f"{secured.url}/patients", headers={"Authorization": f"Bearer {expired}"})
        assert stale.status_code == 401
        for bad in ({"User": "nobody"}, {"User": "reader", "Expires": "soon"}, {"User": 3}):
            assert admin.post("/tools/tokens", json=bad).status_code == 400, bad
        forged = token[:-4] + "AAAA"
        assert (
            httpx.get(
                f"{secured.url}/system", headers={"Authorization": f"Bearer {forged}"}
            ).status_code
            == 401
        )


def test_failed_logins_are_slowed_and_recorded_and_lock_nobody_out(
    secured: ChronicleProcess,
) -> None:
    # From an address of its own, so that the other tests' failures do not count here.
    attacker = httpx.Client(
        base_url=secured.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")
    )
    with attacker:
        answers = [attacker.get("/system", auth=("audit", f"guess-{i}")) for i in range(8)]
    assert all(a.status_code == 401 for a in answers)
    assert [a.headers.get("retry-after") for a in answers[:5]] == [None] * 5
    assert [a.headers.get("retry-after") for a in answers[5:]] == ["1", "1", "1"]
    # The attacked account and everyone else still log in at once with the right password.
    assert httpx.get(f"{secured.url}/system", auth=("audit", PEOPLE["audit"][1])).status_code == 200
    assert httpx.get(f"{secured.url}/system", auth=ADMIN).status_code == 200
    with _client(secured, ADMIN[0]) as admin:
        logins = admin.get("/tools/logins", params={"limit": "50"}).json()
        assert admin.get("/tools/logins", params={"limit": "0"}).status_code == 400
    failures = [e for e in logins if e["User"] == "audit" and not e["Succeeded"]]
    assert len(failures) == 8 and {e["Source"] for e in failures} == {"127.0.0.2"}
    assert any(e["User"] == "audit" and e["Succeeded"] for e in logins)


def test_what_anonymous_callers_may_read_when_configured(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "chronicle.toml"
    config.write_text(
        "authentication_enabled = true\nanonymous_system = true\nanonymous_openapi = true\n"
        '[registered_users]\nroot = "root-secret"\n'
    )
    server = ChronicleProcess(tmp_path / "data", database_url, "--config", str(config))
    server.start()
    try:
        with server.client() as anonymous:
            minimal = anonymous.get("/system")
            assert minimal.status_code == 200
            assert set(minimal.json()) == {"ApiVersion", "Implementation", "Name", "Version"}
            assert anonymous.get("/schema/openapi.json").status_code == 200
            assert anonymous.get("/statistics").status_code == 401
            assert anonymous.post("/system").status_code == 401
        with server.client(auth=("root", "root-secret")) as admin:
            assert "DicomAet" in admin.get("/system").json()  # the full form
    finally:
        server.stop()
