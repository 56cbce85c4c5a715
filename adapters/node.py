"""The composition root: one Chronicle process's parts, built once and handed to each other.

Every part gets the narrow collaborators it uses; nothing is rewired after construction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from adapters import stage_timing
from adapters.config import Settings
from adapters.consumers.supervisor import Consumers
from adapters.credential_migration import move_credentials_out_of_the_log
from adapters.database import Database, DatabaseAddress
from adapters.delivery import Senders
from adapters.dicom.scu import DicomClient
from adapters.embedded_postgres import EmbeddedPostgres
from adapters.event_store import event_store_env
from adapters.ingest import Ingestor, IngestTranscoding
from adapters.job_outputs import JobOutputs
from adapters.jobs.engine import JobEngine
from adapters.leadership import Leadership
from adapters.live_settings import LiveSettings, configured_values
from adapters.log_levels import LogLevels
from adapters.lua.engine import LuaEngine
from adapters.metrics import Metrics
from adapters.node_directory import NodeDirectory
from adapters.peer_client import PeerClient
from adapters.processors.file_reaper import FileReaper
from adapters.processors.job_dispatch import JobDispatcher
from adapters.processors.lua_callbacks import LuaCallbacks
from adapters.processors.stability import StabilityWatcher
from adapters.processors.storage_commitment import StorageCommitmentAnswerer
from adapters.reconstruct import Reconstructor
from adapters.recycling import Quota, Recycler
from adapters.remote_config import sync_configured_nodes
from adapters.secret_store import PostgresSecretStore
from adapters.storage import StorageArea
from adapters.user_directory import UserDirectory
from domain.archive import Archive
from domain.origin import Channel, Origin
from domain.storage_commitment import StorageCommitments
from domain.users import CONFIGURATION
from projections.changes.projection import ChangesProjection
from projections.configuration.projection import RemoteNodesProjection
from projections.exports.projection import ExportsProjection
from projections.files.projection import FilesProjection
from projections.files.queries import referenced_files
from projections.hierarchy.projection import HierarchyProjection
from projections.jobs.projection import JobsProjection
from projections.read_model import ReadModel
from projections.storage_commitment.projection import StorageCommitmentProjection

log = logging.getLogger(__name__)

# What a write endpoint's response and the client's next obvious read depend on.
READ_YOUR_WRITES = ("hierarchy", "changes")
READ_YOUR_WRITES_TIMEOUT = 30.0


class ProjectionLagError(RuntimeError):
    pass


def read_models() -> list[ReadModel]:
    """Every read model, in the order they are listed (and rebuilt)."""
    return [
        HierarchyProjection(),
        ChangesProjection(),
        FilesProjection(),
        RemoteNodesProjection(),
        JobsProjection(),
        ExportsProjection(),
        StorageCommitmentProjection(),
    ]


# Every processor, in the order they are listed.
PROCESSOR_CLASSES = (
    FileReaper,
    StabilityWatcher,
    JobDispatcher,
    LuaCallbacks,
    StorageCommitmentAnswerer,
)


def _ingest_transcoding(settings: Settings) -> IngestTranscoding | None:
    if not settings.ingest_transcoding:
        return None
    return IngestTranscoding(
        settings.ingest_transcoding,
        settings.ingest_transcoding_of_uncompressed,
        settings.ingest_transcoding_of_compressed,
    )


class ReadModelWaiter:
    """Read-your-writes: waits until the named read models have consumed a log position."""

    def __init__(self, consumers: Consumers, timeout: float = READ_YOUR_WRITES_TIMEOUT) -> None:
        self.consumers = consumers
        self.timeout = timeout

    def __call__(self, position: int | None, names: Sequence[str] = READ_YOUR_WRITES) -> None:
        if position is None:
            return
        with stage_timing.stage("read models"):
            reached = self.consumers.wait_for(position, names, self.timeout)
        if not reached:
            raise ProjectionLagError(f"read models did not reach log position {position}")


class ChronicleNode:
    def __init__(self, settings: Settings, owns_database: bool = False) -> None:
        self.settings = settings
        self.owns_database = owns_database
        self.embedded: EmbeddedPostgres | None = None
        self.address = self._database_address()
        try:
            self.db = Database(self.address, pool_size=settings.db_pool_size)
            self.secrets = PostgresSecretStore(self.db)
            self.archive = Archive(
                env=event_store_env(self.address, settings.db_pool_size), secrets=self.secrets
            )
        except BaseException:
            if self.embedded is not None:
                self.embedded.stop()
            raise
        self.storage = StorageArea(settings.storage_dir)
        self.nodes = NodeDirectory(self.db, self.secrets)
        self.live = LiveSettings(self.db, settings)
        self.log_levels = LogLevels()
        self.metrics = Metrics(settings.metrics_enabled)
        self.lua = _lua_engine(settings)
        self.reconstructor = Reconstructor(
            self.archive, self.storage, self.live, settings.input_bounds
        )
        self.users = UserDirectory(self.db, self.secrets)
        self.ingestor = Ingestor(
            self.archive,
            self.storage,
            overwrite=settings.overwrite_instances,
            default_encoding=lambda: self.live.default_encoding,
            bounds=settings.input_bounds,
            recycler=self._recycler(),
            compress=settings.storage_compression,
            transcoding=_ingest_transcoding(settings),
        )
        self.dicom_client = DicomClient.from_settings(settings)
        self.peer_client = PeerClient.from_settings(settings)
        self.senders = Senders(modality=self.dicom_client, peer=self.peer_client)
        # Bound methods: the callbacks use self.jobs and self.consumers, made below.
        self.leadership = Leadership(self.address, self._lead, self._follow)
        self.job_outputs = JobOutputs(
            settings.data_dir / "job-outputs", settings.media_archive_size
        )
        self.jobs = JobEngine(
            self.archive,
            self.db,
            self.nodes,
            self.storage,
            senders=self.senders,
            local_aet=settings.dicom_aet,
            outputs=self.job_outputs,
            session=self.leadership.session,
            ingestor=self.ingestor,
        )
        self.watcher = StabilityWatcher(self.archive, self.db, settings.stable_age)
        # The runners have their own connections: API requests that hold theirs while reading
        # files must never starve the read models that read-your-writes waits on. Their commits
        # need no fsync: what they write is rebuilt from the log (see Database).
        self.consumer_db = Database(
            self.address, pool_size=10, name="consumers", durable_commits=False
        )
        self.consumers = Consumers(
            self.archive,
            self.consumer_db,
            read_models(),
            [
                FileReaper(self.storage),
                self.watcher,
                JobDispatcher(self.jobs.notify),
                LuaCallbacks(self.lua, self.db, settings.lua_heart_beat_period),
                StorageCommitmentAnswerer(
                    StorageCommitments(self.archive),
                    self.db,
                    self.storage,
                    self.nodes,
                    self.dicom_client,
                ),
            ],
            eager=READ_YOUR_WRITES,
        )
        self.archive.subscribe(self.consumers.notify)
        self.archive.recorder.follow_inline(  # type: ignore[attr-defined]
            [self.consumers.read_models[name] for name in READ_YOUR_WRITES]
        )
        self.wait_for = ReadModelWaiter(self.consumers)
        self._ingest_lock: Any = None
        self.dicom_server: Any = None

    def _database_address(self) -> DatabaseAddress:
        if self.settings.database_url:
            return DatabaseAddress.from_url(self.settings.database_url)
        self.embedded = EmbeddedPostgres(self.settings.embedded_pg_dir, owner=self.owns_database)
        return self.embedded.start()

    def prepare(self) -> None:
        """Creates and migrates every table; credentials left in the log by earlier versions
        move to the secret store."""
        self.secrets.prepare()
        with self.db.connection() as conn:
            move_credentials_out_of_the_log(self.archive, conn, self.secrets)
        self.consumers.prepare()

    def start(self, workers: bool = True) -> None:
        """Brings read models up to date, sweeps orphan files, then starts the workers (the
        consumers of the log, the job engine and the DICOM server)."""
        self.prepare()
        self.consumers.catch_up_read_models()
        self.sync_remote_nodes()
        self.sync_registered_users()
        self.sync_runtime_settings()
        self.sweep_orphans()
        self.recycle_to_quota()
        self._ingest_lock = self.storage.ingesting()
        self._ingest_lock.__enter__()
        if workers:
            self.start_workers()

    def start_workers(self) -> None:
        """The leadership election (then the consumers and jobs) and the DICOM server."""
        self.leadership.start()
        self._start_dicom_server()

    def _lead(self) -> None:
        """Elected: this process now runs the consumers and the job engine, from the
        positions the previous leader left."""
        self.consumers.prepare()
        self.consumers.start()
        self.jobs.start()

    def _follow(self) -> None:
        self.jobs.stop()
        self.consumers.stop()

    def _start_dicom_server(self) -> None:
        if self.settings.dicom_enabled:
            from adapters.dicom.scp import DicomServer

            self.dicom_server = DicomServer(self, shared_port=self.settings.shared_ports)
            self.dicom_server.start()

    def sync_remote_nodes(self) -> None:
        """Modalities and peers of the configuration file, in the read model before serving."""
        with self.db.connection() as conn:
            changed = sync_configured_nodes(self.archive, conn, self.settings)
        if changed:
            self.consumers.catch_up_read_models(["configuration"])

    def sync_registered_users(self) -> None:
        """The configuration's RegisteredUsers (admins, as in Orthanc), in the read model
        before serving. A user removed from the file stays until removed by name."""
        origin = Origin(Channel.SYSTEM, user=CONFIGURATION)
        changed = [
            self.archive.define_configured_user(name, password, origin)
            for name, password in sorted(self.settings.registered_users.items())
        ]
        if any(position is not None for position in changed):
            self.consumers.catch_up_read_models(["configuration"])

    def sync_runtime_settings(self) -> None:
        """The configuration file's DefaultEncoding, AcceptedTransferSyntaxes and
        UnknownSopClassAccepted, unless REST changed them since the file last did."""
        origin = Origin(Channel.SYSTEM, user=CONFIGURATION)
        changed = [
            self.archive.configure_runtime_setting(name, value, origin)
            for name, value in configured_values(self.settings).items()
        ]
        if any(position is not None for position in changed):
            self.consumers.catch_up_read_models(["configuration"])
        self.live.refresh()

    def _recycler(self) -> Recycler | None:
        """The keeper of the storage quotas, only when a limit is configured: without one,
        ingest takes no lock and reads nothing more. Its wait is a bound method: it uses
        self.wait_for, made below."""
        quota = Quota.from_settings(self.settings)
        if quota is None:
            return None
        log.info("%s", quota.describe())
        return Recycler(quota, self.db, self.archive, self._wait_for_hierarchy)

    def _wait_for_hierarchy(self, position: int | None) -> None:
        self.wait_for(position, ("hierarchy",))

    def recycle_to_quota(self) -> None:
        """As Orthanc at start-up, in Recycle mode: the oldest unprotected patients go until
        the archive fits limits lowered since it last ran."""
        recycler = self.ingestor.recycler
        if recycler is not None and recycler.recycle_at_start():
            self.consumers.catch_up_read_models()

    def sweep_orphans(self) -> None:
        removed = self.storage.sweep(self._files_named_by_events)
        if removed is None:
            log.info("another process is ingesting: start-up sweep skipped")
        elif removed:
            log.warning("removed %d file(s) that no event names (interrupted ingests)", removed)

    def _files_named_by_events(self) -> set[str]:
        self.consumers.catch_up_read_models(["files"])
        with self.db.connection() as conn:
            return referenced_files(conn)

    def close(self) -> None:
        if self.dicom_server is not None:
            self.dicom_server.stop()
            self.dicom_server = None
        self._follow()  # before the lock goes: never two processes running the consumers
        self.leadership.stop()
        if self._ingest_lock is not None:
            self._ingest_lock.__exit__(None, None, None)
            self._ingest_lock = None
        self.archive.close()
        self.consumer_db.close()
        self.db.close()
        if self.embedded is not None:
            self.embedded.stop()


def _lua_engine(settings: Settings) -> LuaEngine | None:
    """The Lua state, only when scripting is configured (ExecuteLuaEnabled or LuaScripts)."""
    if not (settings.execute_lua_enabled or settings.lua_scripts):
        return None
    return LuaEngine(settings.lua_max_instructions, settings.lua_max_memory_mb * 1024 * 1024)
