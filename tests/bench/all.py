"""Every benchmark with its defaults, one after the other.

    python -m tests.bench.all [--orthanc]

`--orthanc` is passed to the ingest and dicom benchmarks (comparison with a real Orthanc 1.10.1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tests.bench import dicom, ingest, rebuild


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.all", description=__doc__)
    parser.add_argument("--orthanc", action="store_true", help="compare with Orthanc")
    args = parser.parse_args(argv)
    orthanc = ["--orthanc"] if args.orthanc else []
    codes = [ingest.main(orthanc), dicom.main(orthanc), rebuild.main([])]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
