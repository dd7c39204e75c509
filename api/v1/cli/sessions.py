#!/usr/bin/env python3
"""Commands on sessions and login limits: list, revoke, purge, unlock."""
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from api.v1.auth.stores.memory import MemorySessionStore
from api.v1.cli.common import one_user, session_store, stamp
from api.v1.config import LIMITER_EXTENSION
from models.settings import Settings


def register(cli: AppGroup, auth: Any, settings: Settings) -> None:
    """Add the session and limit commands to `cli`.

    They are `list-sessions`, `revoke-sessions`, `purge-sessions` and
    `unlock-logins`.
    """

    @cli.command("purge-sessions")
    def purge_sessions() -> None:
        """Delete every expired session of the session store."""
        if not hasattr(auth, "session_duration"):
            raise click.UsageError(
                "AUTH_TYPE must be session_exp_auth or session_db_auth")
        session_store(auth)
        click.echo("purged {} expired sessions".format(auth.purge_expired()))

    @cli.command("list-sessions")
    @click.argument("email")
    def list_sessions(email: str) -> None:
        """List the live sessions of EMAIL: handle, start, last use, end."""
        session_store(auth)
        user = one_user(email)
        sessions = auth.live_sessions(user)
        for handle, record in sessions:
            click.echo("{} created={} last_seen={} expires={}".format(
                handle, stamp(record.created_at),
                stamp(record.last_seen or record.created_at),
                stamp(auth.expires_at(record))))
        click.echo("{} live sessions".format(len(sessions)), err=True)

    @cli.command("revoke-sessions")
    @click.argument("email")
    def revoke_sessions(email: str) -> None:
        """End every session of EMAIL, in every process and host.

        Moves the credential epoch (every process refuses the sessions at
        once) and deletes the sessions the shared stores hold (Redis
        keys, `UserSession` records), so that none lingers until it
        expires.
        """
        user = one_user(email)
        user.revoke_sessions()
        _delete_stored_sessions(auth, settings, user.id)
        click.echo("every session of {} is ended".format(user.id))

    @cli.command("unlock-logins")
    def unlock_logins() -> None:
        """Forget every count of the limits on password checks."""
        current_app.extensions[LIMITER_EXTENSION].reset()
        click.echo("login limits reset")


def _delete_stored_sessions(auth: Any, settings: Settings,
                            user_id: str) -> int:
    """Delete the sessions of `user_id` from the shared session stores.

    The active auth's store when it is shared (Redis or records), plus
    the Redis of `SESSION_STORE_URL` when no session auth is active.
    In-memory stores live in the server's processes: the epoch ends
    those. Returns how many sessions were deleted.
    """
    store = getattr(auth, "store", None)
    if store is None and settings.session_store_url:
        from api.v1.auth.stores.redis_store import RedisSessionStore
        store = RedisSessionStore(settings.session_store_url,
                                  timeout=settings.store_timeout_seconds)
    if store is None or isinstance(store, MemorySessionStore):
        return 0
    return store.delete_user_sessions(user_id)
