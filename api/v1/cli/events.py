#!/usr/bin/env python3
"""The `events` command: a user's security events (account-security §6.4).
"""
from typing import Any

import click
import orjson
from flask.cli import AppGroup

from api.v1.cli.common import one_user
from api.v1.views.events import DEFAULT_LIMIT, MAX_LIMIT
from models.auth_event import AuthEvent
from models.settings import Settings


def register(cli: AppGroup, auth: Any, settings: Settings) -> None:
    """Add `events EMAIL [--limit N]` to `cli`."""

    @cli.command("events")
    @click.argument("email")
    @click.option("--limit", type=click.IntRange(min=1),
                  default=DEFAULT_LIMIT, show_default=True,
                  help="How many events, at most {}.".format(MAX_LIMIT))
    def events(email: str, limit: int) -> None:
        """Print the security events of EMAIL, newest first.

        One JSON object a line, as `GET /api/v1/auth_session/events`
        lists them: `{"type", "at", "ip", "user_agent"}`. Exit code 3
        when no user has EMAIL.
        """
        user = one_user(email)
        for event in AuthEvent.of_user(user.id, min(limit, MAX_LIMIT),
                                       settings.auth_events_days):
            click.echo(orjson.dumps(event.listed()).decode())
