"""Storage quotas, as Orthanc's MaximumStorageSize, MaximumPatientCount and MaximumStorageMode.

Before an instance is appended, the archive must still fit the limits once it is there: the
stored bytes of every file (DICOM files and user attachments, compressed as stored), the new
instance's included, and the number of patients, its patient included. When it would not fit,
"Recycle" mode deletes the patients stored into least recently, never a protected one nor the
patient receiving the instance, until it fits; "Reject" mode refuses the instance. When even
recycling every candidate would not make it fit, nothing is deleted and the store is refused
(Orthanc's FullStorage): the caller removes the file it wrote, so nothing of it is left.

A recycled patient is deleted by the very command DELETE /patients/{id} issues, its events
saying who caused it with the reason RECYCLING, so /changes, the file reaper and the audit
trail see an ordinary delete.

Concurrency. The check reads the hierarchy read model (a totals row kept by triggers and two
primary-key lookups; recycling reads patients through an index on their last store) and must
see every store committed before it, while several associations, processes or machines ingest
at once. Stores under quotas are therefore serialised, in a process by a mutex and across
processes by a PostgreSQL session advisory lock, held from the check until the instance (and
the recycling delete) is appended and the hierarchy has projected it. The hierarchy is projected
in the append's own transaction (adapters.event_store: inline followers), so that wait costs
nothing in the usual case. A session lock on an autocommit connection rather than a lock held by
an open transaction: the reads keep no table lock while the append runs elsewhere, so a rebuild's
swap of the hierarchy schema never waits behind an ingest that waits for that same hierarchy.
Serialised stores lose group commit: with quotas configured, ingest runs one instance at a time
(a few milliseconds each). Without a limit, none of this runs: no lock, no extra statement.

Differences from Orthanc: an unprotected patient is ordered by its last stored instance, whereas
Orthanc also moves it last when it is unprotected; the recycling delete is committed before the
store (Orthanc rolls both back together if the store then fails for another reason).
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import psycopg

from adapters.config import Settings
from adapters.database import Database
from domain.archive import Archive, StoreOutcome
from domain.instance_record import InstanceRecord
from domain.levels import PATIENT
from domain.origin import RECYCLING, SYSTEM, Origin
from projections.hierarchy import queries as hierarchy

log = logging.getLogger(__name__)

QUOTA_LOCK = zlib.crc32(b"chronicle:storage-quota")
# How long a store waits for another process's turn before it fails.
LOCK_TIMEOUT_SECONDS = 60
CANDIDATES_PAGE = 64
HTTP_INSUFFICIENT_STORAGE = 507

WaitForHierarchy = Callable[[int | None], None]


class StorageFull(Exception):
    """Orthanc's FullStorage (error 19, "The file storage is full"): the store is refused.
    `http_status`: what Orthanc answers over REST, 507 for what Reject mode refuses, 500 when
    recycling cannot make room or the instance alone exceeds the size limit. C-STORE: 0xA700."""

    def __init__(self, details: str, http_status: int = 500) -> None:
        super().__init__(details)
        self.details = details
        self.http_status = http_status


@attrs.frozen
class Quota:
    max_bytes: int  # 0: no limit
    max_patients: int  # 0: no limit
    reject: bool  # MaximumStorageMode "Reject": refuse rather than recycle

    @classmethod
    def from_settings(cls, settings: Settings) -> Quota | None:
        """None when no limit is configured."""
        if not settings.storage_limited:
            return None
        return cls(
            settings.maximum_storage_bytes,
            settings.maximum_patient_count,
            settings.maximum_storage_mode == "Reject",
        )

    def describe(self) -> str:
        """The limits, as the start-up log says them."""
        limits = []
        if self.max_bytes:
            limits.append(f"at most {self.max_bytes // (1024 * 1024)} MB")
        if self.max_patients:
            limits.append(f"at most {self.max_patients} patients")
        beyond = (
            "a store beyond them is refused"
            if self.reject
            else "the patients stored into least recently, unless protected, make room"
        )
        return f"storage quota: {' and '.join(limits)}; {beyond}"


@attrs.define
class Usage:
    """The archive as it would be with the new instance: its stored bytes and patients."""

    stored_bytes: int
    patients: int

    def over(self, quota: Quota) -> str | None:
        """Orthanc's message for the first limit exceeded (the size first), None if none is."""
        if quota.max_bytes and self.stored_bytes > quota.max_bytes:
            return "Maximum storage size reached"
        if quota.max_patients and self.patients > quota.max_patients:
            return "Maximum patient count reached"
        return None


def stored_bytes(attachment: dict[str, Any]) -> int:
    """What a file takes in the storage area: its compressed size when it is compressed."""
    compression = attachment.get("compression") or {}
    return int(compression.get("size") or attachment["size"])


