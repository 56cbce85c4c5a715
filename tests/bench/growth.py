"""Cost as the archive grows: the same measures on an empty archive and on a large one.

    python -m tests.bench.growth [--instances N] [--samples M]

`chronicle serve` (embedded PostgreSQL, fresh data directory, DICOM on) is measured empty, then
filled with N instances (default 500,000), then measured again. The measures, each over M
samples (default 200): REST upload latency (1 client), C-STORE latency (1 association),
`GET /changes` paging (limit 1000, from the start of the log), `GET /studies/{id}`, and C-FIND
latency (STUDY level: PatientID exact, PatientName `GROW^7*` matching a handful of patients,
and IMAGE level within one study).

How it is filled, fast: generated `Instance.Stored` events (10,000 instances per transaction;
patients of one study and one series of 50 instances; no files, so nothing here downloads them)
are appended to the server's event store from this process, and the server's runners bring
its read models up to date, as they do for any append of another process. The events are what
an upload would append (one template file's record, with new identifiers and names). The
"empty" archive holds only the 12 patients the C-FIND measures find (600 instances), so that
the queries answer the same on both.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
import httpx
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from adapters.embedded_postgres import EmbeddedPostgres
from adapters.event_store import event_store_env
from domain.aggregates import Instance
from domain.archive import Archive
from domain.dicom_files import DicomIdentifiers
from domain.instance_record import InstanceRecord, describe_instance
from domain.main_tags import orthanc_ids
from domain.origin import Channel, Origin
from tests.bench.common import machine_summary, percentile, table
from tests.bench.dicom import ChronicleDicomServer, association, run_find, write_files
from tests.bench.ingest import generate
from tests.support.dicom_factory import ROOT, make_instance

PER_SERIES = 50
# The patients the C-FIND measures find (GROW-0000007; GROW^777, GROW^7770-7779): stored
# first, so that the queries have the same answers on the small archive and on the large one.
QUERIED = (7, 777, *range(7770, 7780))
PER_TRANSACTION = 10_000
ORIGIN = Origin(Channel.SYSTEM, user="growth-benchmark")
CATCH_UP_TIMEOUT = 3600.0


@dataclass
class Figures:
    label: str
    instances: int
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def add(self, measure: str, seconds: float) -> None:
        self.latencies.setdefault(measure, []).append(seconds)


# ------------------------------------------------------------------------------------------
# Filling: generated events, appended from here
# ------------------------------------------------------------------------------------------
def template() -> InstanceRecord:
    data = make_instance("GROW", "1.2", "1.2.3", "1.2.3.4", instance_number=1)
    return describe_instance(pydicom.dcmread(io.BytesIO(data)), {})


def generated_record(base: InstanceRecord, patient: int, index: int) -> InstanceRecord:
    """Instance `index` (0-49) of the one series of generated patient `patient`."""
    number = patient * PER_SERIES + index
    patient_id = f"GROW-{patient:07d}"
    study_uid = f"{ROOT}9.{patient}"
    series_uid = f"{ROOT}9.{patient}.1"
    sop_uid = f"{ROOT}9.{patient}.1.{number % PER_SERIES + 1}"
    ids = orthanc_ids(DicomIdentifiers(patient_id, study_uid, series_uid, sop_uid))
    tags = {level: dict(values) for level, values in base.tags.items()}
    tags["Patient"].update(PatientID=patient_id, PatientName=f"GROW^{patient}")
    tags["Study"].update(StudyInstanceUID=study_uid, StudyDate=f"2020{patient % 12 + 1:02d}15")
    tags["Series"]["SeriesInstanceUID"] = series_uid
    tags["Instance"].update(SOPInstanceUID=sop_uid, InstanceNumber=str(number % PER_SERIES + 1))
    file_uuid = str(uuid.UUID(int=number + 1))
    attachment = {"uuid": file_uuid, "size": 9000, "md5": hashlib.md5(sop_uid.encode()).hexdigest()}
    dicom = {**base.dicom, "index_in_series": number % PER_SERIES + 1}
    dicom["index_in_series_text"] = str(number % PER_SERIES + 1)
    return attrs.evolve(
        base,
        patient_id=ids[0],
        study_id=ids[1],
        series_id=ids[2],
        instance_id=ids[3],
        attachment=attachment,
        dicom=dicom,
        tags=tags,
    )


def fill(
    pgdata: Path,
    patients: Sequence[Any],
    record: Callable[[InstanceRecord, Any, int], InstanceRecord] | None = None,
) -> float:
    """Appends the generated patients' instances (`record(template, patient, index)`, by
    default generated_record); returns the seconds it took."""
    make = record or generated_record
    embedded = EmbeddedPostgres(pgdata)  # adopts the server's running PostgreSQL
    archive = Archive(env=event_store_env(embedded.start()), group_commit=False)
    base = template()
    wanted = [(patient, index) for patient in patients for index in range(PER_SERIES)]
    began = time.perf_counter()
    try:
        for first in range(0, len(wanted), PER_TRANSACTION):
            chunk = wanted[first : first + PER_TRANSACTION]
            records = (make(base, patient, index) for patient, index in chunk)
            archive.save(*(Instance(**record.event_fields(ORIGIN)) for record in records))
            print(f"  appended {first + len(chunk):,}/{len(wanted):,}", file=sys.stderr)
    finally:
        archive.close()
    return time.perf_counter() - began


def wait_for_read_models(url: str, timeout: float = CATCH_UP_TIMEOUT) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        lags = [c["Lag"] for c in httpx.get(f"{url}/tools/projections", timeout=60).json()]
        if lags and max(lags) == 0:
            return time.perf_counter() - began
        time.sleep(1.0)
    raise RuntimeError("the read models did not catch up")


# ------------------------------------------------------------------------------------------
# Measures
# ------------------------------------------------------------------------------------------
def timed(figures: Figures, measure: str, call: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    result = call()
    figures.add(measure, time.perf_counter() - began)
    return result


def measure(server: ChronicleDicomServer, label: str, samples: int, scratch: Path) -> Figures:
    count = httpx.get(f"{server.url}/statistics", timeout=60).json()["CountInstances"]
    figures = Figures(label, count)
    print(f"  measuring at {count:,} instances…", file=sys.stderr)
    with httpx.Client(base_url=server.url, timeout=300) as client:
        uploads = generate(samples, 64, f"grow-rest-{label}")
        study = ""
        for data in uploads:
            answer = timed(
                figures,
                "REST upload",
                lambda data=data: client.post(
                    "/instances", content=data, headers={"Content-Type": "application/dicom"}
                ),
            )
            answer.raise_for_status()
            study = answer.json()["ParentStudy"]
        paths = write_files(scratch / label, "store", generate(samples, 64, f"grow-dicom-{label}"))
        with association(server, CTImageStorage) as assoc:
            for path in paths:
                status = timed(figures, "C-STORE", lambda path=path: assoc.send_c_store(path))
                if getattr(status, "Status", None) != 0:
                    raise RuntimeError(f"C-STORE failed: {status}")
        for _ in range(samples):
            timed(figures, "GET /studies/{id}", lambda: client.get(f"/studies/{study}"))
        since = 0
        for _ in range(min(samples, 50)):
            began = time.perf_counter()
            page = client.get("/changes", params={"since": since, "limit": 1000}).json()
            # per 1000 changes: the small archive's pages are not all full
            figures.add(
                "GET /changes, per 1000",
                (time.perf_counter() - began) * 1000 / max(1, len(page["Changes"])),
            )
            since = 0 if page["Done"] else page["Last"]
    for name, identifier in find_queries().items():
        with association(server, StudyRootQueryRetrieveInformationModelFind) as assoc:
            for _ in range(samples):
                _, problem = timed(figures, name, lambda i=identifier: run_find(assoc, i))
                if problem:
                    raise RuntimeError(f"{name}: {problem}")
    return figures


def find_queries() -> dict[str, Dataset]:
    def study_level(**keys: str) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = ""
        ds.PatientName = ""
        ds.ModalitiesInStudy = ""
        for keyword, value in keys.items():
            setattr(ds, keyword, value)
        return ds

    image = Dataset()
    image.QueryRetrieveLevel = "IMAGE"
    image.StudyInstanceUID = f"{ROOT}9.{QUERIED[0]}"
    image.SeriesInstanceUID = ""
    image.SOPInstanceUID = ""
    return {
        "C-FIND study by PatientID": study_level(PatientID="GROW-0000007"),
        "C-FIND study by PatientName GROW^777*": study_level(PatientName="GROW^777*"),
        "C-FIND images of a study": image,
    }


def report(empty: Figures, full: Figures) -> None:
    rows = []
    for name, values in empty.latencies.items():
        before = percentile(values, 0.5) or 0
        after = percentile(full.latencies.get(name, []), 0.5) or 0
        rows.append(
            (
                name,
                1000 * before,
                1000 * (percentile(values, 0.95) or 0),
                1000 * after,
                1000 * (percentile(full.latencies.get(name, []), 0.95) or 0),
                after / before if before else None,
            )
        )
    headers = (
        "measure",
        f"p50 ms at {empty.instances:,}",
        "p95 ms",
        f"p50 ms at {full.instances:,}",
        "p95 ms",
        "p50 ratio",
    )
    print(table(headers, rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.growth", description=__doc__)
    parser.add_argument(
        "--instances", type=int, default=500_000, help="instances in the large archive"
    )
    parser.add_argument("--samples", type=int, default=200, help="samples per measure")
    args = parser.parse_args(argv)
    print(f"growth benchmark: {machine_summary()}", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="growth-")))
        server = stack.enter_context(ChronicleDicomServer())
        server.start()
        fill(server.data_dir / "pg", QUERIED)
        wait_for_read_models(server.url)
        empty = measure(server, "empty", args.samples, scratch)
        others = [p for p in range(args.instances // PER_SERIES) if p not in QUERIED]
        appended = fill(server.data_dir / "pg", others)
        caught_up = wait_for_read_models(server.url)
        full = measure(server, "full", args.samples, scratch)
    print(f"\nCost as the archive grows: {machine_summary()}")
    print(
        f"{args.instances:,} generated instances appended in {appended:.0f} s "
        f"({args.instances / appended:,.0f}/s); read models caught up {caught_up:.0f} s later\n"
    )
    report(empty, full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
