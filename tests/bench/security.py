"""What authentication and TLS cost per request: REST uploads and C-STOREs, 1 client.

    python -m tests.bench.security [--count N]

Three `chronicle serve` processes (embedded PostgreSQL each), the same small files (64x64
16-bit CT, about 9 KB, tests.bench.ingest.generate) to each:
1. open: no authentication, plain HTTP and DICOM;
2. basic: authentication on (a RegisteredUsers admin), plain HTTP: uploads with HTTP Basic
   (the verified password remembered, as between a client's requests) and with a bearer token;
3. tls: authentication on, HTTPS and DICOM TLS (certificates made by the benchmark).
Each case posts `--count` files after 20 unmeasured ones, from one httpx client with one
connection (or one pynetdicom association); the table gives the rate and p50/p95 latency, and
each case's p50 against the open server's (whose cases run again at the end, to show how much
the order alone moves the figures).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from adapters.dicom.sockets import NODELAY_HANDLERS
from tests.bench.common import ChronicleServer, machine_summary, percentile, table
from tests.bench.ingest import generate
from tests.support.certificates import Authority
from tests.support.server import free_port

WARMUP = 20
ADMIN = ("bench", "bench-password")
SCU_AET = "BENCH"


class SecuredServer(ChronicleServer):
    """ChronicleServer with a TOML configuration: authentication, and optionally TLS."""

    def __init__(self, name: str, config: dict[str, Any], https: ssl.SSLContext | None) -> None:
        super().__init__()
        self.name = name
        self.dicom_port = free_port()
        self.verify: ssl.SSLContext | bool = https or True
        if https is not None:
            self.url = self.url.replace("http://", "https://")
        self.config_path = self.data_dir.parent / f"{self.data_dir.name}.toml"
        modalities = {"bench": {"AET": SCU_AET, "Host": "127.0.0.1", "Port": 104}}
        lines = [f"{key} = {_toml_value(value)}" for key, value in config.items()]
        lines.append(f"dicom_modalities = {_toml_value(modalities)}")
        self.config_path.write_text("\n".join(lines) + "\n")

    def extra_arguments(self) -> list[str]:
        return ["--config", str(self.config_path), "--dicom-port", str(self.dicom_port)]

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.config_path.unlink(missing_ok=True)


def _toml_value(item: Any) -> str:
    """An inline TOML value (strings, numbers, booleans and tables of them)."""
    if isinstance(item, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in item.items()) + "}"
    return json.dumps(item)


def uploads(
    url: str, files: Sequence[bytes], verify: ssl.SSLContext | bool, **client: Any
) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, timeout=120, verify=verify, **client) as http:
        for number, data in enumerate(files):
            began = time.perf_counter()
            answer = http.post("/instances", content=data)
            elapsed = time.perf_counter() - began
            if answer.status_code != 200:
                raise RuntimeError(f"upload failed: {answer.status_code} {answer.text[:200]}")
            if number >= WARMUP:
                latencies.append(elapsed)
    return latencies


def stores(port: int, files: Sequence[bytes], tls: ssl.SSLContext | None) -> list[float]:
    ae = AE(ae_title=SCU_AET)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    tls_args = (tls, "127.0.0.1") if tls is not None else None
    assoc = ae.associate(
        "127.0.0.1", port, ae_title="CHRONICLE", evt_handlers=NODELAY_HANDLERS, tls_args=tls_args
    )
    if not assoc.is_established:
        raise RuntimeError("association refused")
    import io

    datasets = [dcmread(io.BytesIO(data)) for data in files]
    latencies = []
    try:
        for number, ds in enumerate(datasets):
            began = time.perf_counter()
            status = assoc.send_c_store(ds)
            elapsed = time.perf_counter() - began
            if getattr(status, "Status", None) != 0x0000:
                raise RuntimeError(f"C-STORE failed: {status}")
            if number >= WARMUP:
                latencies.append(elapsed)
    finally:
        assoc.release()
    return latencies


@contextlib.contextmanager
def servers(directory: Path) -> Iterator[dict[str, Any]]:
    authority = Authority(directory)
    ours, client = authority.issue("chronicle"), authority.issue("bench-client")
    https = ssl.create_default_context(cafile=str(authority.files.certificate))
    dicom_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    dicom_tls.check_hostname = False
    dicom_tls.load_verify_locations(str(authority.files.certificate))
    dicom_tls.load_cert_chain(str(client.certificate), str(client.key))
    secured = {"authentication_enabled": True, "registered_users": {ADMIN[0]: ADMIN[1]}}
    tls = {
        **secured,
        "ssl_enabled": True,
        "ssl_certificate": str(ours.combined),
        "dicom_tls_enabled": True,
        "dicom_tls_certificate": str(ours.certificate),
        "dicom_tls_private_key": str(ours.key),
        "dicom_tls_trusted_certificates": str(authority.files.certificate),
    }
    with contextlib.ExitStack() as stack:
        started = {
            "open": stack.enter_context(SecuredServer("open", {}, None)).start(),
            "basic": stack.enter_context(SecuredServer("basic", secured, None)).start(),
            "tls": stack.enter_context(SecuredServer("tls", tls, https)).start(),
        }
        yield {"servers": started, "dicom_tls": dicom_tls}


def _token(server: SecuredServer) -> str:
    made = httpx.post(
        f"{server.url}/tools/tokens", json={"User": ADMIN[0]}, auth=ADMIN, verify=server.verify
    )
    return str(made.json()["Token"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.security", description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="measured requests per case")
    args = parser.parse_args(argv)
    print(f"security benchmark: {machine_summary()}", file=sys.stderr)
    results: list[tuple[str, list[float]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="chronicle-security-") as scratch,
        servers(Path(scratch)) as setup,
    ):
        started, dicom_tls = setup["servers"], setup["dicom_tls"]
        plain, basic, tls = started["open"], started["basic"], started["tls"]
        bearer = {"Authorization": f"Bearer {_token(basic)}"}
        tls_bearer = {"Authorization": f"Bearer {_token(tls)}"}
        cases: list[tuple[str, Callable[[list[bytes]], list[float]]]] = [
            ("REST, no authentication", lambda f: uploads(plain.url, f, True)),
            ("REST, HTTP Basic", lambda f: uploads(basic.url, f, True, auth=ADMIN)),
            ("REST, bearer token", lambda f: uploads(basic.url, f, True, headers=bearer)),
            ("REST, HTTPS + Basic", lambda f: uploads(tls.url, f, tls.verify, auth=ADMIN)),
            (
                "REST, HTTPS + bearer",
                lambda f: uploads(tls.url, f, tls.verify, headers=tls_bearer),
            ),
            ("C-STORE, plain", lambda f: stores(plain.dicom_port, f, None)),
            ("C-STORE, DICOM TLS", lambda f: stores(tls.dicom_port, f, dicom_tls)),
            # The baselines again, last: how much the order of the cases moved the figures.
            ("REST, no authentication (again)", lambda f: uploads(plain.url, f, True)),
            ("C-STORE, plain (again)", lambda f: stores(plain.dicom_port, f, None)),
        ]
        for number, (label, run) in enumerate(cases):
            print(f"  {label}…", file=sys.stderr)
            files = generate(args.count + WARMUP, 64, f"sec{number}")
            results.append((label, run(files)))
    baseline = {"REST": results[0][1], "C-STORE": results[5][1]}
    rows = []
    for label, latencies in results:
        base = statistics.median(baseline[label.split(",")[0]])
        rows.append(
            (
                label,
                len(latencies) / sum(latencies),
                1000 * statistics.median(latencies),
                1000 * (percentile(latencies, 0.95) or 0),
                statistics.median(latencies) / base,
            )
        )
    print(f"Authentication and TLS, 1 client, 9 KB files: {machine_summary()}")
    print()
    print(table(("case", "per s", "p50 ms", "p95 ms", "p50 / unauthenticated"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
