"""Orthanc's log categories and verbosities (/tools/log-level…), mapped onto this process's
loggers. Process-local, as in Orthanc: a change lasts until the process stops.

pydicom's warnings stay hidden whatever the verbosity: they quote DICOM values (see
adapters.safe_logging); only `--verbose` at start shows them.
"""

from __future__ import annotations

import logging
import threading

VERBOSITIES = ("default", "verbose", "trace")

# Orthanc's categories, with the loggers of each: (ours, a library's).
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "generic": (("adapters", "domain", "projections"), ()),
    "plugins": ((), ()),
    "http": (("api",), ("uvicorn", "httpx", "httpcore")),
    "sqlite": (("adapters.database", "adapters.event_store"), ("psycopg", "psycopg.pool")),
    "dicom": (("adapters.dicom",), ("pynetdicom",)),
    "jobs": (("adapters.jobs",), ()),
    "lua": (("adapters.lua",), ()),
}

# verbosity -> (level of our loggers, level of the libraries')
_LEVELS = {
    "default": (logging.INFO, logging.WARNING),
    "verbose": (logging.DEBUG, logging.INFO),
    "trace": (logging.DEBUG, logging.DEBUG),
}


class UnknownVerbosity(ValueError):
    pass


class LogLevels:
    def __init__(self, verbose: bool = False) -> None:
        initial = "verbose" if verbose else "default"
        self._levels = dict.fromkeys(CATEGORIES, initial)
        self._lock = threading.Lock()

    def get(self, category: str) -> str:
        """KeyError for a category Orthanc does not have."""
        return self._levels[category]

    def overall(self) -> str:
        """/tools/log-level: the generic category's verbosity, as Orthanc answers."""
        return self._levels["generic"]

    def set(self, category: str, verbosity: str) -> None:
        if category not in CATEGORIES:
            raise KeyError(category)
        self._apply([category], verbosity)

    def set_all(self, verbosity: str) -> None:
        self._apply(list(CATEGORIES), verbosity)

    def _apply(self, categories: list[str], verbosity: str) -> None:
        if verbosity not in _LEVELS:
            raise UnknownVerbosity(verbosity)
        ours, libraries = _LEVELS[verbosity]
        with self._lock:
            for category in categories:
                own_loggers, library_loggers = CATEGORIES[category]
                for name in own_loggers:
                    logging.getLogger(name).setLevel(ours)
                for name in library_loggers:
                    logging.getLogger(name).setLevel(libraries)
                self._levels[category] = verbosity
