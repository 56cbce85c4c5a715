"""Every benchmark with its defaults, one after the other.

    python -m tests.bench.all [--orthanc]

`--orthanc` is passed to the ingest benchmark (comparison with a real Orthanc 1.10.1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tests.bench import ingest, rebuild


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.all", description=__doc__)
    parser.add_argument("--orthanc", action="store_true", help="compare ingest with Orthanc")
    args = parser.parse_args(argv)
    codes = [ingest.main(["--orthanc"] if args.orthanc else []), rebuild.main([])]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
