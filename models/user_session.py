#!/usr/bin/env python3
"""UserSession module: session records stored like users (spec §4.3)."""
from datetime import datetime
from typing import Dict, List, Optional

from models import clock
from models.base import Base
from models.store import RecordConflictError, RecordMissingError

PURGE_SWEEP = 64
"""How many stored sessions a new session's write examines for expiry."""


class UserSession(Base):
    """A session record: the session id and the id of its user.

    `created_at` (UTC) starts the absolute lifetime; `updated_at` (UTC) is
    the last time the session was used. The private `_auth_epoch` is the
    user's credential epoch when the session was created (None when the
    user was unknown then); `_amr` (a list of RFC 8176 method names) and
    `_auth_time` (UTC) say how and when the user last authenticated in
    it, `_ip` and `_user_agent` who logged in. Private fields never show
    in `to_json()`.
    """

    _indexed = ("session_id", "user_id")

    def __init__(self, *args: list, **kwargs: dict):
        """Initialize a UserSession from `user_id` and `session_id` (str).

        Also accepts `_auth_epoch` (int or None), `_amr` (list of str),
        `_auth_time` (a datetime or `TIMESTAMP_FORMAT` text, UTC), `_ip`
        and `_user_agent` (str), and the keys of `Base`. Raises
        `ValueError` on a malformed `_auth_time`.
        """
        super().__init__(*args, **kwargs)
        self.user_id = kwargs.get('user_id')
        self.session_id = kwargs.get('session_id')
        self._auth_epoch = kwargs.get('_auth_epoch')
        for name in ("_amr", "_ip", "_user_agent"):
            if kwargs.get(name) is not None:
                setattr(self, name, kwargs[name])
        if kwargs.get("_auth_time") is not None:
            self._auth_time = self._timestamp(kwargs["_auth_time"])

    def mark_used(self, when: datetime) -> bool:
        """Set `updated_at` to `when` (UTC) if the session is still stored.

        Writes only that field of the existing record, so it never brings
        back a session deleted meanwhile. Returns False when it was.
        """
        self.updated_at = when
        try:
            type(self)._persist([self])
        except RecordMissingError:
            return False
        return True

    def reauthenticated(self, when: datetime) -> bool:
        """Set `_auth_time` to `when` (UTC) if the session is still stored.

        Writes only that field of the existing record (a concurrent
        reauthentication of the same session may win: either time is
        right). Returns False when the session was deleted meanwhile.
        """
        self._auth_time = when
        try:
            type(self)._persist([self])
        except RecordMissingError:
            return False
        except RecordConflictError:
            return True
        return True

    @classmethod
    def save_purging(cls, session: "UserSession",
                     cutoffs: Optional[Dict[str, datetime]]) -> List[int]:
        """Save the new `session` and drop some expired ones, in one write.

        `cutoffs` maps `created_at` and `updated_at` to the times before
        which a session has expired (None: sessions never expire). The
        write examines about `PURGE_SWEEP` stored sessions, or an eighth
        of them, going on where the last one stopped: every write of the
        file store rewrites it anyway, so expired sessions go without a
        separate purge. Raises the errors of `save()`.
        """
        session.updated_at = clock.utcnow()
        expired = (cls.ids_older_than(cutoffs, sweep=PURGE_SWEEP)
                   if cutoffs else [])
        return cls._persist([session], removals=expired)
