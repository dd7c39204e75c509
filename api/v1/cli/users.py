#!/usr/bin/env python3
"""Commands on accounts: create, set a password, delete, administrators."""
from typing import Any, Optional

import click
from flask.cli import AppGroup

from api.v1.cli.common import one_user, read_password
from models.settings import Settings
from models.store import DuplicateRecordError
from models.user import User


def register(cli: AppGroup, auth: Any, settings: Settings) -> None:
    """Add the account commands to `cli`.

    They are `create-user`, `set-password`, `delete-user`, `grant-admin`
    and `revoke-admin`.
    """

    @cli.command("create-user")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from standard input.")
    @click.option("--first-name", default=None)
    @click.option("--last-name", default=None)
    def create_user(email: str, password_stdin: bool,
                    first_name: Optional[str],
                    last_name: Optional[str]) -> None:
        """Create a user with EMAIL; print its id."""
        if User.search_by_email(email):
            raise click.ClickException(
                "email already registered: {}".format(email))
        user = User(email=email, first_name=first_name,
                    last_name=last_name)
        user.password = read_password(password_stdin)
        try:
            user.save()
        except DuplicateRecordError:
            raise click.ClickException(
                "email already registered: {}".format(email))
        click.echo("created user {}".format(user.id))

    @cli.command("set-password")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from standard input.")
    def set_password(email: str, password_stdin: bool) -> None:
        """Set a new password for EMAIL; every session of the user ends."""
        user = one_user(email)
        user.password = read_password(password_stdin)
        user.save()
        click.echo("password set for {}; its sessions are ended".format(
            user.id))

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


def _set_admin(email: str, flag: bool) -> None:
    """Grant or revoke the administrator flag of EMAIL."""
    user = one_user(email)
    user.is_admin = flag
    user.save()
    click.echo("{} is {} administrator".format(
        user.id, "an" if flag else "no longer an"))
