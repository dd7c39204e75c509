#!/usr/bin/env python3
"""Commands on accounts: create, set a password, delete, administrators."""
from typing import Any, Optional

import click
from flask.cli import AppGroup

from api.v1.auth.credentials import change_password
from api.v1.cli.common import one_user, read_password
from models.emails import is_valid_address
from models.password_policy import (PasswordCheckUnavailable,
                                    PasswordRefused, check_new_password)
from models.settings import Settings
from models.store import DuplicateRecordError
from models.user import User


def register(cli: AppGroup, auth: Any, settings: Settings) -> None:
    """Add the account commands to `cli`.

    They are `create-user`, `set-password`, `delete-user`, `grant-admin`
    and `revoke-admin`.
    """
    _add_create_user(cli, settings)
    _add_set_password(cli, settings)
    _add_removal_and_flags(cli)


def _add_create_user(cli: AppGroup, settings: Settings) -> None:
    """Add `create-user`, which applies the account policy of `settings`."""

    @cli.command("create-user")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from standard input.")
    @click.option("--first-name", default=None)
    @click.option("--last-name", default=None)
    def create_user(email: str, password_stdin: bool,
                    first_name: Optional[str],
                    last_name: Optional[str]) -> None:
        """Create a user with EMAIL; print its id.

        Under ACCOUNT_POLICY=strict the email must be valid and the
        password pass the policy (exit 1 with the reason).
        """
        if User.search_by_email(email):
            raise click.ClickException(
                "email already registered: {}".format(email))
        if settings.strict and not is_valid_address(email):
            raise click.ClickException("Can't create User: invalid email")
        password = read_password(password_stdin)
        _check_policy(password, email, settings)
        user = User(email=email, first_name=first_name,
                    last_name=last_name)
        user.password = password
        try:
            user.save()
        except DuplicateRecordError:
            raise click.ClickException(
                "email already registered: {}".format(email))
        click.echo("created user {}".format(user.id))


def _add_set_password(cli: AppGroup, settings: Settings) -> None:
    """Add `set-password`, which applies the account policy of `settings`."""

    @cli.command("set-password")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from standard input.")
    def set_password(email: str, password_stdin: bool) -> None:
        """Set a new password for EMAIL; every session of the user ends.

        Under ACCOUNT_POLICY=strict the password must pass the policy.
        """
        user = one_user(email)
        password = read_password(password_stdin)
        try:
            change_password(user, password, settings, "admin")
        except (PasswordRefused, PasswordCheckUnavailable) as exc:
            raise click.ClickException(_refusal(exc))
        click.echo("password set for {}; its sessions are ended".format(
            user.id))


def _add_removal_and_flags(cli: AppGroup) -> None:
    """Add `delete-user`, `grant-admin` and `revoke-admin`."""

    @cli.command("delete-user")
    @click.argument("email")
    def delete_user(email: str) -> None:
        """Delete the user EMAIL; every session of the user ends."""
        user = one_user(email)
        user.remove()
        click.echo("deleted user {}".format(user.id))

    @cli.command("grant-admin")
    @click.argument("email")
    def grant_admin(email: str) -> None:
        """Make EMAIL an administrator (USERS_POLICY=owner)."""
        _set_admin(email, True)

    @cli.command("revoke-admin")
    @click.argument("email")
    def revoke_admin(email: str) -> None:
        """Take the administrator flag from EMAIL."""
        _set_admin(email, False)


def _refusal(exc: Exception) -> str:
    """Return the message of a policy refusal or an unavailable check."""
    if isinstance(exc, PasswordRefused):
        return exc.message
    return "password check unavailable: {}".format(exc)


def _check_policy(password: str, email: str, settings: Settings) -> None:
    """Raise `ClickException` if the policy refuses `password`."""
    try:
        check_new_password(password, email, settings)
    except (PasswordRefused, PasswordCheckUnavailable) as exc:
        raise click.ClickException(_refusal(exc))


def _set_admin(email: str, flag: bool) -> None:
    """Grant or revoke the administrator flag of EMAIL."""
    user = one_user(email)
    user.is_admin = flag
    user.save()
    click.echo("{} is {} administrator".format(
        user.id, "an" if flag else "no longer an"))
