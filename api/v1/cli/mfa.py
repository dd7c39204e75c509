#!/usr/bin/env python3
"""The second-factor command: `disable-mfa EMAIL` (account-security §4.5).

For account recovery by an administrator: a user who lost both the
authenticator app and the recovery codes.
"""
from typing import Any

import click
from flask.cli import AppGroup

from api.v1.auth.events import log_event
from api.v1.auth.mfa import PASSKEY, remove_second_factors
from api.v1.cli.common import one_user
from api.v1.cli.sessions import _delete_stored_sessions
from api.v1.mail.notices import notify
from models.authenticator import RECOVERY, TOTP
from models.settings import Settings


def register(cli: AppGroup, auth: Any, settings: Settings) -> None:
    """Add `disable-mfa` to `cli`."""

    @cli.command("disable-mfa")
    @click.argument("email")
    def disable_mfa(email: str) -> None:
        """Remove every second factor of EMAIL and end its sessions.

        TOTP, recovery codes and passkeys go; every session of the user
        ends on every process and host (credential epoch, and the shared
        session stores are emptied of them); with mail on, the user gets
        the `second_factor_changed` notice. Exit 0, or 3 when no user
        has EMAIL.
        """
        user = one_user(email)
        removed = remove_second_factors(user.id, (TOTP, RECOVERY, PASSKEY))
        user.revoke_sessions()
        _delete_stored_sessions(auth, settings, user.id)
        log_event("totp_disabled", user=user.id, via="admin")
        notify(user, "second_factor_changed",
               "An administrator removed every second factor.")
        click.echo("second factors of {} removed ({} records); every "
                   "session ended".format(user.id, removed))
