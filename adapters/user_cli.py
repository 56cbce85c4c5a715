"""`chronicle user add|passwd|role|enable|disable|remove|list`: users from the command line.

A password is read from a prompt (twice) on a terminal, or as one line from standard input
otherwise; never from an argument, which other local accounts can read.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.config import Settings
from domain.passwords import ROLES, USER, InvalidUser
from domain.users import UnknownUser

CLI = "cli"  # who did it, in the events

console = Console(stderr=True)


def add_user_parser(
    commands: Any, settings_arguments: Callable[[argparse.ArgumentParser], None]
) -> None:
    users = commands.add_parser("user", help="add, change, remove and list users")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default=USER)
    actions.add_parser("passwd", help="change a user's password").add_argument("name")
    role = actions.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    actions.add_parser("enable", help="let a disabled user log in again").add_argument("name")
    actions.add_parser("disable", help="stop a user from logging in").add_argument("name")
    actions.add_parser("remove", help="remove a user").add_argument("name")
    actions.add_parser("list", help="the users, their roles and state")
    for parser in actions.choices.values():
        settings_arguments(parser)


def run_user(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.node import ChronicleNode
    from domain.origin import Channel, Origin

    node = ChronicleNode(settings)
    try:
        node.start(workers=False)
        archive, origin = node.archive, Origin(Channel.CLI, user=CLI)
        try:
            if args.action == "add":
                archive.add_user(args.name, args.role, read_password(), CLI, CLI, origin)
            elif args.action == "passwd":
                archive.change_password(args.name, read_password(), CLI, origin)
            elif args.action == "role":
                archive.change_role(args.name, args.role, CLI, origin)
            elif args.action in ("enable", "disable"):
                archive.set_disabled(args.name, args.action == "disable", CLI, origin)
            elif args.action == "remove":
                archive.remove_user(args.name, CLI, origin)
        except (InvalidUser, UnknownUser) as error:
            console.print(f"[red]chronicle: {error}[/red]")
            return 1
        node.consumers.catch_up_read_models(["configuration"])
        if args.action == "list":
            _print_users(node.users.listing())
        else:
            console.print(f"user {args.name}: {args.action} done")
        return 0
    finally:
        node.close()


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InvalidUser("the two passwords differ")
    return first


def _print_users(users: list[dict[str, object]]) -> None:
    table = Table("name", "role", "source", "state")
    for user in users:
        state = "disabled" if user["disabled"] else "active"
        table.add_row(str(user["name"]), str(user["role"]), str(user["source"]), state)
    Console(soft_wrap=True).print(table)
