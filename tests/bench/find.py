"""POST /tools/find latency on a large archive, against Orthanc 1.10.1 on the same data.

    python -m tests.bench.find [--instances N] [--samples M] [--orthanc]

`chronicle serve` (embedded PostgreSQL, fresh data directory) holds N instances (default
100,000, rounded down to whole series): N/50 patients of one study and one series of 50
instances each, PatientID GROW-0000000…, PatientName NAME^<patient> except a handful (DOE^JOHN,
DOE^JANE…, JOHNSON^ANN…), StudyDate spread over 2015-2024 (with about 3 % more in January
2020), Modality CT but MR for 4 % of the studies and US for 10 %. It is filled fast as
tests.bench.growth fills it: generated `Instance.Stored` events (growth.template and
growth.generated_record, then the name, date and modality above) appended from this process,
and the server's runners bring its read models up to date before anything is measured.

With `--orthanc` a real Orthanc (Debian's 1.10.1, SQLite index, default storage) gets the same
logical data as real DICOM files (tests.support.dicom_factory.make_instance, 8x8 pixels, the
same identifiers and main tags as the generated records), uploaded over REST (POST /instances)
by 4 clients while Chronicle catches up; measures start once GET /statistics counts N
instances. Both servers then run in a private network namespace with loopback only (Orthanc
binds every interface).

Each query (exact PatientID at patient and study level, PatientName prefix `DOE^J*` and infix
`*OHN*`, a StudyDate range of January 2020, ModalitiesInStudy MR, all studies expanded with
Limit 100, exact StudyInstanceUID, exact SOPInstanceUID at instance level) is posted 3 times
unmeasured, then M times (default 50) in sequence over one keep-alive connection, timed on
the client from request to full answer (its JSON is decoded outside the timing). Queries
alternate between the servers. The table gives p50/p95 per server, the ratio of the p50s,
the number of answers of each server and the number the generated data implies; a warning
follows when they disagree, or when the servers answer different resources.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import attrs
import httpx

from domain.instance_record import InstanceRecord
from tests.bench.common import (
    LOG_TAIL,
    STABLE_AGE,
    ChronicleServer,
    OrthancServer,
    Server,
    isolate_if_comparing,
    machine_summary,
    percentile,
    table,
)
from tests.bench.growth import (
    PER_SERIES,
    fill,
    generated_record,
    template,
    wait_for_read_models,
)
from tests.support.dicom_factory import make_instance

MODULE = "tests.bench.find"
WARMUP = 3
UPLOAD_CLIENTS = 4
UPLOAD_TIMEOUT = 3 * 3600.0
MIN_PATIENTS = 10
LIMIT = 100
# A handful of patients with other names: DOE^J* finds 5 of them, *OHN* finds 4.
SPECIAL_NAMES = (
    "DOE^JOHN",
    "DOE^JANE",
    "DOE^JACK",
    "DOE^JILL",
    "DOE^JOHNNY",
    "DOE^MARY",
    "JOHNSON^ANN",
    "JOHNS^PETER",
)
FIRST_DAY = date(2015, 1, 1)
DAYS = (date(2025, 1, 1) - FIRST_DAY).days  # 2015-2024
DATE_RANGE = ("20200101", "20200131")


# ------------------------------------------------------------------------------------------
# The data: what varies from one patient to the next
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Patient:
    number: int
    name: str
    study_date: str
    modality: str


def patients(count: int) -> list[Patient]:
    """`count` patients, the same in both servers: names, dates and modalities spread."""
    special = {
        (2 * k + 1) * count // (2 * len(SPECIAL_NAMES)): name
        for k, name in enumerate(SPECIAL_NAMES)
    }
    result = []
    for number in range(count):
        if number % 30 == 0:  # a few % more in January 2020
            day = date(2020, 1, 1) + timedelta(days=number // 30 % 31)
        else:
            day = FIRST_DAY + timedelta(days=number * 7919 % DAYS)
        modality = "MR" if number % 25 == 3 else "US" if number % 10 == 7 else "CT"
        name = special.get(number, f"NAME^{number}")
        result.append(Patient(number, name, day.strftime("%Y%m%d"), modality))
    return result


def varied_record(base: InstanceRecord, patient: Patient, index: int) -> InstanceRecord:
    """growth.generated_record (identifiers of patient `patient.number`, instance `index`),
    with the patient's name, study date and modality."""
    record = generated_record(base, patient.number, index)
    tags = {level: dict(values) for level, values in record.tags.items()}
    tags["Patient"]["PatientName"] = patient.name
    tags["Study"]["StudyDate"] = patient.study_date
    tags["Series"]["Modality"] = patient.modality
    return attrs.evolve(record, tags=tags)


