#!/usr/bin/env python3
"""Session authentication with an absolute lifetime and an idle timeout."""
import dataclasses
from datetime import datetime, timedelta
from typing import Any, Optional

from api.v1.auth.session_auth import UNSET_EPOCH, SessionAuth
from api.v1.auth.stores.base import (Cutoffs, SessionRecord, SessionStore,
                                     record_matches_cutoffs)
from api.v1.auth.stores.memory import MemorySessionStore
from api.v1.config import Settings
from models import clock


def touch_interval(idle_timeout: int) -> float:
    """Return the seconds between two recorded uses of a session.

    `idle_timeout` is in seconds (> 0). The interval is `max(60,
    idle_timeout / 10)`, so that a session in steady use costs one write a
    minute at most, but never more than half the timeout, so that a
    session used more often than every `idle_timeout / 2` seconds never
    ends while in use. A session may thus end up to one interval early
    (10 % of a timeout of 10 minutes or more; 60 s of shorter ones).
    """
    return min(max(60.0, idle_timeout / 10), idle_timeout / 2)


class SessionExpAuth(SessionAuth):
    """Sessions that end `SESSION_DURATION` seconds after they start.

    `session_duration` (seconds, from `SESSION_DURATION`; 0 or less means
    no expiry, A19) is the absolute lifetime; `idle_timeout` (seconds,
    from `SESSION_IDLE_TIMEOUT`, 0 means off) ends a session unused for
    that long (OWASP Session Management Cheat Sheet). The expiry rule is
    written once, in `cutoffs` and `stores.base.record_matches_cutoffs`:
    a session is expired when its start is more than `session_duration`
    seconds ago, or its last use more than `idle_timeout` seconds ago.
    A lookup never deletes: expired sessions are purged by the writes of
    new sessions and by `flask --app api.v1.app purge-sessions`.
    """

    def __init__(self, settings: Optional[Settings] = None,
                 store: Optional[SessionStore] = None) -> None:
        """Create the auth; durations come from `settings` (or the env)."""
        super().__init__(settings, store)
        self.session_duration = self.settings.session_duration
        self.idle_timeout = self.settings.session_idle_timeout
        self._touch_every = timedelta(seconds=touch_interval(
            self.idle_timeout))

    def default_store(self) -> SessionStore:
        """Return the store of session dictionaries in the class dict."""
        return MemorySessionStore(SessionAuth.user_id_by_session_id,
                                  SessionAuth._session_ids_by_user,
                                  SessionAuth._session_meta, plain=False)

    def create_session(self, user_id: str = None,
                       epoch: Optional[int] = UNSET_EPOCH,
                       **context: Any) -> str:
        """Create a session dictionary for `user_id`; return its id.

        The record is `{"user_id": user_id, "created_at": <now, UTC>}`.
        Returns None if `user_id` is None or not a str.
        """
        return super().create_session(user_id, epoch, **context)

    def user_id_for_session_id(self, session_id: str = None) -> str:
        """Return the user id of a live, unexpired `session_id`, or None.

        None if `session_id` is not a str, is unknown, or has expired
        (spec §6.2). The record is neither deleted nor changed.
        """
        return super().user_id_for_session_id(session_id)

    def cutoffs(self, now: datetime) -> Cutoffs:
        """Return the times before which a session has expired at `now`.

        A session started before `now - session_duration` seconds, or
        last used before `now - idle_timeout` seconds, has expired; a
        session used exactly `idle_timeout` seconds ago has not.
        """
        created_before = last_seen_before = None
        if self.session_duration > 0:
            created_before = now - timedelta(seconds=self.session_duration)
        if self.idle_timeout > 0:
            last_seen_before = now - timedelta(seconds=self.idle_timeout)
        return Cutoffs(created_before, last_seen_before)

    def is_expired(self, record: SessionRecord,
                   now: Optional[datetime] = None) -> bool:
        """Return True if the session `record` has expired at `now` (UTC).

        With `session_duration` > 0 it expires when `created_at` plus
        `session_duration` seconds is before `now`, or when it has no
        `created_at`. With `idle_timeout` > 0 it also expires when its last
        use (else `created_at`) plus `idle_timeout` seconds is before `now`.
        """
        now = clock.utcnow() if now is None else now
        return record_matches_cutoffs(record, self.cutoffs(now))

    def expires_at(self, record: SessionRecord) -> Optional[datetime]:
        """Return when `record` stops being valid (naive UTC), or None.

        The earlier of the end of its lifetime and of its idle timeout;
        None when sessions never expire.
        """
        ends = []
        if self.session_duration > 0 and record.created_at is not None:
            ends.append(record.created_at
                        + timedelta(seconds=self.session_duration))
        seen = record.last_seen or record.created_at
        if self.idle_timeout > 0 and seen is not None:
            ends.append(seen + timedelta(seconds=self.idle_timeout))
        return min(ends) if ends else None

    def _mark_used(self, session_id: str,
                   record: Optional[SessionRecord]) -> None:
        """Record a use of a live session, for the idle timeout.

        Written at most once per `touch_interval(idle_timeout)` seconds,
        so that most reads write nothing; the store only updates a
        session that still exists.
        """
        if record is None:
            return
        if self.idle_timeout <= 0:
            self._renew_store_ttl(session_id, record)
            return
        now = clock.utcnow()
        seen = record.last_seen or record.created_at
        if seen is not None and now - seen < self._touch_every:
            return
        used = dataclasses.replace(record, last_seen=now)
        self.store.touch(session_id, now, self.store_expires_at(used))

    def cookie_max_age(self) -> Optional[int]:
        """Return `session_duration` when sessions expire, else None."""
        return self.session_duration if self.session_duration > 0 else None
