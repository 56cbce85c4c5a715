"""The `chronicle` command: serve, rebuild, import, status."""

from __future__ import annotations

import argparse
import sys
from argparse import SUPPRESS
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.config import ConfigError, Settings, load_settings
from adapters.safe_logging import configure_logging
from adapters.user_cli import add_user_parser, run_user

console = Console(stderr=True, soft_wrap=True)

PROJECTION_NAMES = (
    "hierarchy",
    "changes",
    "files",
    "configuration",
    "jobs",
    "exports",
    "storage_commitment",
)
PROCESSOR_NAMES = (
    "file-reaper",
    "stability-watcher",
    "job-dispatcher",
    "lua-callbacks",
    "storage-commitment",
)


def _settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file or Orthanc JSON configuration")
    parser.add_argument("--data-dir", type=Path, help="data directory (default ./chronicle-data)")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: embedded server)")
    parser.add_argument("--http-host", help="HTTP address (default 127.0.0.1)")
    parser.add_argument("--http-port", type=int, help="HTTP port (default 8042)")
    parser.add_argument("--dicom-aet", help="DICOM AE title (default CHRONICLE)")
    parser.add_argument("--dicom-port", type=int, help="DICOM port (default 4242)")
    parser.add_argument("--stable-age", type=float, help="seconds without new instance: stable")
    parser.add_argument(
        "--overwrite-instances",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="store a re-sent SOP instance over the existing one",
    )
    parser.add_argument("--max-upload-mb", type=int, help="largest accepted request body")
    parser.add_argument(
        "--workers", type=int, help="serve: processes serving the archive (default 1)"
    )
    parser.add_argument("--shared-ports", action="store_true", default=None, help=SUPPRESS)
    parser.add_argument(
        "--verbose", action="store_true", help="debug logs, and pydicom's warnings (with values)"
    )


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in (
            "data_dir",
            "database_url",
            "http_host",
            "http_port",
            "dicom_aet",
            "dicom_port",
            "stable_age",
            "overwrite_instances",
            "max_upload_mb",
            "workers",
            "shared_ports",
        )
    }
    return load_settings(args.config, overrides=overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chronicle", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the archive (HTTP, workers)")
    _settings_arguments(serve)
    rebuild = commands.add_parser("rebuild", help="replay the log into fresh read models")
    _settings_arguments(rebuild)
    rebuild.add_argument(
        "projections", nargs="*", metavar="PROJECTION", help=f"any of {', '.join(PROJECTION_NAMES)}"
    )
    importing = commands.add_parser("import", help="import a folder tree of DICOM files")
    _settings_arguments(importing)
    importing.add_argument("paths", nargs="+", type=Path)
    add_user_parser(commands, _settings_arguments)
    status = commands.add_parser(
        "status", help="every read model and processor: position, lag, rate, last error"
    )
    _settings_arguments(status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    try:
        settings = _settings(args)
        if args.command == "serve":
            from adapters.server import serve

            serve(settings, sys.argv[1:] if argv is None else argv)
            return 0
        if args.command == "rebuild":
            _check_rebuildable(args.projections)
            return run_rebuild(settings, args.projections or list(PROJECTION_NAMES))
        if args.command == "status":
            return run_status(settings)
        if args.command == "user":
            return run_user(settings, args)
        return run_import(settings, args.paths)
    except ConfigError as exc:
        console.print(f"[red]chronicle: {exc}[/red]")
        return 2


def _check_rebuildable(names: list[str]) -> None:
    processors = sorted(set(names) & set(PROCESSOR_NAMES))
    if processors:
        raise ConfigError(
            f"{', '.join(processors)}: processors perform side effects (removing files, "
            "recording stability, dispatching jobs) and are never rebuilt or replayed; "
            f"rebuild any of the read models: {', '.join(PROJECTION_NAMES)}"
        )
    unknown = sorted(set(names) - set(PROJECTION_NAMES))
    if unknown:
        raise ConfigError(
            f"unknown projection(s): {', '.join(unknown)} "
            f"(the read models are {', '.join(PROJECTION_NAMES)})"
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run_rebuild(settings: Settings, names: list[str]) -> int:
    from adapters.node import ChronicleNode
    from adapters.rebuild import rebuild

    node = ChronicleNode(settings)
    try:
        node.prepare()
        chosen = [r.model for r in node.consumers.read_models.values() if r.name in names]
        label = ", ".join(model.name for model in chosen)
        with _progress() as progress, node.db.connection() as conn:
            task = progress.add_task(f"rebuild {label}", total=None)

            def report(position: int, head: int) -> None:
                progress.update(task, completed=position, total=head)

            replayed = rebuild(node.consumers.reader, conn, chosen, report)
        console.print(f"rebuilt {label}: replayed {replayed} events")
        return 0
    finally:
        node.close()


def run_import(settings: Settings, paths: list[Path]) -> int:
    from adapters.importer import files_under, import_tree
    from adapters.node import ChronicleNode
    from domain.origin import Channel, Origin

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        console.print(f"[red]chronicle: no such file or folder: {', '.join(missing)}[/red]")
        return 2
    node = ChronicleNode(settings)
    try:
        node.start(workers=False)
        total = sum(1 for root in paths for _ in files_under(root))
        with _progress() as progress:
            task = progress.add_task("import", total=total)
            summary = import_tree(
                node.ingestor,
                paths,
                Origin(Channel.CLI),
                on_file=lambda _: progress.advance(task),
            )
        node.consumers.catch_up_read_models()
        console.print(
            f"stored {summary.stored}, already stored {summary.duplicates}, "
            f"rejected {len(summary.rejected)}"
        )
        for path, reason in summary.rejected:
            console.print(f"  rejected {path}: {reason}")
        return 0 if not summary.rejected else 1
    finally:
        node.close()


def run_status(settings: Settings) -> int:
    """Prints every read model and processor; exit code 1 if one of them is failing."""
    from rich.table import Table

    from adapters.node import ChronicleNode

    node = ChronicleNode(settings)
    try:
        node.prepare()
        found = node.consumers.statuses()
    finally:
        node.close()
    table = Table()
    for column in ("name", "kind", "state", "position", "lag", "events/s"):
        table.add_column(column, no_wrap=True)
    table.add_column("last error")
    for item in found:
        error = f"{item.last_error} at position {item.failing_position}" if item.last_error else ""
        table.add_row(
            item.name,
            item.kind,
            item.state,
            str(item.position),
            str(item.lag),
            f"{item.events_per_second:.1f}",
            error,
        )
    Console(soft_wrap=True).print(table)
    return 1 if any(item.state == "failing" for item in found) else 0


if __name__ == "__main__":
    sys.exit(main())
