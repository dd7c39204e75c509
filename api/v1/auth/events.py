#!/usr/bin/env python3
"""Authentication events: one log line, a metric, and the user's history.

`log_event(event, **fields)` is the one call the code makes when
something happens to an account. `EVENTS` says, for each event name,
which security event type (account-security §6.4, §7.4) is stored for
the user, which login result and which session ending the Prometheus
series of §6.2 count, and `log_event` does the rest:

* one line to the `api.auth` logger at INFO, for example
  `auth event=login_failed email=3f1c0e7a9b2d4e61 reason=wrong_password`
  (with `LOG_FORMAT=json`, `{"event": "auth", "type": "login_failed",
  ...}`). Emails are logged as the first 16 hex digits of their SHA-256;
  passwords, hashes, session ids, codes and tokens are never passed here
  (OWASP Logging Cheat Sheet);
* the metrics of §6.2 (`api.v1.metrics`);
* an `AuthEvent` record for the user named by `user=` when the event has
  a stored type, with the address and User-Agent of the request, kept
  `AUTH_EVENTS_DAYS` days (ASVS 5.0 16.3.1, NIST SP 800-63B-4 §4.1).

A name missing from `EVENTS` is only logged.
"""
import hashlib
import logging
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple

from flask import current_app, has_app_context, has_request_context, request

from api.v1 import metrics
from models.store import StoreError

logger = logging.getLogger("api.auth")

STORED_TYPES = (
    "login_succeeded", "login_failed", "logout", "password_changed",
    "sessions_revoked", "totp_enabled", "totp_disabled",
    "recovery_code_used", "recovery_codes_renewed", "passkey_added",
    "passkey_removed", "limited", "recovery_requested", "password_reset")
"""The event types a user's history holds: §6.4, then §7.4's two."""
LOGIN_RESULTS = metrics.LOGIN_RESULTS

Fields = Mapping[str, object]


@dataclass(frozen=True)
class EventKind:
    """What one event name means beyond its log line.

    `stored` is the §6.4 type kept in the user's history (None: none);
    `login` maps the event's fields to an `auth_logins_total` result
    (None: not a login outcome); `ended` maps them to an
    `auth_sessions_ended_total` reason. (`auth_sessions_created_total`
    is counted where sessions start, `api.v1.auth.login`.)
    """

    stored: Optional[str] = None
    login: Optional[Callable[[Fields], Optional[str]]] = None
    ended: Optional[Callable[[Fields], Optional[str]]] = None


def _fixed(value: str) -> Callable[[Fields], Optional[str]]:
    """Return a mapping of fields that always gives `value`."""
    return lambda fields: value


FAILURE_RESULTS = {"unknown_email": "unknown_email",
                   "wrong_password": "wrong_password",
                   "wrong_code": "second_factor_failed"}
"""The login result of a failed login's `reason`; any other refused
credential (a passkey) counts as `wrong_password`."""
LOGIN_STEPS = ("login", "mfa")
"""The `via` of the limits' attempts that are logins: the password step
and the second step (§4.3)."""


def _failure(fields: Fields) -> Optional[str]:
    """Return the login result of a failed login, from its `reason`.

    A failed check elsewhere (a Basic credential, `via=basic`) is not a
    login.
    """
    if fields.get("via", "login") not in LOGIN_STEPS:
        return None
    return FAILURE_RESULTS.get(str(fields.get("reason")), "wrong_password")


def _limited(fields: Fields) -> Optional[str]:
    """Return `limited` for a login refused by a limit, else None."""
    return "limited" if fields.get("via", "login") in LOGIN_STEPS \
        else None


def _revoked(fields: Fields) -> Optional[str]:
    """Return the ending reason of a revocation: its `reason`, or revoked.
    """
    reason = fields.get("reason")
    return "credentials_changed" if reason == "credentials_changed" \
        else "revoked"


