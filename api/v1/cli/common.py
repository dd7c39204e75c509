#!/usr/bin/env python3
"""What the command groups share: finding a user, reading a password.

Exit codes of every command: 0 done; 1 refused or failed (the message
says why); 2 wrong usage; 3 no user has the given email.
"""
import sys
from typing import Any, Callable

import click

from api.v1.auth.stores.memory import MemorySessionStore
from models import passwords
from models.base import format_timestamp
from models.store import StoreError
from models.user import User

NO_SUCH_USER = 3


class NoSuchUser(click.ClickException):
    """No user has the email given on the command line (exit code 3)."""

    exit_code = NO_SUCH_USER


def one_user(email: str) -> User:
    """Return the one user `email` names (as stored, else normalised).

    Raises `NoSuchUser`, or `ClickException` when several users share it.
    """
    users = User.search_by_email(email)
    if not users:
        raise NoSuchUser("no user has the email {}".format(email))
    if len(users) > 1:
        raise click.ClickException(
            "{} users share the email {}; change them through the API by "
            "id".format(len(users), email))
    return users[0]


def read_password(from_stdin: bool) -> str:
    """Return a new password from stdin or a hidden, confirmed prompt.

    Raises `ClickException` for an empty password or one over 1,024
    characters.
    """
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True,
                                confirmation_prompt=True)
    if not password:
        raise click.ClickException("the password is empty")
    if len(password) > passwords.MAX_PASSWORD_LENGTH:
        raise click.ClickException("the password is longer than {} "
                                   "characters".format(
                                       passwords.MAX_PASSWORD_LENGTH))
    return password


def session_store(auth: Any) -> Any:
    """Return the session store another process can read, or fail.

    Raises `ClickException` without a session auth, and for the in-memory
    stores of `session_auth` and `session_exp_auth`, which live inside
    the server's own processes.
    """
    store = getattr(auth, "store", None)
    if store is None:
        raise click.ClickException(
            "AUTH_TYPE must be session_auth, session_exp_auth or "
            "session_db_auth")
    if isinstance(store, MemorySessionStore):
        raise click.ClickException(
            "the sessions of {} live in the server's memory, which this "
            "command cannot see; set SESSION_STORE_URL (Redis) or use "
            "session_db_auth".format(type(auth).__name__))
    return store


def stamp(moment: Any) -> str:
    """Return a datetime in the contract's format, or `-`."""
    return format_timestamp(moment) if moment else "-"


def store_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that store failures end it with exit code 1."""
    def run(*args: Any, **kwargs: Any) -> Any:
        """Run the command; turn a `StoreError` into a clear message."""
        try:
            return callback(*args, **kwargs)
        except StoreError as exc:
            raise click.ClickException(str(exc))
    run.__name__ = callback.__name__
    run.__doc__ = callback.__doc__
    return run
