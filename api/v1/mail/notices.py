#!/usr/bin/env python3
"""Security notices: the owner hears of every change to the account.

account-security §7.3: with mail on (`MAIL_URL`), the account's address
gets one short message when the password changed (`password_changed`),
a second factor changed (`second_factor_changed`) or a login succeeded
from a client without a valid device cookie of the account
(`new_device`, at most one an hour per account and client address).
`NOTICES` chooses which are sent. A notice holds the time (`YYYY-MM-DD
HH:MM UTC`), the client address and its user agent, and nothing secret:
no link that logs in, no token, no password, no session id.

`notify(user, kind)` is the one entry point: the password change, the
recovery confirm, the CLI's `set-password` and the login call it; the
second-factor and passkey code call it with `second_factor_changed`.
"""
from datetime import datetime, timezone
from typing import Any, Optional

from flask import current_app, has_app_context, has_request_context, \
    request

from api.v1.config import FLOW_EXTENSION, MAIL_EXTENSION
from api.v1.mail.outbox import client_of

NEW_DEVICE_WINDOW_SECONDS = 3600
"""At most one `new_device` notice per account and address in this time."""
NEW_DEVICE_KIND = "notice-new-device"
USER_AGENT_LIMIT = 256
SUBJECTS = {
    "password_changed": "Your password was changed",
    "second_factor_changed": "Your sign-in methods were changed",
    "new_device": "New sign-in to your account",
}
OPENINGS = {
    "password_changed": "The password of your account was changed.",
    "second_factor_changed": "The second factor of your account (an "
                             "authenticator app, recovery codes or a "
                             "passkey) was changed.",
    "new_device": "Your account was signed in to from a device or browser "
                  "that had not signed in to it before.",
}


def notify(user: Any, kind: str, detail: Optional[str] = None) -> bool:
    """Queue the notice `kind` for `user`'s address; return True if queued.

    `user` is a `models.user.User`; `kind` is `password_changed`,
    `second_factor_changed` or `new_device`; `detail` is an optional
    short, non-secret line (for example `TOTP enabled`). The client
    address, user agent and time are those of the current request, read
    now. Returns False (and sends nothing) outside an app, with mail off,
    for a kind `NOTICES` leaves out, for a user without an email, and
    raises `ValueError` for an unknown kind. The message is built and
    sent after the answer, on the mail thread; for `new_device` that
    thread first counts the notice per account and client address
    (flow store) and sends only the first of each hour.
    """
    if kind not in SUBJECTS:
        raise ValueError("unknown notice kind {!r}; use one of {}".format(
            kind, ", ".join(SUBJECTS)))
    if not has_app_context():
        return False
    mailer = current_app.extensions.get(MAIL_EXTENSION)
    email = getattr(user, "email", None)
    if mailer is None or kind not in mailer.settings.notices or \
            not isinstance(email, str) or not email:
        return False
    client = client_of(request) if has_request_context() else {}
    when = datetime.now(timezone.utc)
    user_id = user.id

    def job() -> None:
        """Count a `new_device` notice, then build and send the message."""
        if kind == "new_device" and not _first_of_hour(
                user_id, client.get("remote_addr")):
            return
        text = _text(kind, when, client, detail,
                     mailer.link("/account/recover"))
        mailer.send(mailer.message(email, SUBJECTS[kind], text), kind)
    mailer.submit(job, client)
    return True


def _first_of_hour(user_id: str, address: Optional[str]) -> bool:
    """Return True for the first `new_device` notice of this hour.

    Counted per account and client address (IPv6 by /64) in the shared
    flow store, so that every worker and host agrees.
    """
    from api.v1.rate_limit import client_key
    flows = current_app.extensions.get(FLOW_EXTENSION)
    if flows is None:
        return True
    key = "{}:{}".format(user_id, client_key(address))
    return flows.incr(NEW_DEVICE_KIND, key, NEW_DEVICE_WINDOW_SECONDS) == 1


def _text(kind: str, when: datetime, client: dict, detail: Optional[str],
          recover_url: str) -> str:
    """Return the plain-text body of the notice `kind`."""
    agent = (client.get("user_agent") or "unknown")[:USER_AGENT_LIMIT]
    lines = [OPENINGS[kind]]
    if detail:
        lines.append(detail)
    lines += ["",
              "When: {}".format(when.strftime("%Y-%m-%d %H:%M UTC")),
              "Address: {}".format(client.get("remote_addr") or "unknown"),
              "Browser or app: {}".format(agent),
              "",
              "If this was you, there is nothing to do.",
              "If it was not, reset your password at {} and end the "
              "sessions you do not know.".format(recover_url)]
    return "\n".join(lines) + "\n"
