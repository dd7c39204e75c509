#!/usr/bin/env python3
"""The admin commands: `flask --app api.v1.app <command>`.

They act on the stores the environment names (`DATABASE_URL`,
`SESSION_STORE_URL`, else the JSON files of the current folder), as the
server does. Passwords are prompted for (with confirmation) or read from
standard input with `--password-stdin`, never taken as an argument, where
`ps` would show them.

Each module of this package registers one group of commands; `GROUPS`
lists them. Exit codes: 0 done; 1 refused or failed (the message says
why); 2 wrong usage; 3 no user has the given email.
"""
import importlib
from typing import Any

from flask import Flask

from api.v1.cli.common import store_errors
from models.settings import Settings

GROUPS = ("users", "sessions", "database", "mail")
"""The modules of this package whose `register(cli, auth, settings)` adds
commands."""


def register_commands(app: Flask, auth: Any, settings: Settings) -> None:
    """Add every group's commands to `app.cli`, acting through `auth`.

    Every command ends with exit code 1 and one line on a store error.
    """
    for name in GROUPS:
        module = importlib.import_module("api.v1.cli." + name)
        module.register(app.cli, auth, settings)
    for command in app.cli.commands.values():
        command.callback = store_errors(command.callback)
