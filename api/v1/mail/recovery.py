#!/usr/bin/env python3
"""Account recovery by email: tokens, their limits and the reset.

After the OWASP Forgot Password Cheat Sheet (account-security §7.2):

* a request answers the same, in the same time, for a known, an unknown
  and a malformed email: the view only counts the client address and
  queues `request_job`; looking the email up, making the token and
  sending the message happen after the answer, on the mail thread;
* a token is 256 bits from `secrets` (base64url, no padding); the flow
  store keeps only its SHA-256 (as the key's digest) with the user id
  and the user's credential epoch, for `RECOVERY_TOKEN_SECONDS`;
* a newer token of the same user voids the older ones (the store keeps
  the digest of the user's latest token); a password change voids every
  token (the epoch moves);
* one account gets at most `MESSAGES_PER_HOUR` messages an hour;
  further requests send nothing and leave the tokens already sent valid;
* a confirm takes the token with the flow store's atomic `take`, so of
  two concurrent confirms on two hosts exactly one succeeds.

The raw token exists only in the message and in the user's hands: never
in a store, a log line or an answer.
"""
import hashlib
import hmac
import math
import secrets
from typing import Any, Optional

from api.v1.auth.events import log_event
from models.emails import MAX_EMAIL_LENGTH
from models.user import User

TOKEN_KIND = "recovery"
"""Flow-store kind of a token: key SHA-256(token), value user and epoch."""
LATEST_KIND = "recovery-latest"
"""Flow-store kind of a user's latest token: key user id, value digest."""
SENT_KIND = "recovery-sent"
"""Flow-store kind of the per-account hourly message counter."""
MESSAGES_PER_HOUR = 3
HOUR_SECONDS = 3600
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128
"""A presented token longer than this (or holding NUL) is no token."""
SUBJECT = "Reset your password"
RECOVER_PATH = "/account/recover"


def token_digest(token: str) -> str:
    """Return the SHA-256 hex digest of `token`: its only stored form."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def request_job(mailer: Any, flows: Any, email: object) -> None:
    """Send a recovery message to `email` if it names one account.

    Runs on the mail thread, in the app's context and a copy of the
    requesting client. Does nothing for a malformed email (not text,
    over 254 characters, holding NUL), an unknown one, one that several
    accounts share, or an account that already had `MESSAGES_PER_HOUR`
    messages this hour. Otherwise stores a new token (voiding the older
    ones), logs `recovery_requested` and sends one message with the link
    `<PUBLIC_BASE_URL>/account/recover#token=<token>`. Raises the flow
    store's errors (the outbox logs them).
    """
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH or \
            "\x00" in email:
        return
    users = User.search_by_email(email)
    if len(users) != 1 or not users[0].email:
        return
    user = users[0]
    if flows.incr(SENT_KIND, user.id, HOUR_SECONDS) > MESSAGES_PER_HOUR:
        log_event("recovery_requested", user=user.id, sent="no")
        return
    lifetime = mailer.settings.recovery_token_seconds
    token = secrets.token_urlsafe(TOKEN_BYTES)
    digest = token_digest(token)
    latest = flows.get(LATEST_KIND, user.id)
    if latest and isinstance(latest.get("digest"), str):
        flows.delete(TOKEN_KIND, latest["digest"])
    flows.put(TOKEN_KIND, digest,
              {"user_id": user.id, "epoch": user.auth_epoch}, lifetime,
              user_id=user.id)
    flows.put(LATEST_KIND, user.id, {"digest": digest}, lifetime,
              user_id=user.id)
    log_event("recovery_requested", user=user.id, sent="yes")
    link = mailer.link("{}#token={}".format(RECOVER_PATH, token))
    mailer.send(mailer.message(user.email, SUBJECT,
                               _text(link, lifetime)), "recovery")


def _text(link: str, lifetime: int) -> str:
    """Return the body of a recovery message; `lifetime` in seconds."""
    minutes = max(1, math.ceil(lifetime / 60))
    return ("Someone (we hope you) asked to reset the password of your "
            "account.\n\n"
            "To choose a new password, open this link within {} minute{}:"
            "\n\n{}\n\n"
            "The link works once. Resetting the password ends every "
            "session of the account; a second factor stays as it is.\n\n"
            "If you did not ask for this, ignore this message: your "
            "password stays as it is.\n").format(
                minutes, "" if minutes == 1 else "s", link)


def plausible_token(token: str) -> bool:
    """Return True if `token` could be a token (length, no NUL)."""
    return 0 < len(token) <= MAX_TOKEN_LENGTH and "\x00" not in token


def valid_owner(flows: Any, token: str) -> Optional[User]:
    """Return the user `token` may reset now, or None.

    None for an implausible, unknown, used or expired token, for one a
    newer token of the user voided, and for one issued before the
    user's last password change (its epoch moved). Reads only; `take`
    spends the token.
    """
    if not plausible_token(token):
        return None
    digest = token_digest(token)
    value = flows.get(TOKEN_KIND, digest)
    if not value or not isinstance(value.get("user_id"), str):
        return None
    latest = flows.get(LATEST_KIND, value["user_id"])
    if not latest or not isinstance(latest.get("digest"), str) or \
            not hmac.compare_digest(latest["digest"], digest):
        return None
    user = User.get(value["user_id"])
    if user is None or value.get("epoch") != user.auth_epoch:
        return None
    return user


def take(flows: Any, token: str, user: User) -> bool:
    """Spend `token` atomically; return True if this call spent it.

    Of concurrent calls with one token (on any host) one gets True. The
    user's latest-token record goes too, so that no older token can
    become valid again.
    """
    value = flows.take(TOKEN_KIND, token_digest(token))
    if not value or value.get("user_id") != user.id or \
            value.get("epoch") != user.auth_epoch:
        return False
    flows.delete(LATEST_KIND, user.id)
    return True


def restore(flows: Any, token: str, user: User, lifetime: int) -> None:
    """Put a spent `token` back for `lifetime` seconds (a reset failed).

    Used when the policy refused the password after the token was taken:
    §7.2 keeps the token valid then.
    """
    digest = token_digest(token)
    flows.put(TOKEN_KIND, digest,
              {"user_id": user.id, "epoch": user.auth_epoch}, lifetime,
              user_id=user.id)
    flows.put(LATEST_KIND, user.id, {"digest": digest}, lifetime,
              user_id=user.id)
