#!/usr/bin/env python3
"""The admin commands: `flask --app api.v1.app <command>`.

They act on the stores the environment names (`DATABASE_URL`,
`SESSION_STORE_URL`, else the JSON files of the current folder), as the
server does. Passwords are prompted for (with confirmation) or read from
standard input with `--password-stdin`, never taken as an argument, where
`ps` would show them.

Exit codes: 0 done; 1 refused or failed (the message says why); 2 wrong
usage; 3 no user has the given email.
"""
import sys
from typing import Any, List, Optional

import click
from flask import Flask

from api.v1.auth.stores.memory import MemorySessionStore
from api.v1.config import Settings
from models import base, passwords
from models.base import format_timestamp
from models.store import (DuplicateRecordError, Insert, JsonFileStore,
                          StoreError, read_json_records, write_atomically)
from models.user import User

NO_SUCH_USER = 3
KINDS = ("User", "UserSession")
IMPORT_BATCH = 1000


class NoSuchUser(click.ClickException):
    """No user has the email given on the command line (exit code 3)."""

    exit_code = NO_SUCH_USER


def _one_user(email: str) -> User:
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


def _read_password(from_stdin: bool) -> str:
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


def _session_store(auth: Any) -> Any:
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


def _stamp(moment: Any) -> str:
    """Return a datetime in the contract's format, or `-`."""
    return format_timestamp(moment) if moment else "-"


