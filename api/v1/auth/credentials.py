#!/usr/bin/env python3
"""Changing a password: the one path every password change takes.

The user's own change (`PUT /api/v1/users/me/password`, §2), a recovery
confirm (§7.2) and the CLI's `set-password` all call `change_password`,
so that each checks the policy (§1.1 under `ACCOUNT_POLICY=strict`),
moves the credential epoch (every session of the user ends, on every
process and host, and the Basic credential cache misses), logs one
`password_changed` event and sends the `password_changed` notice
(§7.3, with mail on) the same way.
"""
from typing import Optional

from api.v1.auth.events import log_event
from api.v1.mail.notices import notify
from models.password_policy import (PasswordCheckUnavailable,
                                    PasswordRefused, check_new_password)
from models.settings import Settings
from models.user import User

__all__ = ["PasswordCheckUnavailable", "PasswordRefused",
           "change_password"]


def change_password(user: User, new_password: str, settings: Settings,
                    reason: str = "changed") -> None:
    """Give `user` the password `new_password` and save it.

    Checks `new_password` against the policy of `settings` first (raises
    `PasswordRefused` with the reason of §1.1, then nothing changed;
    `PasswordCheckUnavailable` when the breach range service is down and
    `PWNED_PASSWORDS_FAIL=closed`). Saving moves the credential epoch, so
    every session of the user ends. `reason` names the path for the log
    (`changed`, `reset`, `admin`). With mail on, the user's address gets
    the `password_changed` notice after the answer. Raises the errors of
    `User.save`.
    """
    check_new_password(new_password, user.email, settings)
    user.password = new_password
    user.save()
    _log_change(user, reason)
    notify(user, "password_changed")


def _log_change(user: User, reason: Optional[str]) -> None:
    """Log the `password_changed` event of `user`."""
    log_event("password_changed", user=user.id, via=reason or "-")
