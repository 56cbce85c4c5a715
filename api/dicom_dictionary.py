"""The private-tag dictionary the tags routes name private tags with.

Orthanc names private tags with DCMTK's `private.dic`. When that file is on the machine (found
through DCMTK's own DCMDICTPATH variable, or where Debian's libdcmtk installs it), Chronicle
uses it too, so /tags answers exactly as Orthanc does; otherwise the domain falls back to
pydicom's private dictionaries, a best effort whose names can differ.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
from pathlib import Path

from domain.dicom_text import PrivateDictionary, parse_dcmtk_private_dictionary

log = logging.getLogger(__name__)

_SYSTEM_LOCATIONS = ("/usr/share/libdcmtk*/private.dic", "/usr/share/dcmtk*/private.dic")


def _candidates() -> list[Path]:
    paths = [
        Path(entry)
        for entry in os.environ.get("DCMDICTPATH", "").split(os.pathsep)
        if entry and Path(entry).name == "private.dic"
    ]
    for pattern in _SYSTEM_LOCATIONS:
        paths += [Path(found) for found in sorted(glob.glob(pattern), reverse=True)]
    return paths


@functools.cache
def private_dictionary() -> PrivateDictionary | None:
    """DCMTK's private dictionary if installed, else None (pydicom's names are used)."""
    for path in _candidates():
        try:
            entries = parse_dcmtk_private_dictionary(path.read_text(errors="replace"))
        except OSError:
            continue
        if entries:
            log.info("naming private tags with %s", path)
            return entries
    return None
