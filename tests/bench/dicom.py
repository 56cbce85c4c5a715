"""DICOM services: C-STORE ingest throughput and C-FIND latency, through a pynetdicom SCU.

    python -m tests.bench.dicom [--orthanc] [--count N] [--large-count M] [--time-limit S]

1. C-STORE: distinct, pre-generated files (tests.support.dicom_factory.make_series, series of
   50, one patient and study per series) sent by a pynetdicom SCU (AE title BENCH, declared in
   the server's DicomModalities): small 64x64 16-bit CT (about 9 KB) over 1 association and over
   4 associations in parallel (threads), and 512x512 (about 525 KB) over 1 association. Files
   are streamed from disk (pynetdicom STORE_SEND_CHUNKED_DATASET) so the client does not decode
   and re-encode them. Only Success (0x0000) statuses count; afterwards GET /statistics must
   report the expected CountInstances.
2. C-FIND: a query set of 40 studies x 50 instances (PatientID FIND-00…39, PatientName DOE^…
   or ROE^…, StudyDates spread over 2023) is stored over 4 associations, then one association
   repeats each query (Study Root, after 2 unmeasured runs) and the median and p95 of the time
   from request to final status are reported: STUDY level with PatientID exact, PatientName
   `DOE*`, a StudyDate range, and IMAGE level within one study (50 matches). STUDY queries ask
   for the keys a viewer's study list asks (with ModalitiesInStudy and
   NumberOfStudyRelatedInstances). `DOE*` also matches the C-STORE cases' patients (Doe^John):
   PatientName matching is case-insensitive in both servers.

Chronicle runs as `chronicle serve` on a fresh data directory with its embedded PostgreSQL.
With `--orthanc` the same runs against a real Orthanc (Debian's 1.10.1, SQLite index, env
TCP_NODELAY=1 so that DCMTK disables Nagle as pynetdicom does here), both servers inside a
private network namespace with loopback only, and a second table gives the ratios. The SCU
sets TCP_NODELAY on every association (without it each C-STORE costs a ~40 ms delayed-ACK).
Client and server share the machine's cores, the same way for both servers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, _config
from pynetdicom.association import Association
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from adapters.dicom.sockets import NODELAY_HANDLERS
from tests.bench.common import (
    STABLE_AGE,
    ChronicleServer,
    OrthancServer,
    Server,
    bench_arguments,
    is_chronicle,
    isolate_if_comparing,
    machine_summary,
    percentile,
    table,
)
from tests.support.dicom_factory import ROOT, make_instance, make_series
from tests.support.server import free_port

SCU_AET = "BENCH"
SERIES_LENGTH = 50
WARMUP = 20  # small files stored over one association before the first measured case
FIND_STUDIES = 40
FIND_PER_STUDY = 50
FIND_FIRST_DATE = date(2023, 1, 1)
FIND_DATE_STEP = 9  # days between consecutive query-set studies: 40 studies span 2023
FIND_RANGE = "20230301-20230430"
FIND_REPEATS = 30
FIND_WARMUP = 2
FIND_TIME_LIMIT = 10.0  # seconds per query, repeats included
TIMEOUT = 120  # seconds: ACSE, DIMSE and network timeouts of the SCU


def _free_port_besides(*taken: int) -> int:
    port = free_port()
    while port in taken:
        port = free_port()
    return port


def _modalities(scu_port: int) -> dict[str, list[object]]:
    # The SCU never listens: the port only matters for C-MOVE, which is not benchmarked here.
    return {"bench": [SCU_AET, "127.0.0.1", scu_port]}


# ------------------------------------------------------------------------------------------
# Servers with their DICOM service and the benchmark's SCU declared as a modality
# ------------------------------------------------------------------------------------------
class ChronicleDicomServer(ChronicleServer):
    """ChronicleServer plus `--dicom-aet/--dicom-port` and an Orthanc JSON `--config`."""

    aet = "CHRONICLE"

    def __init__(self, workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.dicom_port = _free_port_besides(self.port)
        self.config_dir = Path(tempfile.mkdtemp(prefix="chronicle-bench-config-"))
        self.config_path = self.config_dir / "orthanc.json"
        scu_port = _free_port_besides(self.port, self.dicom_port)
        self.config_path.write_text(json.dumps({"DicomModalities": _modalities(scu_port)}))

    def extra_arguments(self) -> list[str]:
        return [
            "--config",
            str(self.config_path),
            "--dicom-aet",
            self.aet,
            "--dicom-port",
            str(self.dicom_port),
        ]

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            shutil.rmtree(self.config_dir, ignore_errors=True)


class OrthancDicomServer(OrthancServer):
    """OrthancServer with the SCU declared, and DCMTK told to disable Nagle (TCP_NODELAY=1)."""

    aet = "ORTHANC"

    def config(self) -> dict[str, object]:
        scu_port = _free_port_besides(self.port, self.dicom_port)
        return {**super().config(), "DicomAet": self.aet, "DicomModalities": _modalities(scu_port)}

    def start(self, timeout: float = 60) -> OrthancDicomServer:
        previous = os.environ.get("TCP_NODELAY")
        os.environ["TCP_NODELAY"] = "1"  # inherited by the Orthanc process only
        try:
            super().start(timeout)
        finally:
            if previous is None:
                os.environ.pop("TCP_NODELAY", None)
            else:
                os.environ["TCP_NODELAY"] = previous
        return self


def dicom_address(server: Server) -> tuple[int, str]:
    return int(server.dicom_port), str(server.aet)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------
# SCU
# ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def association(server: Server, abstract_syntax: str) -> Iterator[Association]:
    port, aet = dicom_address(server)
    ae = AE(ae_title=SCU_AET)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    if abstract_syntax == CTImageStorage:
        # The files are streamed as they are: their transfer syntax must be the negotiated one.
        ae.add_requested_context(abstract_syntax, ExplicitVRLittleEndian)
    else:
        ae.add_requested_context(abstract_syntax)
    assoc = ae.associate("127.0.0.1", port, ae_title=aet, evt_handlers=NODELAY_HANDLERS)
    if not assoc.is_established:
        raise RuntimeError(f"{server.name}: association to {aet}@127.0.0.1:{port} not established")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


# ------------------------------------------------------------------------------------------
# C-STORE
# ------------------------------------------------------------------------------------------
@dataclass
class Case:
    label: str
    associations: int
    paths: list[Path]
    mean_kb: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.count = len(self.paths)
        sizes = [path.stat().st_size for path in self.paths]
        self.mean_kb = sum(sizes) / max(1, len(sizes)) / 1024


@dataclass
class StoreOutcome:
    server: str
    case: Case
    stored: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""
    count_check: str = ""

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.rate * self.case.mean_kb * 1024 / 1e6


def write_files(directory: Path, tag: str, files: Sequence[bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(files):
        path = directory / f"{tag}-{i:05d}.dcm"
        path.write_bytes(data)
        paths.append(path)
    return paths


def generate_case(directory: Path, label: str, associations: int, count: int, size: int) -> Case:
    """`count` distinct files in series of SERIES_LENGTH (make_series), one patient each."""
    tag = f"{size}-{associations}"
    files: list[bytes] = []
    for first in range(0, count, SERIES_LENGTH):
        n = min(SERIES_LENGTH, count - first)
        files += make_series(n, f"STORE-{tag}-{first // SERIES_LENGTH}", size=size)
    return Case(label, associations, write_files(directory / tag, tag, files))


def store_all(server: Server, case: Case, time_limit: float) -> StoreOutcome:
    """Sends the case's files round-robin over its associations; none starts after the limit.

    The clock starts once every association is established and stops at the last answer.
    """
    outcome = StoreOutcome(server=server.name, case=case)
    lock = threading.Lock()
    ready = threading.Barrier(case.associations + 1)
    ends: list[float] = []

    def worker(share: Sequence[Path]) -> None:
        stored = errors = 0
        latencies: list[float] = []
        first_error = ""
        try:
            with association(server, CTImageStorage) as assoc:
                ready.wait()
                deadline = time.perf_counter() + time_limit
                for path in share:
                    if time.perf_counter() > deadline:
                        break
                    began = time.perf_counter()
                    try:
                        status = assoc.send_c_store(path)
                        code = getattr(status, "Status", None)
                        problem = (
                            ""
                            if code == 0x0000
                            else f"status {code:#06x}"
                            if code is not None
                            else "no response (association aborted or timed out)"
                        )
                    except (RuntimeError, ValueError, OSError) as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    latencies.append(time.perf_counter() - began)
                    if not problem:
                        stored += 1
                        continue
                    errors += 1
                    first_error = first_error or problem
                    if not assoc.is_established:
                        errors += len(share) - stored - errors
                        break
        except (RuntimeError, OSError, threading.BrokenBarrierError) as exc:
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            ready.abort()
        end = time.perf_counter()
        with lock:
            outcome.stored += stored
            outcome.errors += errors
            outcome.latencies.extend(latencies)
            outcome.first_error = outcome.first_error or first_error
            ends.append(end)

    threads = [
        threading.Thread(
            target=worker, args=(case.paths[i :: case.associations],), name=f"scu-{i}", daemon=True
        )
        for i in range(case.associations)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    outcome.seconds = max(ends) - start if ends else 0.0
    return outcome


def count_instances(server: Server) -> int:
    return int(httpx.get(f"{server.url}/statistics", timeout=60).json()["CountInstances"])


def run_store_case(server: Server, case: Case, expected_before: int, limit: float) -> StoreOutcome:
    print(f"  {server.name}: C-STORE {case.label} x{case.associations}…", file=sys.stderr)
    outcome = store_all(server, case, limit)
    expected = expected_before + outcome.stored
    actual = count_instances(server)
    if actual != expected:
        outcome.count_check = f"/statistics counts {actual} instances, expected {expected}"
    return outcome


# ------------------------------------------------------------------------------------------
# C-FIND
# ------------------------------------------------------------------------------------------
@dataclass
class QuerySet:
    case: Case
    study_uids: list[str]
    names: list[str]
    dates: list[str]


def generate_query_set(directory: Path) -> QuerySet:
    files: list[bytes] = []
    study_uids, names, dates = [], [], []
    for i in range(FIND_STUDIES):
        study, series = generate_uid(ROOT), generate_uid(ROOT)
        name = f"{'DOE' if i % 2 == 0 else 'ROE'}^FIND{i:02d}"
        study_date = (FIND_FIRST_DATE + timedelta(days=FIND_DATE_STEP * i)).strftime("%Y%m%d")
        study_uids.append(study)
        names.append(name)
        dates.append(study_date)
        for number in range(1, FIND_PER_STUDY + 1):
            data = make_instance(
                f"FIND-{i:02d}",
                study,
                series,
                patient_name=name,
                instance_number=number,
                size=64,
            )
            ds = dcmread(io.BytesIO(data))
            ds.StudyDate = study_date  # make_instance dates every study 20240115
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            files.append(buffer.getvalue())
    label = f"query set 64x64 ({FIND_STUDIES} studies)"
    case = Case(label, 4, write_files(directory / "find", "find", files))
    return QuerySet(case, study_uids, names, dates)


STUDY_KEYS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
)


def study_query(**criteria: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in STUDY_KEYS:
        setattr(ds, keyword, criteria.get(keyword, ""))
    return ds


def image_query(study_uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = ""
    ds.SOPInstanceUID = ""
    ds.SOPClassUID = ""
    ds.InstanceNumber = ""
    return ds


def queries(query_set: QuerySet, other_doe_studies: int) -> list[tuple[str, Dataset, int]]:
    """(label, identifier, expected matches)."""
    pick = FIND_STUDIES // 3
    first, last = FIND_RANGE.split("-")
    in_range = sum(first <= d <= last for d in query_set.dates)
    doe = sum(name.startswith("DOE") for name in query_set.names) + other_doe_studies
    return [
        (f"STUDY PatientID={f'FIND-{pick:02d}'}", study_query(PatientID=f"FIND-{pick:02d}"), 1),
        ("STUDY PatientName=DOE*", study_query(PatientName="DOE*"), doe),
        (f"STUDY StudyDate={FIND_RANGE}", study_query(StudyDate=FIND_RANGE), in_range),
        (
            "IMAGE StudyInstanceUID=<one study>",
            image_query(query_set.study_uids[pick]),
            FIND_PER_STUDY,
        ),
    ]


@dataclass
class FindOutcome:
    server: str
    label: str
    expected: int
    matches: int = -1
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def ms(self, fraction: float) -> float | None:
        value = percentile(self.latencies, fraction)
        return None if value is None else 1000 * value


def run_find(assoc: Association, identifier: Dataset) -> tuple[int, str]:
    """Sends one C-FIND; returns (matches, problem)."""
    matches = 0
    for status, _ in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
        code = getattr(status, "Status", None)
        if code in (0xFF00, 0xFF01):
            matches += 1
        elif code == 0x0000:
            return matches, ""
        elif code is None:
            return matches, "no response (association aborted or timed out)"
        else:
            return matches, f"status {code:#06x}"
    return matches, "no final status"


def find_latencies(
    server: Server, plan: Sequence[tuple[str, Dataset, int]], repeats: int
) -> list[FindOutcome]:
    print(f"  {server.name}: C-FIND…", file=sys.stderr)
    outcomes = []
    with association(server, StudyRootQueryRetrieveInformationModelFind) as assoc:
        for label, identifier, expected in plan:
            outcome = FindOutcome(server.name, label, expected)
            deadline = time.perf_counter() + FIND_TIME_LIMIT
            for run in range(FIND_WARMUP + repeats):
                if time.perf_counter() > deadline or not assoc.is_established:
                    break
                began = time.perf_counter()
                matches, problem = run_find(assoc, identifier)
                elapsed = time.perf_counter() - began
                if problem:
                    outcome.errors += 1
                    outcome.first_error = outcome.first_error or problem
                    continue
                outcome.matches = matches
                if run >= FIND_WARMUP:
                    outcome.latencies.append(elapsed)
            outcomes.append(outcome)
    return outcomes


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------
def report_store(outcomes: Sequence[StoreOutcome], compare: bool) -> None:
    rows = [
        (
            o.case.label,
            f"{o.case.mean_kb:.0f} KB",
            o.case.associations,
            o.server,
            f"{o.stored}/{o.case.count}",
            o.errors,
            o.seconds,
            o.rate,
            o.megabytes_per_second,
            1000 * (percentile(o.latencies, 0.5) or 0),
            1000 * (percentile(o.latencies, 0.95) or 0),
        )
        for o in outcomes
    ]
    headers = ("C-STORE", "file", "assocs", "server", "stored", "errors", "s", "inst/s", "MB/s")
    print(table((*headers, "p50 ms", "p95 ms"), rows))
    for o in outcomes:
        if o.first_error:
            print(
                f"! {o.server} {o.case.label} x{o.case.associations}: first error: {o.first_error}"
            )
        if o.count_check:
            print(f"! {o.server} {o.case.label} x{o.case.associations}: {o.count_check}")
    if not compare:
        return
    by_key = {(o.server, o.case.label, o.case.associations): o for o in outcomes}
    ratio_rows = []
    for o in outcomes:
        other = by_key.get(("orthanc", o.case.label, o.case.associations))
        if not is_chronicle(o.server) or other is None:
            continue
        ratio = o.rate / other.rate if other.rate else None
        ratio_rows.append((o.case.label, o.case.associations, o.server, o.rate, other.rate, ratio))
    print()
    headers = (
        "C-STORE",
        "assocs",
        "server",
        "chronicle inst/s",
        "orthanc inst/s",
        "chronicle/orthanc",
    )
    print(table(headers, ratio_rows))


def report_find(outcomes: Sequence[FindOutcome], compare: bool) -> None:
    rows = [
        (
            o.label,
            o.server,
            o.matches if o.matches >= 0 else None,
            o.expected,
            len(o.latencies),
            o.errors,
            o.ms(0.5),
            o.ms(0.95),
        )
        for o in outcomes
    ]
    headers = ("C-FIND (Study Root)", "server", "matches", "expected", "runs", "errors")
    print(table((*headers, "p50 ms", "p95 ms"), rows))
    for o in outcomes:
        if o.first_error:
            print(f"! {o.server} {o.label}: first error: {o.first_error}")
        if o.matches >= 0 and o.matches != o.expected:
            print(f"! {o.server} {o.label}: {o.matches} matches, expected {o.expected}")
    if not compare:
        return
    by_key = {(o.server, o.label): o for o in outcomes}
    ratio_rows = []
    for o in outcomes:
        other = by_key.get(("orthanc", o.label))
        if not is_chronicle(o.server) or other is None:
            continue
        mine, theirs = o.ms(0.5), other.ms(0.5)
        ratio = mine / theirs if mine is not None and theirs else None
        ratio_rows.append((o.label, o.server, mine, theirs, ratio))
    print()
    headers = ("C-FIND", "server", "chronicle p50 ms", "orthanc p50 ms", "chronicle/orthanc (time)")
    print(table(headers, ratio_rows))


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = bench_arguments("tests.bench.dicom", __doc__, argv, 1000, "count / 10", 30, "send")
    isolated_run = isolate_if_comparing("tests.bench.dicom", args, argv)
    if isolated_run is not None:
        return isolated_run
    large_count = args.large_count or max(4, args.count // 10)
    _config.STORE_SEND_CHUNKED_DATASET = True  # stream files: no decode/re-encode in the SCU
    _config.LOG_REQUEST_IDENTIFIERS = _config.LOG_RESPONSE_IDENTIFIERS = False

    began = time.perf_counter()
    print(f"dicom benchmark: {machine_summary()}", file=sys.stderr)
    stores: list[StoreOutcome] = []
    finds: list[FindOutcome] = []
    orthanc_version = ""
    with contextlib.ExitStack() as stack:
        files = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dicom-bench-")))
        warmup = generate_case(files / "warmup", "warm-up", 1, WARMUP, 64)
        cases = [
            generate_case(files, "small 64x64", 1, args.count, 64),
            generate_case(files, "small 64x64", 4, args.count, 64),
            generate_case(files, "large 512x512", 1, large_count, 512),
        ]
        query_set = generate_query_set(files)
        servers: list[Server] = [
            stack.enter_context(ChronicleDicomServer(workers)).start() for workers in args.workers
        ]
        if args.orthanc:
            orthanc = stack.enter_context(OrthancDicomServer())
            servers.append(orthanc.start())
            orthanc_version = orthanc.version()
        expected = {}
        for server in servers:
            store_all(server, warmup, args.time_limit)
            expected[server.name] = count_instances(server)
        for case in [*cases, query_set.case]:
            for server in servers:
                outcome = run_store_case(server, case, expected[server.name], args.time_limit)
                expected[server.name] += outcome.stored
                stores.append(outcome)
        # Every C-STORE case's series is a Doe^John study, except the query set's.
        other_doe = sum(-(-c.count // SERIES_LENGTH) for c in [warmup, *cases])
        plan = queries(query_set, other_doe)
        for server in servers:
            finds += find_latencies(server, plan, FIND_REPEATS)

    print()
    print(f"DICOM services (pynetdicom SCU): {machine_summary()}")
    print(
        "chronicle: `chronicle serve`, embedded PostgreSQL, fresh data directory"
        + (f"; orthanc {orthanc_version}: default storage, SQLite index" if args.orthanc else "")
    )
    print(
        f"StableAge {STABLE_AGE} s; {WARMUP} warm-up files first; distinct files per case, "
        f"series of {SERIES_LENGTH}, sent round-robin over the associations; TCP_NODELAY"
    )
    print()
    report_store(stores, args.orthanc)
    print()
    print(
        f"C-FIND over {sum(o.stored for o in stores if o.server == 'chronicle') + WARMUP} "
        f"instances; {FIND_WARMUP} unmeasured runs, then up to {FIND_REPEATS} "
        f"(at most {FIND_TIME_LIMIT:.0f} s per query), one association"
    )
    print()
    report_find(finds, args.orthanc)
    failed = any(o.errors or o.count_check for o in stores) or any(
        o.errors or o.matches != o.expected for o in finds
    )
    for server in servers:
        if failed:
            print(f"\n--- end of the {server.name} log ---\n{server.log_tail}")
    print(f"\n(total run {time.perf_counter() - began:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
