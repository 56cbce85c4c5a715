"""A Chronicle server for Lua tests: one script in LuaScripts, beside other settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import ChronicleProcess


@contextmanager
def scripted_server(
    directory: Path, database_url: str, script: str, settings: str = ""
) -> Iterator[ChronicleProcess]:
    """A running server whose LuaScripts is `script`; `settings`: more TOML lines (tables
    last), written after `lua_scripts`."""
    path = directory / "script.lua"
    path.write_text(script)
    config = directory / "chronicle.toml"
    config.write_text(f"lua_scripts = [{str(path)!r}]\n{settings}")
    with ChronicleProcess(directory / "data", database_url, "--config", str(config)) as process:
        yield process
