"""The job engine: runs store jobs (to a DICOM modality or an Orthanc peer) and records every
transition and every exported instance as events.

Jobs are picked from the jobs projection; their state lives in the log, so any process sees
them and a restart finds them. A job found Running at start-up was interrupted by a crash: it
fails clearly ("resubmit to retry"), because whether its last instances arrived is unknown.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import attrs
from pydicom import Dataset

from adapters.database import Database
from adapters.node_directory import NodeDirectory
from adapters.safe_logging import error_report
from adapters.storage import StorageArea
from domain.archive import Archive
from domain.exports import ExportEntry
from domain.jobs import RUNNING, JobStateError
from domain.origin import Origin
from projections.hierarchy import queries as hierarchy
from projections.jobs import queries as jobs_queries

log = logging.getLogger(__name__)

STORE_TO_MODALITY = "DicomModalityStore"
STORE_TO_PEER = "OrthancPeerStore"
MOVE_FROM_MODALITY = "DicomMoveScu"
QUERY_LEVELS = {"patient": "PATIENT", "study": "STUDY", "series": "SERIES", "instance": "IMAGE"}
CHUNK = 100
AUDIT_GROUP = 10
NETWORK_PROTOCOL_ERROR = (9, "Error in the network protocol")
INTERRUPTED = (-1, "Internal error")

OnResult = Callable[[str, bool, str], None]


class Sender(Protocol):
    def store(
        self,
        configuration: dict[str, Any],
        files: Iterable[tuple[str, bytes]],
        on_result: OnResult,
        **options: Any,
    ) -> None: ...


@attrs.frozen
class Destination:
    kind: str  # "modality" or "peer"
    name: str
    configuration: dict[str, Any]

    @property
    def remote_aet(self) -> str:
        return str(self.configuration.get("AET", ""))

    def reference(self) -> dict[str, str]:
        """What a job's events keep: the name, never the configuration (peers have secrets)."""
        return {"kind": self.kind, "name": self.name}


class JobFailed(RuntimeError):
    def __init__(self, job_id: str, code: int, description: str, details: str) -> None:
        super().__init__(details or description)
        self.job_id = job_id
        self.code = code
        self.description = description
        self.details = details
        self.position = 0


