"""The server's Lua interpreter state, as Orthanc keeps one: definitions made by one script
(globals, callbacks) stay for the next. One call runs in it at a time.

Every call into Lua runs in a coroutine with a count hook, so a script that loops forever is
stopped after `max_instructions`, and the runtime refuses to allocate past `max_memory`: the
call fails with a clear error and the server, and the state, stay usable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import lupa.lua54 as lua

from domain.levels import LEVEL_NAMES
from domain.transfer_syntax_groups import TRANSFER_SYNTAX_GROUPS

log = logging.getLogger("chronicle.lua")

# The functions Chronicle calls when scripts define them (callbacks and filters).
CALLBACK_NAMES = (
    "OnStoredInstance",
    "OnStablePatient",
    "OnStableStudy",
    "OnStableSeries",
    *(f"OnDeleted{level}" for level in LEVEL_NAMES),
    *(f"OnUpdated{level}" for level in LEVEL_NAMES),
    "OnJobSubmitted",
    "OnJobSuccess",
    "OnJobFailure",
    "OnChange",
    "OnHeartBeat",
    "Finalize",
    "ReceivedInstanceFilter",
    "ReceivedCStoreInstanceFilter",
    "IncomingHttpRequestFilter",
    "IncomingFindRequestFilter",
    *(f"Is{group}TransferSyntaxAccepted" for group in TRANSFER_SYNTAX_GROUPS),
    "IsUnknownSopClassAccepted",
)
CHUNK_NAME = "line"  # Orthanc's: errors read `[string "line"]:1: …`

# Runs `fn(...)` in a coroutine under an instruction budget; answers (true, results…) or
# (false, message, traceback).
_GUARD = """
return function(fn, limit, ...)
  local arguments = table.pack(...)
  local co = coroutine.create(function()
    return xpcall(fn, function(message)
      return {message = message, traceback = debug.traceback(tostring(message), 2)}
    end, table.unpack(arguments, 1, arguments.n))
  end)
  debug.sethook(co, function()
    error("the Lua script ran past its limit of " .. limit .. " instructions", 0)
  end, "", limit)
  local resumed, ok, result = coroutine.resume(co)
  if not resumed then return false, tostring(ok), "" end
  if not ok then
    if type(result) == "table" then return false, tostring(result.message), result.traceback end
    return false, tostring(result), ""
  end
  return true, result
end
"""


class LuaError(Exception):
    """A Lua script or callback failed: `message` as Orthanc reports it, `traceback` for the
    log."""

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.traceback = traceback


@attrs.frozen
class Caller:
    """Who a script acts as when it calls the REST API: its installer."""

    user: str
    role: str


class LuaEngine:
    def __init__(self, max_instructions: int, max_memory_bytes: int) -> None:
        self.max_instructions = max_instructions
        self.max_memory_bytes = max_memory_bytes
        # encoding=None: Lua strings are bytes both ways, as a script may handle binary data
        # (a DICOM file read with io.open and posted to /instances).
        self._runtime = lua.LuaRuntime(
            encoding=None,
            unpack_returned_tuples=True,
            register_eval=False,
            max_memory=max_memory_bytes,
        )
        self._lock = threading.Lock()
        self._guard: Any = self._runtime.execute(_GUARD.encode())
        self._output: list[str] | None = None
        self.caller: Caller | None = None
        # This process's REST API, once the HTTP application serves (adapters.lua.library)
        self.rest: Any = None
        # What OnStoredInstance is given, (tags, metadata) of an instance ID or None when it is
        # gone, read without HTTP once the application sets it (api.scripting)
        self.stored_instance: Callable[[str], tuple[Any, Any] | None] | None = None
        self.define("_chronicle_write", self._write)
        self._defined: frozenset[str] = frozenset()
        self._runtime.execute(_PRINT.encode())

    @property
    def runtime(self) -> lua.LuaRuntime:
        return self._runtime

    def define(self, name: str, function: Callable[..., Any]) -> None:
        """A global Lua function answered by Python."""
        self._runtime.globals()[name.encode()] = function

    def run(self, source: str, caller: Caller) -> str:
        """Runs a script in the shared state; what it printed. LuaError if it fails."""
        with self._session(caller) as output:
            compiled = self._runtime.globals()[b"load"](source.encode(), CHUNK_NAME.encode())
            chunk, error = compiled if isinstance(compiled, tuple) else (compiled, None)
            if chunk is None:
                raise LuaError(text_of(error))
            self._call(chunk)
            return "".join(output)

    def run_file(self, path: Path, caller: Caller) -> str:
        return self.run(path.read_text(encoding="utf-8"), caller)

    def call(self, name: str, *arguments: Any, caller: Caller) -> Any:
        """Calls the global function `name` if the scripts defined one (None otherwise)."""
        with self._session(caller):
            function = self._runtime.globals()[name.encode()]
            if function is None:
                return None
            return self._call(function, *arguments)

    def has(self, name: str) -> bool:
        with self._lock:
            return self._runtime.globals()[name.encode()] is not None

    def defines(self, name: str) -> bool:
        """Whether the scripts had defined `name` (one of CALLBACK_NAMES) when the last call
        ended; without waiting for a call that runs now, so a request can ask it cheaply."""
        return name in self._defined

    @contextmanager
    def _session(self, caller: Caller) -> Iterator[list[str]]:
        with self._lock:
            self._output, self.caller = [], caller
            try:
                yield self._output
            finally:
                self._output, self.caller = None, None
                globals_ = self._runtime.globals()
                self._defined = frozenset(
                    name for name in CALLBACK_NAMES if globals_[name.encode()] is not None
                )

    def _call(self, function: Any, *arguments: Any) -> Any:
        try:
            answer = self._guard(function, self.max_instructions, *arguments)
        except lua.LuaMemoryError:
            answer = (False, "not enough memory", "")
        ok, *rest = answer if isinstance(answer, tuple) else (answer,)
        if ok:
            return rest[0] if rest else None
        message, traceback = (text_of(rest[0]), text_of(rest[1])) if len(rest) > 1 else ("", "")
        if "not enough memory" in message:
            self._runtime.gccollect()
            limit = self.max_memory_bytes // (1024 * 1024)
            message = f"the Lua script ran out of its memory limit of {limit} MB"
        raise LuaError(message, traceback)

    def _write(self, text: Any) -> None:
        line = text_of(text)
        log.info("Lua: %s", line.rstrip("\n"))
        if self._output is not None:
            self._output.append(line)


def text_of(value: Any) -> str:
    """A Lua string (bytes) as text."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# Orthanc's print: the arguments through tostring, joined by ", ", into the answer and the log.
_PRINT = """
print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  _chronicle_write(table.concat(parts, ", ") .. "\\n")
end
"""
