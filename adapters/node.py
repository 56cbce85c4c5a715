"""One Chronicle process: the database, the event store, the storage area and the workers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from adapters.config import Settings
from adapters.database import Database, DatabaseAddress, EmbeddedPostgres
from adapters.dicom.scu import DicomClient
from adapters.event_store import event_store_env
from adapters.group_commit import GroupCommitter
from adapters.ingest import Ingestor
from adapters.job_engine import JobEngine
from adapters.peer_client import PeerClient
from adapters.reaper import FileReaper, referenced_files
from adapters.remote_config import sync_configured_nodes
from adapters.stability import StabilityWatcher
from adapters.storage import StorageArea
from domain.archive import Archive
from projections.changes import ChangesProjection
from projections.exports import ExportsProjection
from projections.hierarchy import HierarchyProjection
from projections.jobs import JobsProjection
from projections.remote_nodes import RemoteNodesProjection
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)

# What a write endpoint's response and the client's next obvious read depend on.
READ_YOUR_WRITES = ("hierarchy", "changes")
READ_YOUR_WRITES_TIMEOUT = 30.0


class ProjectionLagError(RuntimeError):
    pass


class ChronicleNode:
    def __init__(self, settings: Settings, owns_database: bool = False) -> None:
        self.settings = settings
        self.owns_database = owns_database
        self.embedded: EmbeddedPostgres | None = None
        self.address = self._database_address()
        try:
            self.db = Database(self.address, pool_size=settings.db_pool_size)
            self.archive = Archive(env=event_store_env(self.address, settings.db_pool_size))
        except BaseException:
            if self.embedded is not None:
                self.embedded.stop()
            raise
        self.archive.append_new = GroupCommitter(self.archive.save).append
        self.storage = StorageArea(settings.storage_dir)
        # The runner has its own connections: API requests that hold theirs while reading
        # files must never starve the projections that read-your-writes waits on.
        self.projection_db = Database(self.address, pool_size=2, name="projections")
        self.runner = ProjectionRunner(
            self.archive,
            self.projection_db,
            [
                HierarchyProjection(),
                ChangesProjection(),
                FileReaper(self.storage),
                RemoteNodesProjection(),
                JobsProjection(),
                ExportsProjection(),
            ],
            first=READ_YOUR_WRITES,
        )
        self.ingestor = Ingestor(
            self.archive,
            self.storage,
            overwrite=settings.overwrite_instances,
            default_encoding=settings.default_encoding,
        )
        self.dicom_client = DicomClient.from_settings(settings)
        self.peer_client = PeerClient()
        self.jobs = JobEngine(
            self.archive,
            self.db,
            self.storage,
            senders={"modality": self.dicom_client, "peer": self.peer_client},
            local_aet=settings.dicom_aet,
        )
        self.watcher = StabilityWatcher(self.archive, self.db, settings.stable_age)
        self.watcher.on_stabilized.append(self.runner.notify)
        self._ingest_lock = None
        self.dicom_server: Any = None

    def _database_address(self) -> DatabaseAddress:
        if self.settings.database_url:
            return DatabaseAddress.from_url(self.settings.database_url)
        self.embedded = EmbeddedPostgres(self.settings.embedded_pg_dir, owner=self.owns_database)
        return self.embedded.start()

    def start(self, workers: bool = True) -> None:
        """Brings read models up to date, sweeps orphan files, then starts the workers."""
        self.runner.prepare()
        self.runner.catch_up_fully()
        self.sync_remote_nodes()
        self.sweep_orphans()
        self._ingest_lock = self.storage.ingesting()
        self._ingest_lock.__enter__()
        if workers:
            self.runner.start()
            self.watcher.start()
            self.jobs.start()
            self._start_dicom_server()

    def _start_dicom_server(self) -> None:
        if self.settings.dicom_enabled:
            from adapters.dicom.scp import DicomServer

            self.dicom_server = DicomServer(self)
            self.dicom_server.start()

    def sync_remote_nodes(self) -> None:
        """Modalities and peers of the configuration file, in the read model before serving."""
        with self.db.connection() as conn:
            changed = sync_configured_nodes(self.archive, conn, self.settings)
        if changed:
            self.runner.catch_up_fully()

    def sweep_orphans(self) -> None:
        removed = self.storage.sweep(self._files_named_by_events)
        if removed is None:
            log.info("another process is ingesting: start-up sweep skipped")
        elif removed:
            log.warning("removed %d file(s) that no event names (interrupted ingests)", removed)

    def _files_named_by_events(self) -> set[str]:
        self.runner.catch_up_fully()
        with self.db.connection() as conn:
            return referenced_files(conn)

    def wait_for(self, position: int | None, names: Sequence[str] = READ_YOUR_WRITES) -> None:
        if position is None:
            return
        self.runner.notify()
        if not self.runner.wait_for(position, names, timeout=READ_YOUR_WRITES_TIMEOUT):
            raise ProjectionLagError(f"read models did not reach log position {position}")

    def close(self) -> None:
        if self.dicom_server is not None:
            self.dicom_server.stop()
            self.dicom_server = None
        self.jobs.stop()
        self.watcher.stop()
        self.runner.stop()
        if self._ingest_lock is not None:
            self._ingest_lock.__exit__(None, None, None)
            self._ingest_lock = None
        self.archive.close()
        self.projection_db.close()
        self.db.close()
        if self.embedded is not None:
            self.embedded.stop()