EVENTS: Dict[str, EventKind] = {
    "login_succeeded": EventKind("login_succeeded", _fixed("success")),
    "login_failed": EventKind("login_failed", _failure),
    "second_factor_required": EventKind(
        None, _fixed("second_factor_required")),
    "second_factor_failed": EventKind(
        "login_failed", _fixed("second_factor_failed")),
    "reauthenticated": EventKind(),
    "reauthentication_failed": EventKind(),
    "totp_confirm_failed": EventKind(),
    "basic_refused": EventKind(),
    "logout": EventKind("logout", ended=_fixed("logout")),
    "password_changed": EventKind("password_changed"),
    "password_change_failed": EventKind(),
    "sessions_revoked": EventKind("sessions_revoked", ended=_revoked),
    "session_revoked_by_user": EventKind("sessions_revoked",
                                         ended=_revoked),
    "sessions_capped": EventKind(ended=_fixed("revoked")),
    "session_expired": EventKind(ended=_fixed("expired")),
    "session_revoked": EventKind(),
    "session_refused": EventKind(),
    "totp_enabled": EventKind("totp_enabled"),
    "totp_disabled": EventKind("totp_disabled"),
    "recovery_code_used": EventKind("recovery_code_used"),
    "recovery_codes_renewed": EventKind("recovery_codes_renewed"),
    "passkey_added": EventKind("passkey_added"),
    "passkey_removed": EventKind("passkey_removed"),
    "limited": EventKind("limited", _limited),
    "recovery_requested": EventKind("recovery_requested"),
    "password_reset": EventKind("password_reset"),
}
"""Every event name the code logs, and what it means (§6.2, §6.4)."""

_RESERVED = frozenset(logging.LogRecord(
    "", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def email_digest(email: Optional[str]) -> str:
    """Return a short SHA-256 digest of `email` (16 hex digits), or `-`."""
    if not isinstance(email, str):
        return "-"
    return hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()[:16]


def log_event(event: str, **fields: object) -> None:
    """Log `event` with `fields`, count it, and store it for its user.

    `fields` are logged as `key=value` pairs in argument order; `user`
    names the account (a user id, `-` or absent when unknown), `count`
    how many sessions an ending covers. Never raises for a store that
    cannot be written: the history misses the event and a warning says
    so, while the action it describes stands.
    """
    pairs = " ".join("{}={}".format(key, value)
                     for key, value in fields.items())
    extra = {"event": "auth", "type": event}
    for key, value in fields.items():
        extra[key if key not in _RESERVED else "field_" + key] = value
    logger.info("auth event=%s %s", event, pairs, extra=extra)
    kind = EVENTS.get(event)
    if kind is None:
        return
    _count(kind, fields)
    user_id = fields.get("user")
    if kind.stored is not None and isinstance(user_id, str) \
            and user_id not in ("", "-"):
        _store(user_id, kind.stored)


def _count(kind: EventKind, fields: Fields) -> None:
    """Add the event to the Prometheus series of §6.2."""
    if kind.login is not None:
        result = kind.login(fields)
        if result is not None:
            metrics.LOGINS.labels(result=result).inc()
    if kind.ended is not None:
        reason = kind.ended(fields)
        count = fields.get("count", 1)
        if reason is not None and isinstance(count, int) and count > 0:
            metrics.SESSIONS_ENDED.labels(reason=reason).inc(count)
    limit = fields.get("limit")
    if kind.stored == "limited" and limit in metrics.LIMITS:
        metrics.LIMITED.labels(limit=limit).inc()


def request_client() -> Tuple[Optional[str], Optional[str]]:
    """Return the address and User-Agent of the current request.

    (None, None) outside a request (a command-line action).
    """
    if not has_request_context():
        return None, None
    return request.remote_addr, request.headers.get("User-Agent")


def _store(user_id: str, event_type: str) -> None:
    """Append the event `event_type` to the history of `user_id`."""
    from models.auth_event import AuthEvent
    from models.settings import Settings

    settings = None
    if has_app_context():
        from api.v1.config import SETTINGS_EXTENSION
        settings = current_app.extensions.get(SETTINGS_EXTENSION)
    days = (settings or Settings()).auth_events_days
    ip, agent = request_client()
    try:
        AuthEvent.record(user_id, event_type, ip, agent, days)
    except (StoreError, OSError) as exc:
        logger.warning("the %s event of %s was not stored: %s",
                       event_type, user_id, exc)
