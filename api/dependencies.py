"""The collaborators the HTTP API is given by the composition root, each by name.

Route handlers declare the ones they use as parameters (`archive: Archive`, `wait_for:
ReadModelWaiter`, …) and Litestar injects them; helpers that only read take the request, whose
application state holds the read side (the database pool, the storage area, the settings).
Nothing in api/ sees the whole node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from litestar.di import Provide

from adapters.config import Settings
from adapters.consumers.supervisor import Consumers
from adapters.database import Database
from adapters.delivery import Senders
from adapters.dicom.scu import DicomClient
from adapters.ingest import Ingestor
from adapters.job_outputs import JobOutputs
from adapters.jobs.engine import JobEngine
from adapters.live_settings import LiveSettings
from adapters.log_levels import LogLevels
from adapters.lua.engine import LuaEngine
from adapters.metrics import Metrics
from adapters.node import ChronicleNode, ReadModelWaiter
from adapters.node_directory import NodeDirectory
from adapters.peer_client import PeerClient
from adapters.reconstruct import Reconstructor
from adapters.storage import StorageArea
from adapters.user_directory import UserDirectory
from domain.archive import Archive


@attrs.frozen
class ApiParts:
    settings: Settings
    archive: Archive
    ingestor: Ingestor
    jobs: JobEngine
    job_outputs: JobOutputs
    nodes: NodeDirectory
    senders: Senders
    peer_client: PeerClient
    dicom_client: DicomClient
    consumers: Consumers
    wait_for: ReadModelWaiter
    db: Database
    storage: StorageArea
    users: UserDirectory
    live: LiveSettings
    log_levels: LogLevels
    metrics: Metrics
    reconstructor: Reconstructor
    lua: LuaEngine | None

    @classmethod
    def of(cls, node: ChronicleNode) -> ApiParts:
        return cls(
            settings=node.settings,
            archive=node.archive,
            ingestor=node.ingestor,
            jobs=node.jobs,
            job_outputs=node.job_outputs,
            nodes=node.nodes,
            senders=node.senders,
            peer_client=node.peer_client,
            dicom_client=node.dicom_client,
            consumers=node.consumers,
            wait_for=node.wait_for,
            db=node.db,
            storage=node.storage,
            users=node.users,
            live=node.live,
            log_levels=node.log_levels,
            metrics=node.metrics,
            reconstructor=node.reconstructor,
            lua=node.lua,
        )

    def dependencies(self) -> dict[str, Provide]:
        return {
            field.name: Provide(_constant(getattr(self, field.name)), sync_to_thread=False)
            for field in attrs.fields(ApiParts)
        }


def _constant(value: Any) -> Callable[[], Any]:
    def provide() -> Any:
        return value

    return provide