def register_commands(app: Flask, auth: Any, settings: Settings) -> None:
    """Add the admin commands to `app.cli`, acting through `auth`."""

    @app.cli.command("purge-sessions")
    def purge_sessions() -> None:
        """Delete every expired session of the session store."""
        if not hasattr(auth, "session_duration"):
            raise click.UsageError(
                "AUTH_TYPE must be session_exp_auth or session_db_auth")
        _session_store(auth)
        click.echo("purged {} expired sessions".format(auth.purge_expired()))

    @app.cli.command("create-user")
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
        user.password = _read_password(password_stdin)
        try:
            user.save()
        except DuplicateRecordError:
            raise click.ClickException(
                "email already registered: {}".format(email))
        click.echo("created user {}".format(user.id))

    @app.cli.command("set-password")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from standard input.")
    def set_password(email: str, password_stdin: bool) -> None:
        """Set a new password for EMAIL; every session of the user ends."""
        user = _one_user(email)
        user.password = _read_password(password_stdin)
        user.save()
        click.echo("password set for {}; its sessions are ended".format(
            user.id))

    @app.cli.command("delete-user")
    @click.argument("email")
    def delete_user(email: str) -> None:
        """Delete the user EMAIL; every session of the user ends."""
        user = _one_user(email)
        user.remove()
        click.echo("deleted user {}".format(user.id))

    def set_admin(email: str, flag: bool) -> None:
        """Grant or revoke the administrator flag of EMAIL."""
        user = _one_user(email)
        user.is_admin = flag
        user.save()
        click.echo("{} is {} administrator".format(
            user.id, "an" if flag else "no longer an"))

    @app.cli.command("grant-admin")
    @click.argument("email")
    def grant_admin(email: str) -> None:
        """Make EMAIL an administrator (USERS_POLICY=owner)."""
        set_admin(email, True)

    @app.cli.command("revoke-admin")
    @click.argument("email")
    def revoke_admin(email: str) -> None:
        """Take the administrator flag from EMAIL."""
        set_admin(email, False)

    @app.cli.command("list-sessions")
    @click.argument("email")
    def list_sessions(email: str) -> None:
        """List the live sessions of EMAIL: handle, start, last use, end."""
        _session_store(auth)
        user = _one_user(email)
        sessions = auth.live_sessions(user)
        for handle, record in sessions:
            click.echo("{} created={} last_seen={} expires={}".format(
                handle, _stamp(record.created_at),
                _stamp(record.last_seen or record.created_at),
                _stamp(auth.expires_at(record))))
        click.echo("{} live sessions".format(len(sessions)), err=True)

    @app.cli.command("revoke-sessions")
    @click.argument("email")
    def revoke_sessions(email: str) -> None:
        """End every session of EMAIL, in every process and host."""
        user = _one_user(email)
        user.revoke_sessions()
        click.echo("every session of {} is ended".format(user.id))

    @app.cli.command("upgrade-legacy-hashes")
    def upgrade_legacy_hashes() -> None:
        """Wrap every legacy SHA-256 hash as argon2id(sha256-hex).

        The OWASP Password Storage Cheat Sheet's "upgrading legacy
        hashes": the accounts still log in, and become plain argon2id at
        the next login.
        """
        legacy: List[User] = []
        for user in User.all():
            if isinstance(user.password, str) \
                    and passwords.is_legacy_hash(user.password):
                user._password = passwords.wrap_legacy_hash(user.password)
                legacy.append(user)
        User.save_many(legacy)
        click.echo("wrapped {} legacy hashes".format(len(legacy)))

    @app.cli.command("db-upgrade")
    def db_upgrade() -> None:
        """Create or upgrade the schema of DATABASE_URL (Alembic)."""
        from models.sql_store import schema_revision
        store = base.get_store()
        if store.cached:
            raise click.ClickException("DATABASE_URL is not set")
        store.prepare()
        current, head = schema_revision(store)
        click.echo("database at revision {} (newest {})".format(
            current, head))

    @app.cli.command("import-json")
    def import_json() -> None:
        """Copy .db_User.json and .db_UserSession.json into DATABASE_URL.

        Records whose id is already in the database are skipped, so a
        second run adds nothing; a user whose email is taken by another
        id is reported and skipped. Legacy hashes are kept as they are.
        Records go in by transactions of 1,000.
        """
        store = base.get_store()
        if store.cached:
            raise click.ClickException("DATABASE_URL is not set")
        for kind in KINDS:
            records = read_json_records(JsonFileStore.path(kind))
            known = {record["id"] for record in store.iterate(kind)}
            fresh = [record for record in records.values()
                     if record.get("id") not in known]
            added = skipped = 0
            for start in range(0, len(fresh), IMPORT_BATCH):
                batch = fresh[start:start + IMPORT_BATCH]
                try:
                    store.apply(kind, [Insert(record) for record in batch])
                    added += len(batch)
                    continue
                except DuplicateRecordError:
                    pass
                for record in batch:
                    try:
                        store.apply(kind, [Insert(record)])
                        added += 1
                    except DuplicateRecordError:
                        skipped += 1
                        click.echo("skipped {} {}: its email is taken"
                                   .format(kind, record.get("id")),
                                   err=True)
            click.echo("{}: {} read, {} added, {} already there, {} "
                       "skipped".format(kind, len(records), added,
                                        len(records) - len(fresh), skipped))

    @app.cli.command("export-json")
    @click.option("--force", is_flag=True,
                  help="Replace .db_*.json files that exist.")
    def export_json(force: bool) -> None:
        """Write the users and sessions of DATABASE_URL to .db_*.json."""
        import orjson

        store = base.get_store()
        if store.cached:
            raise click.ClickException("DATABASE_URL is not set")
        for kind in KINDS:
            path = JsonFileStore.path(kind)
            if not force and read_json_records(path):
                raise click.ClickException(
                    "{} exists and holds records; use --force to replace "
                    "it".format(path))
        for kind in KINDS:
            records = {record["id"]: record for record in store.iterate(kind)}
            write_atomically(JsonFileStore.path(kind), orjson.dumps(records))
            click.echo("{}: {} written".format(kind, len(records)))

    @app.cli.command("unlock-logins")
    def unlock_logins() -> None:
        """Forget every count of the limits on password checks."""
        from api.v1.config import LIMITER_EXTENSION
        app.extensions[LIMITER_EXTENSION].reset()
        click.echo("login limits reset")

    for command in app.cli.commands.values():
        command.callback = _store_errors(command.callback)


def _store_errors(callback: Any) -> Any:
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
