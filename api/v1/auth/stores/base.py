#!/usr/bin/env python3
"""The session store contract that the session auth classes rely on.

A store keeps one `SessionRecord` per session id and knows which sessions
belong to which user, so that a user's sessions can be listed and ended
without a scan. Stores never decide about expiry: the auth class owns the
rule and passes stores what they need of it (the time at which a record
expires, for stores with native expiry such as Redis; cut-off times, to
purge stores without it).

Sessions are named two ways: by their session id (the cookie's value, a
secret) and by their handle, the SHA-256 hex digest of the session id,
which is safe to show and to store (a store or an answer that holds only
handles holds no usable cookie).
"""
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional, Tuple


def session_handle(session_id: str) -> str:
    """Return the public handle of `session_id`: its SHA-256 hex digest."""
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class SessionRecord:
    """What a store keeps for one session.

    `user_id` names the principal. `created_at` starts the absolute
    lifetime and `last_seen` the idle timeout (naive UTC datetimes; None
    when a store cannot tell). `epoch` is the user's credential epoch
    when the session was created, None when it was not recorded (it then
    counts as epoch 0). `amr` lists the methods that authenticated the
    session, in order (RFC 8176 names: `pwd`, `otp`, `hwk`, `rc`), and
    `auth_time` (naive UTC) is when they last did (a reauthentication
    moves it); `ip` and `user_agent` are the client's as seen at login.
    A record written before these existed reads as `amr` None and
    `auth_time` None: see `methods` and `authenticated_at`.
    """

    user_id: Optional[str]
    created_at: Optional[datetime] = None
    last_seen: Optional[datetime] = None
    epoch: Optional[int] = None
    amr: Optional[Tuple[str, ...]] = None
    auth_time: Optional[datetime] = None
    ip: Optional[str] = None
    user_agent: Optional[str] = None

    @property
    def methods(self) -> Tuple[str, ...]:
        """Return `amr`, or `("pwd",)` for a session from before it."""
        return self.amr if self.amr else ("pwd",)

    @property
    def authenticated_at(self) -> Optional[datetime]:
        """Return `auth_time`, or the creation time for an older session."""
        return self.auth_time or self.created_at


@dataclass(frozen=True)
class Cutoffs:
    """The times before which a session has expired (naive UTC).

    `created_before` applies to `created_at` (the absolute lifetime) and
    `last_seen_before` to `last_seen` (the idle timeout); None switches
    that check off.
    """

    created_before: Optional[datetime] = None
    last_seen_before: Optional[datetime] = None

    def __bool__(self) -> bool:
        """Return True if sessions expire at all."""
        return bool(self.created_before or self.last_seen_before)


class SessionStore(ABC):
    """Where session records live (Django's session backend contract).

    Methods that child classes must implement: `get`, `create`, `touch`,
    `delete`, `sessions_of`, `delete_by_handles` and `purge`. Every
    method raises `models.store.StoreUnavailableError` when a networked
    store cannot be reached.
    """

    @abstractmethod
    def get(self, session_id: str) -> Optional[SessionRecord]:
        """Return the record of `session_id`, or None if there is none.

        A lookup never creates, changes nor deletes a record.
        """

    @abstractmethod
    def create(self, session_id: str, record: SessionRecord,
               expires_at: Optional[datetime] = None,
               cutoffs: Optional[Cutoffs] = None) -> bool:
        """Store a new session; return False if `session_id` is taken.

        `expires_at` (naive UTC) is when the record stops being valid, for
        stores that can drop it by themselves; `cutoffs`, when given, lets
        a store purge some expired sessions in the same write.
        """

    @abstractmethod
    def touch(self, session_id: str, last_seen: datetime,
              expires_at: Optional[datetime] = None) -> bool:
        """Record a use of `session_id` at `last_seen`, if it still exists.

        Returns False when the session is gone: a touch never brings a
        deleted session back.
        """

    @abstractmethod
    def delete(self, session_id: str) -> bool:
        """Delete `session_id`; return False if it was absent."""

    @abstractmethod
    def sessions_of(self, user_id: str) -> List[Tuple[str, SessionRecord]]:
        """Return `(handle, record)` of every stored session of `user_id`.

        Expired or revoked records may be among them: the caller judges.
        """

    @abstractmethod
    def delete_by_handles(self, user_id: str, handles: List[str]) -> int:
        """Delete the sessions of `user_id` named by `handles`.

        A handle of another user's session is ignored. Returns how many
        were deleted.
        """

    @abstractmethod
    def purge(self, cutoffs: Cutoffs) -> int:
        """Delete every session expired by `cutoffs`; return how many.

        A store with native expiry may return 0: it needs no purge.
        """

    def set_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        """Record that the user authenticated again at `auth_time` (UTC).

        Only an existing session changes (never one deleted meanwhile);
        returns False when it is gone. Stores override this; the default
        raises `NotImplementedError`.
        """
        raise NotImplementedError(
            "{} cannot record a reauthentication".format(
                type(self).__name__))

    def delete_user_sessions(self, user_id: str,
                             keep: Optional[str] = None) -> int:
        """Delete every session of `user_id` but the handle `keep`.

        Returns how many were deleted.
        """
        handles = [handle for handle, _ in self.sessions_of(user_id)
                   if handle != keep]
        return self.delete_by_handles(user_id, handles) if handles else 0


def record_matches_cutoffs(record: SessionRecord, cutoffs: Cutoffs) -> bool:
    """Return True if `record` has expired by `cutoffs`.

    A missing `created_at` counts as expired when there is an absolute
    lifetime (spec §6.2 step 4); a missing `last_seen` falls back on
    `created_at`. This is the expiry rule of `SessionExpAuth`, shared by
    the stores that purge in Python.
    """
    if cutoffs.created_before is not None:
        if record.created_at is None \
                or record.created_at < cutoffs.created_before:
            return True
    if cutoffs.last_seen_before is not None:
        seen = record.last_seen or record.created_at
        if seen is None or seen < cutoffs.last_seen_before:
            return True
    return False