class Recycler:
    """Keeps the archive within its quota, around each store (see the module's doc)."""

    def __init__(
        self, quota: Quota, db: Database, archive: Archive, wait_for: WaitForHierarchy
    ) -> None:
        """`wait_for(position)`: returns once the hierarchy read model has projected it."""
        self.quota = quota
        self.db = db
        self.archive = archive
        self.wait_for = wait_for
        self._turn = threading.Lock()

    def store(
        self,
        record: InstanceRecord,
        origin: Origin,
        overwrite: bool,
        store: Callable[[], StoreOutcome],
    ) -> StoreOutcome:
        """Runs `store` (the append of `record`, from `origin`, replacing the stored copy if
        `overwrite`) once the archive has room for it; raises StorageFull, having deleted
        nothing, when it cannot have."""
        added = stored_bytes(record.attachment)
        with self._exclusive() as conn:
            now = hierarchy.storage_usage(conn, record.instance_id, record.patient_id)
            stored_before = now["instance_bytes"]
            if stored_before is not None and not overwrite:
                return store()  # AlreadyStored: Orthanc checks no limit
            if self.quota.max_bytes and added > self.quota.max_bytes:
                raise StorageFull(
                    f"Cannot store an instance of size {added} bytes in a storage area "
                    f"limited to {self.quota.max_bytes}"
                )
            usage = Usage(
                stored_bytes=int(now["stored_bytes"]) - int(stored_before or 0) + added,
                patients=int(now["patients"]) + (0 if now["patient_stored"] else 1),
            )
            recycled = self._make_room(conn, usage, keep=record.patient_id)
            if recycled:
                self._recycle(conn, recycled, origin)
            outcome = store()
            self.wait_for(outcome.position)
            return outcome

    def recycle_at_start(self) -> int:
        """Orthanc's recycling at start-up, in Recycle mode: the oldest unprotected patients go
        until the archive fits limits lowered since it last ran. Returns how many went; none
        when even all of them would not do (logged)."""
        if self.quota.reject:
            return 0
        with self._exclusive() as conn:
            now = hierarchy.storage_usage(conn, "", "")
            usage = Usage(int(now["stored_bytes"]), int(now["patients"]))
            try:
                recycled = self._make_room(conn, usage, keep=None)
            except StorageFull:
                log.warning("the archive exceeds its storage quota, protected patients alone")
                return 0
            if recycled:
                self._recycle(conn, recycled, SYSTEM)
        return len(recycled)

    def _make_room(self, conn: psycopg.Connection, usage: Usage, keep: str | None) -> list[str]:
        """The patients to delete, oldest first, for `usage` to fit the quota; raises
        StorageFull when Reject mode refuses or when the candidates run out."""
        exceeded = usage.over(self.quota)
        if exceeded is None:
            return []
        if self.quota.reject:
            raise StorageFull(exceeded, HTTP_INSUFFICIENT_STORAGE)
        chosen: list[str] = []
        after = -1
        while usage.over(self.quota) is not None:
            page = hierarchy.recycling_candidates(conn, keep, after, CANDIDATES_PAGE)
            if not page:
                raise StorageFull("Cannot recycle more patients")
            for candidate in page:
                chosen.append(candidate["id"])
                usage.stored_bytes -= int(candidate["stored_bytes"])
                usage.patients -= 1
                if usage.over(self.quota) is None:
                    break
            after = page[-1]["last_stored_position"]
        return chosen

    def _recycle(self, conn: psycopg.Connection, patient_ids: list[str], origin: Origin) -> None:
        """Deletes the patients as DELETE /patients/{id} does, in one command."""
        instance_ids: list[str] = []
        vanishing: list[str] = []
        for patient_id in patient_ids:
            row = hierarchy.get_resource(conn, PATIENT, patient_id)
            if row is None:
                continue
            instances = hierarchy.instance_rows(conn, PATIENT, patient_id)
            instance_ids += [instance["id"] for instance in instances]
            vanishing += hierarchy.vanishing_resources(conn, row, instances)
        position = self.archive.delete_instances(instance_ids, origin.because(RECYCLING), vanishing)
        self.wait_for(position)
        log.info(
            "recycled %d patient(s) (%d instance(s)) to stay within the storage quota",
            len(patient_ids),
            len(instance_ids),
        )

    @contextmanager
    def _exclusive(self) -> Iterator[psycopg.Connection]:
        """This process's turn, then the archive's: a session advisory lock on a connection
        that runs every statement in its own transaction."""
        with self._turn, self.db.connection() as conn:
            try:
                conn.execute(_LOCK_STATEMENT)
            except BaseException:
                conn.close()  # its lock_timeout stays out of the pool
                raise
            try:
                yield conn
            finally:
                _unlock(conn)


_LOCK_STATEMENT = (
    f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'; SELECT pg_advisory_lock({QUOTA_LOCK}); "
    "RESET lock_timeout"
).encode()


def _unlock(conn: psycopg.Connection) -> None:
    try:
        conn.execute("SELECT pg_advisory_unlock(%s)", (QUOTA_LOCK,))
    except Exception:
        conn.close()  # the server releases a closed session's locks; the pool drops it