def dicom_file(record: InstanceRecord) -> bytes:
    """The file whose upload describes as `record`: growth.template's other tags are
    make_instance's defaults (8x8 pixels)."""
    tags = record.tags
    return make_instance(
        tags["Patient"]["PatientID"],
        tags["Study"]["StudyInstanceUID"],
        tags["Series"]["SeriesInstanceUID"],
        tags["Instance"]["SOPInstanceUID"],
        patient_name=tags["Patient"]["PatientName"],
        instance_number=int(tags["Instance"]["InstanceNumber"]),
        modality=tags["Series"]["Modality"],
        extra={"StudyDate": tags["Study"]["StudyDate"]},
    )


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------
@dataclass
class Upload:
    stored: int = 0
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def upload(url: str, people: Sequence[Patient], clients: int = UPLOAD_CLIENTS) -> Upload:
    """POST /instances of every patient's files, generated on the fly, by `clients` threads."""
    outcome = Upload()
    base = template()
    total = len(people) * PER_SERIES
    began = time.perf_counter()

    def worker(share: Sequence[Patient]) -> None:
        with httpx.Client(
            base_url=url, timeout=300, headers={"Content-Type": "application/dicom"}
        ) as client:
            for patient in share:
                stored = errors = 0
                problem = ""
                for index in range(PER_SERIES):
                    data = dicom_file(varied_record(base, patient, index))
                    try:
                        response = client.post("/instances", content=data)
                        ok = response.status_code == 200 and response.json().get("Status") in (
                            "Success",
                            "AlreadyStored",
                        )
                        if not ok:
                            problem = f"HTTP {response.status_code}: {response.text[:200]}"
                    except httpx.HTTPError as exc:
                        ok, problem = False, f"{type(exc).__name__}: {exc}"
                    stored += ok
                    errors += not ok
                with outcome.lock:
                    before = outcome.stored
                    outcome.stored += stored
                    outcome.errors += errors
                    outcome.first_error = outcome.first_error or problem
                    if outcome.stored // 10_000 > before // 10_000 or outcome.stored == total:
                        print(f"  orthanc: uploaded {outcome.stored:,}/{total:,}", file=sys.stderr)

    threads = [
        threading.Thread(target=worker, args=(people[i::clients],), name=f"upload-{i}", daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome.seconds = time.perf_counter() - began
    return outcome


def count_instances(url: str) -> int:
    return int(httpx.get(f"{url}/statistics", timeout=60).json()["CountInstances"])


def wait_for_count(server: Server, expected: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while (actual := count_instances(server.url)) != expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: {actual:,} instances, expected {expected:,}")
        time.sleep(1.0)


# ------------------------------------------------------------------------------------------
# Queries
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    label: str
    body: dict[str, Any]
    expected: int  # answers the generated data implies
    limited: bool = False  # a Limit: the servers may pick different resources


def queries(people: Sequence[Patient]) -> list[Query]:
    target = people[len(people) // 2 + 1]  # NAME^…, not one of the special names
    base = template()
    record = varied_record(base, target, PER_SERIES // 2)
    patient_id = record.tags["Patient"]["PatientID"]
    study_uid = record.tags["Study"]["StudyInstanceUID"]
    sop_uid = record.tags["Instance"]["SOPInstanceUID"]

    def studies(keep: Callable[[Patient], bool]) -> int:
        return sum(1 for patient in people if keep(patient))

    low, high = DATE_RANGE
    return [
        Query("PatientID, patient level", find("Patient", PatientID=patient_id), 1),
        Query("PatientID, study level", find("Study", PatientID=patient_id), 1),
        Query(
            "PatientName DOE^J*",
            find("Study", PatientName="DOE^J*"),
            studies(lambda p: p.name.startswith("DOE^J")),
        ),
        Query(
            "PatientName *OHN*",
            find("Study", PatientName="*OHN*"),
            studies(lambda p: "OHN" in p.name),
        ),
        Query(
            f"StudyDate {low}-{high}",
            find("Study", StudyDate=f"{low}-{high}"),
            studies(lambda p: low <= p.study_date <= high),
        ),
        Query(
            "ModalitiesInStudy MR",
            find("Study", ModalitiesInStudy="MR"),
            studies(lambda p: p.modality == "MR"),
        ),
        Query(
            f"all studies, Expand, Limit {LIMIT}",
            {"Level": "Study", "Query": {}, "Expand": True, "Limit": LIMIT},
            min(LIMIT, len(people)),
            limited=True,
        ),
        Query("StudyInstanceUID", find("Study", StudyInstanceUID=study_uid), 1),
        Query("SOPInstanceUID, instance level", find("Instance", SOPInstanceUID=sop_uid), 1),
    ]


def find(level: str, **query: str) -> dict[str, Any]:
    return {"Level": level, "Query": query}


@dataclass
class Result:
    latencies: list[float]
    ids: list[str]

    def p50(self) -> float | None:
        value = percentile(self.latencies, 0.5)
        return None if value is None else 1000 * value

    def p95(self) -> float | None:
        value = percentile(self.latencies, 0.95)
        return None if value is None else 1000 * value


def measure(client: httpx.Client, query: Query, samples: int) -> Result:
    content = json.dumps(query.body).encode()
    headers = {"Content-Type": "application/json"}
    for _ in range(WARMUP):
        client.post("/tools/find", content=content, headers=headers).raise_for_status()
    latencies = []
    response = None
    for _ in range(samples):
        began = time.perf_counter()
        response = client.post("/tools/find", content=content, headers=headers)
        latencies.append(time.perf_counter() - began)
        response.raise_for_status()
    assert response is not None
    answers = response.json()
    ids = [answer if isinstance(answer, str) else answer["ID"] for answer in answers]
    return Result(latencies, ids)


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------
def report(
    plan: Sequence[Query], results: dict[str, list[Result]], names: Sequence[str]
) -> list[str]:
    """Prints the table; returns the warnings."""
    headers: list[str] = ["query", "expected"]
    for name in names:
        headers += [f"{name} answers", f"{name} p50 ms", "p95 ms"]
    compare = "orthanc" in names
    if compare:
        headers.append("chronicle/orthanc p50")
    rows: list[list[object]] = []
    warnings = []
    for i, query in enumerate(plan):
        row: list[object] = [query.label, query.expected]
        for name in names:
            result = results[name][i]
            row += [len(result.ids), result.p50(), result.p95()]
            if len(result.ids) != query.expected:
                warnings.append(
                    f"! {query.label}: {name} gives {len(result.ids)} answers, the data "
                    f"implies {query.expected} ({json.dumps(query.body)})"
                )
        if compare:
            mine, theirs = results["chronicle"][i], results["orthanc"][i]
            mine_p50, their_p50 = mine.p50(), theirs.p50()
            ratio = mine_p50 / their_p50 if mine_p50 is not None and their_p50 else None
            row.append(ratio)
            if len(mine.ids) != len(theirs.ids):
                warnings.append(
                    f"! {query.label}: chronicle gives {len(mine.ids)} answers, orthanc "
                    f"{len(theirs.ids)} ({json.dumps(query.body)})"
                )
            elif sorted(mine.ids) != sorted(theirs.ids):
                what = "(a Limit: which studies is not specified)" if query.limited else ""
                warnings.append(
                    f"! {query.label}: the servers answer different resources {what}".rstrip()
                )
        rows.append(row)
    print(table(headers, rows))
    return warnings


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------
def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--instances", type=int, default=100_000, help="instances in the archive (default 100,000)"
    )
    parser.add_argument("--samples", type=int, default=50, help="samples per query (default 50)")
    parser.add_argument("--orthanc", action="store_true", help="also run against Orthanc 1.10.1")
    args = parser.parse_args(argv)
    if args.instances < MIN_PATIENTS * PER_SERIES:
        parser.error(f"--instances must be at least {MIN_PATIENTS * PER_SERIES}")
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    isolated_run = isolate_if_comparing(MODULE, args, argv)
    if isolated_run is not None:
        return isolated_run

    began = time.perf_counter()
    print(f"find benchmark: {machine_summary()}", file=sys.stderr)
    people = patients(args.instances // PER_SERIES)
    total = len(people) * PER_SERIES
    plan = queries(people)
    names = ["chronicle"] + (["orthanc"] if args.orthanc else [])
    results: dict[str, list[Result]] = {name: [] for name in names}
    orthanc_version = ""
    loaded: list[str] = []
    with contextlib.ExitStack() as stack:
        chronicle = ChronicleServer()
        stack.enter_context(chronicle)
        chronicle.start()
        servers: dict[str, Server] = {"chronicle": chronicle}
        appended = fill(chronicle.data_dir / "pg", people, varied_record)
        loaded.append(
            f"chronicle: {total:,} generated instances appended in {appended:.1f} s "
            f"({total / appended:,.0f}/s)"
        )
        catch_up_began = time.perf_counter()
        if args.orthanc:
            orthanc = OrthancServer()
            stack.enter_context(orthanc)
            orthanc.start()
            orthanc_version = orthanc.version()
            servers["orthanc"] = orthanc
            # Uploaded while Chronicle's runners bring its read models up to date.
            uploaded = upload(orthanc.url, people)
            if uploaded.errors:
                print(f"! orthanc: {uploaded.errors} uploads failed: {uploaded.first_error}")
                tail = orthanc.log_path.read_text(errors="replace")[-LOG_TAIL:]
                print(f"--- end of the orthanc log ---\n{tail}")
                return 1
            wait_for_count(orthanc, total)
            loaded.append(
                f"orthanc: {total:,} files uploaded in {uploaded.seconds:.0f} s "
                f"({total / uploaded.seconds:,.0f}/s, {UPLOAD_CLIENTS} clients)"
            )
        wait_for_read_models(chronicle.url)
        wait_for_count(chronicle, total)
        loaded.append(
            f"chronicle: read models caught up {time.perf_counter() - catch_up_began:.0f} s "
            "after the append"
        )
        clients = {
            name: stack.enter_context(httpx.Client(base_url=server.url, timeout=300))
            for name, server in servers.items()
        }
        for query in plan:
            for name in names:
                print(f"  {name}: {query.label}…", file=sys.stderr)
                results[name].append(measure(clients[name], query, args.samples))

    print()
    print(f"POST /tools/find latency: {machine_summary()}")
    print(
        "chronicle: `chronicle serve`, embedded PostgreSQL, fresh data directory"
        + (f"; orthanc {orthanc_version}: SQLite index, default storage" if args.orthanc else "")
    )
    print(
        f"{total:,} instances: {len(people):,} patients x 1 study x 1 series x {PER_SERIES}; "
        f"StableAge {STABLE_AGE} s; {WARMUP} warm-up calls, then {args.samples} samples per "
        "query, one client"
    )
    for line in loaded:
        print(line)
    print()
    warnings = report(plan, results, names)
    print()
    for query in plan:
        print(f"{query.label}: {json.dumps(query.body)}")
    if warnings:
        print()
        print("\n".join(warnings))
    print(f"\n(total run {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