class JobEngine:
    def __init__(
        self,
        archive: Archive,
        db: Database,
        nodes: NodeDirectory,
        storage: StorageArea,
        senders: dict[str, Sender],
        local_aet: str,
        poll_interval: float = 5.0,
    ) -> None:
        """`poll_interval`: the job dispatcher wakes the engine when a job becomes pending;
        polling only covers jobs submitted by other processes."""
        self.archive = archive
        self.db = db
        self.nodes = nodes
        self.storage = storage
        self.senders = senders
        self.local_aet = local_aet
        self.poll_interval = poll_interval
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._claim = threading.Lock()

    def submit_store(
        self,
        destination: Destination,
        resources: Sequence[str],
        options: dict[str, Any],
        origin: Origin,
        priority: int = 0,
        run_here: bool = False,
    ) -> tuple[str, int]:
        """`run_here`: the caller runs the job itself (synchronous requests), so it is started
        in the same append and the engine's thread never sees it Pending."""
        job_type = STORE_TO_MODALITY if destination.kind == "modality" else STORE_TO_PEER
        parameters = {
            "Destination": destination.reference(),
            "Resources": list(resources),
            "Options": options,
        }
        job_id, position = self.archive.submit_job(
            job_type, priority, parameters, origin, started=run_here
        )
        if not run_here:
            self._wakeup.set()
        return job_id, position

    def run(self, job_id: str, started: bool = False) -> tuple[dict[str, Any], int]:
        """Runs a job in the calling thread; returns its content and the log position of its
        last event. Raises JobFailed (with that position) if it failed."""
        if not started:
            with self._claim:
                self.archive.start_job(job_id)
        job = self.archive.job(job_id)
        try:
            if job.job_type == MOVE_FROM_MODALITY:
                content = self._execute_move(job_id, job.parameters)
            else:
                origin = Origin.from_dict(job.origin)
                content = self._execute(job_id, job.parameters, origin, job.done)
        except JobFailed as failure:
            failure.position = self._fail(
                job_id, failure.code, failure.description, failure.details
            )
            raise
        except Exception as error:  # a bug must fail the job, not leave it Running forever
            log.error("job %s crashed: %s", job_id, error_report(error))
            code, description = INTERRUPTED
            position = self._fail(job_id, code, description, type(error).__name__)
            failure = JobFailed(job_id, code, description, type(error).__name__)
            failure.position = position
            raise failure from error
        if self.archive.job(job_id).state != RUNNING:  # paused or cancelled meanwhile
            return content, self.archive.recorder.max_notification_id() or 0
        return content, self.archive.finish_job(job_id, content)

    def _fail(self, job_id: str, code: int, description: str, details: str) -> int:
        try:
            return self.archive.fail_job(job_id, code, description, details)
        except JobStateError:  # cancelled meanwhile: already a failure
            return self.archive.recorder.max_notification_id() or 0

    def submit_move(
        self,
        destination: Destination,
        level: str,
        queries: Sequence[dict[str, str]],
        target_aet: str,
        origin: Origin,
        priority: int = 0,
        run_here: bool = False,
    ) -> tuple[str, int]:
        """A C-MOVE SCU job: ask the modality to send what matches `queries` to `target_aet`."""
        parameters = {
            "Destination": destination.reference(),
            "Level": level,
            "Queries": list(queries),
            "TargetAet": target_aet,
        }
        job_id, position = self.archive.submit_job(
            MOVE_FROM_MODALITY, priority, parameters, origin, started=run_here
        )
        if not run_here:
            self._wakeup.set()
        return job_id, position

    def _destination(self, job_id: str, reference: dict[str, str]) -> Destination:
        configuration = self.nodes.for_sending(reference["kind"], reference["name"])
        if configuration is None:
            code, description = NETWORK_PROTOCOL_ERROR
            details = f"no {reference['kind']} named {reference['name']!r} any more"
            raise JobFailed(job_id, code, description, details)
        return Destination(reference["kind"], reference["name"], configuration)

    def _execute_move(self, job_id: str, parameters: dict[str, Any]) -> dict[str, Any]:
        destination = self._destination(job_id, parameters["Destination"])
        mover = self.senders.get("modality")
        level = QUERY_LEVELS[parameters["Level"].lower()]
        failed = 0
        for query in parameters["Queries"]:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = level
            for keyword, value in query.items():
                setattr(identifier, keyword, value)
            model = "patient" if level == "PATIENT" else "study"
            try:
                counts = mover.move(  # type: ignore[union-attr]
                    destination.configuration, identifier, parameters["TargetAet"], model
                )
            except Exception as error:
                code, description = NETWORK_PROTOCOL_ERROR
                raise JobFailed(job_id, code, description, str(error)) from error
            failed += counts.get("Failed", 0)
        if failed:
            code, description = NETWORK_PROTOCOL_ERROR
            raise JobFailed(job_id, code, description, f"{failed} sub-operation(s) failed")
        return {
            "Description": "REST API",
            "LocalAet": self.local_aet,
            "Query": parameters["Queries"],
            "RemoteAet": destination.remote_aet,
            "TargetAet": parameters["TargetAet"],
        }

    def recover(self) -> None:
        """Fails the jobs a crash left Running."""
        with self.db.connection() as conn:
            stale = jobs_queries.running(conn)
        for job_id in stale:
            code, description = INTERRUPTED
            with contextlib.suppress(JobStateError):
                self.archive.fail_job(
                    job_id, code, description, "Interrupted by a restart; resubmit to retry"
                )

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="job-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def notify(self) -> None:
        self._wakeup.set()

    def _loop(self) -> None:
        handled: str | None = None
        while not self._stopping.is_set():
            job_id = self._next_pending()
            if job_id is None or job_id == handled:
                # nothing to do, or the jobs projection has not caught up with the last run
                self._wakeup.wait(self.poll_interval)
                self._wakeup.clear()
                handled = None
                continue
            handled = job_id
            try:
                self.run(job_id)
            except JobStateError:
                continue  # taken by another runner, or paused/cancelled meanwhile
            except JobFailed:
                continue
            except Exception as error:
                log.error("job engine error: %s", error_report(error))
                self._stopping.wait(1.0)

    def _next_pending(self) -> str | None:
        with self.db.connection() as conn:
            return jobs_queries.next_pending(conn)

    def _execute(
        self, job_id: str, parameters: dict[str, Any], origin: Origin, done: set[str]
    ) -> dict[str, Any]:
        """Sends the instances not yet `done` (a resumed job does not send twice)."""
        destination = self._destination(job_id, parameters["Destination"])
        options = parameters.get("Options", {})
        instances = self._instances(parameters["Resources"])
        remaining = [row for row in instances if row["id"] not in done]
        sender = self.senders.get(destination.kind)
        if sender is None:
            code, description = NETWORK_PROTOCOL_ERROR
            raise JobFailed(job_id, code, description, f"cannot send to a {destination.kind}")
        failed: list[str] = []
        sent_before = len(instances) - len(remaining)
        for start in range(0, len(remaining), CHUNK):
            chunk = remaining[start : start + CHUNK]
            chunk_failed = self._send_chunk(job_id, destination, sender, chunk, options, origin)
            failed += chunk_failed
            delivered = [row["id"] for row in chunk if row["id"] not in chunk_failed]
            sent = sent_before + start + len(chunk)
            progress = round(100 * sent / max(len(instances), 1))
            try:
                self.archive.progress_job(job_id, min(progress, 99), delivered)
            except JobStateError:
                break  # paused or cancelled while this chunk was being sent
        content = self._content(destination, parameters["Resources"], instances, failed)
        if failed and not options.get("Permissive", False):
            code, description = NETWORK_PROTOCOL_ERROR
            raise JobFailed(
                job_id, code, description, f"{len(failed)} of {len(instances)} instances failed"
            )
        return content

    def _send_chunk(
        self,
        job_id: str,
        destination: Destination,
        sender: Sender,
        chunk: list[hierarchy.Row],
        options: dict[str, Any],
        origin: Origin,
    ) -> list[str]:
        """Sends one chunk over one association, recording each outcome as it comes in (in
        groups of AUDIT_GROUP, so a crash can leave at most that many sends unaudited)."""
        rows = {row["id"]: row for row in chunk}
        pending: list[ExportEntry] = []
        failed: list[str] = []

        def record(instance_id: str, succeeded: bool, error: str) -> None:
            row = rows.pop(instance_id, None)
            if row is None:  # already recorded (a sender reporting twice)
                return
            entry = _export_entry(row, destination, job_id, (succeeded, error))
            pending.append(entry)
            if not succeeded:
                failed.append(instance_id)
            if len(pending) >= AUDIT_GROUP:
                self.archive.record_exports(pending, origin)
                pending.clear()

        configuration = {**destination.configuration, **_overrides(options)}
        extra = _move_originator(options) if destination.kind == "modality" else {}
        try:
            sender.store(configuration, self._files(chunk), record, **extra)
        except Exception as error:  # association-level failure: every unsent instance failed
            for instance_id in list(rows):
                record(instance_id, False, str(error) or type(error).__name__)
        for instance_id in list(rows):  # the sender said nothing about these
            record(instance_id, False, "not sent")
        if pending:
            self.archive.record_exports(pending, origin)
        return failed

    def _files(self, chunk: list[hierarchy.Row]) -> Iterable[tuple[str, bytes]]:
        for row in chunk:
            yield row["id"], self.storage.read(row["file_uuid"])

    def _instances(self, resources: Sequence[str]) -> list[hierarchy.Row]:
        """The instances under the resources, each with its DICOM identifiers for the audit."""
        with self.db.connection() as conn:
            return hierarchy.instances_with_identifiers(conn, list(resources))

    def _content(
        self,
        destination: Destination,
        resources: Sequence[str],
        instances: list[hierarchy.Row],
        failed: list[str],
    ) -> dict[str, Any]:
        content: dict[str, Any] = {
            "Description": "REST API",
            "FailedInstancesCount": len(failed),
            "InstancesCount": len(instances),
            "ParentResources": list(resources),
        }
        if destination.kind == "modality":
            content["LocalAet"] = self.local_aet
            content["RemoteAet"] = destination.remote_aet
        else:
            content["Peer"] = [destination.configuration.get("Url", "")]
        return content


def _overrides(options: dict[str, Any]) -> dict[str, Any]:
    """Per-job overrides of the destination (Orthanc's CalledAet/Host/Port/LocalAet/Timeout)."""
    names = {
        "CalledAet": "AET",
        "Host": "Host",
        "Port": "Port",
        "LocalAet": "LocalAet",
        "Timeout": "Timeout",
    }
    return {target: options[source] for source, target in names.items() if source in options}


def _move_originator(options: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if options.get("MoveOriginatorAet"):
        extra["move_originator_aet"] = str(options["MoveOriginatorAet"])
    if options.get("MoveOriginatorID"):
        extra["move_originator_id"] = int(options["MoveOriginatorID"])
    return extra


def _export_entry(
    row: hierarchy.Row, destination: Destination, job_id: str, outcome: tuple[bool, str]
) -> ExportEntry:
    succeeded, error = outcome
    return ExportEntry(
        instance_id=row["id"],
        series_id=row["series_id"],
        study_id=row["study_id"],
        patient_id=row["patient_id"],
        identifiers=row["identifiers"],
        destination_kind=destination.kind,
        destination=destination.name,
        remote_aet=destination.remote_aet,
        job_id=job_id,
        succeeded=succeeded,
        error=error,
    )
