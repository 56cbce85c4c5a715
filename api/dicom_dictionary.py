"""The private-tag dictionary the tags routes name private tags with.

Orthanc names private tags with DCMTK's `private.dic`. When that file is on the machine (found
through DCMTK's own DCMDICTPATH variable, or where Debian's libdcmtk installs it), Chronicle
uses it too, so /tags answers exactly as Orthanc does; otherwise the domain falls back to
pydicom's private dictionaries, a best effort whose names can differ.
"""

from __future__ import annotations

import functools
import glob
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from domain.dicom_text import (
    PrivateDictionary,
    configured_private_entries,
    parse_dcmtk_private_dictionary,
    pydicom_private_dictionary,
)

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


def private_dictionary(configured: Mapping[str, Any] | None = None) -> PrivateDictionary | None:
    """DCMTK's private dictionary if installed, else None (pydicom's names are used), with
    the private tags of Orthanc's `Dictionary` option (`configured`) on top."""
    if not configured:
        return installed_private_dictionary()
    return _with_configured(json.dumps(configured, sort_keys=True))


@functools.cache
def _with_configured(configured_json: str) -> PrivateDictionary:
    base = installed_private_dictionary() or pydicom_private_dictionary()
    return {**base, **configured_private_entries(json.loads(configured_json))}


@functools.cache
def installed_private_dictionary() -> PrivateDictionary | None:
    """DCMTK's private dictionary if installed, else None."""
    for path in _candidates():
        try:
            entries = parse_dcmtk_private_dictionary(path.read_text(errors="replace"))
        except OSError:
            continue
        if entries:
            log.info("naming private tags with %s", path)
            return entries
    return None
