#!/usr/bin/env python3
"""Recovery routes: `POST /api/v1/auth_session/recovery[/confirm]`.

account-security §7.2. They exist only with mail on (`MAIL_URL`) under
a session `AUTH_TYPE`: otherwise they answer 404 `{"error": "Not
found"}` after the guard (401 without a cookie), as an unknown path
would. Then both are open (no session needed) and take a form or a JSON
object.
`RECOVERY_LIMIT_PER_ADDRESS` (default `10 per hour`, IPv6 by /64) counts
every request and every `token invalid` confirm of one client address;
once it is spent both routes answer 429 with `Retry-After` before any
other check.
"""
import math
import time
from typing import Any, Dict, Optional, Tuple

from flask import (Blueprint, Response, abort, current_app, jsonify,
                   request)
from limits import parse
from limits.errors import StorageError
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from api.v1.auth.credentials import (PasswordCheckUnavailable,
                                     PasswordRefused, change_password)
from api.v1.auth.events import log_event
from api.v1.config import (AUTH_EXTENSION, FLOW_EXTENSION,
                           LIMITER_EXTENSION, MAIL_EXTENSION,
                           SETTINGS_EXTENSION)
from api.v1.mail import recovery
from api.v1.mail.outbox import client_of
from api.v1.mail.transport import MailConfigError
from api.v1.rate_limit import client_key
from api.v1.views.password import CHECK_UNAVAILABLE
from api.v1.views.users import WRONG_FORMAT, json_object
from models.password_policy import check_new_password
from models.passwords import MAX_PASSWORD_LENGTH
from models.store import StoreUnavailableError

recovery_views = Blueprint("recovery_views", __name__,
                           url_prefix="/api/v1")
RECOVERY_PATHS = ["/api/v1/auth_session/recovery/",
                  "/api/v1/auth_session/recovery/confirm/"]
"""The open paths of this blueprint, for the guard."""
ON_ITS_WAY = {"message": "if that address has an account, a message is on "
                         "its way"}
TOKEN_INVALID = {"error": "token invalid"}
LIMIT_KEY = "recovery-address"


def check_recovery_limit(text: str) -> None:
    """Raise `MailConfigError` unless `text` is a `limits` rate string.

    `text` is `RECOVERY_LIMIT_PER_ADDRESS`, such as `10 per hour`; it is
    checked at start-up so that a typo stops the server with one line
    instead of failing every request.
    """
    try:
        parse(text)
    except ValueError as exc:
        raise MailConfigError(
            "RECOVERY_LIMIT_PER_ADDRESS {!r} is malformed ({}); write it as "
            "'10 per hour'".format(text, exc))


def recovery_is_on() -> bool:
    """Return True when the current app offers recovery.

    That is mail on (`MAIL_URL`) under a session `AUTH_TYPE`.
    """
    from api.v1.auth.session_auth import SessionAuth
    return current_app.extensions.get(MAIL_EXTENSION) is not None and \
        isinstance(current_app.extensions.get(AUTH_EXTENSION), SessionAuth)


def require_recovery() -> None:
    """Answer 404 `{"error": "Not found"}` unless recovery is on."""
    if not recovery_is_on():
        abort(404)


def _body() -> Optional[Dict[str, Any]]:
    """Return the request's fields: a JSON object or the form; else None.

    None for a JSON body that is not an object (400 `Wrong format`).
    """
    if request.is_json:
        return json_object()
    return request.form.to_dict()


class _AddressLimit:
    """`RECOVERY_LIMIT_PER_ADDRESS` over the login limits' storage."""

    def __init__(self) -> None:
        """Read the limit and the storage of the current app."""
        settings = current_app.extensions[SETTINGS_EXTENSION]
        limits = current_app.extensions[LIMITER_EXTENSION]
        self.item = parse(settings.recovery_limit_per_address)
        self.strategy = FixedWindowRateLimiter(limits.storage)
        self.key = client_key(request.remote_addr)

    def _guarded(self, work: Any) -> Any:
        """Run `work()`; a storage failure becomes a 503."""
        try:
            return work()
        except StorageError as exc:
            raise StoreUnavailableError(
                "the rate-limit storage cannot be reached") from exc

    def refuse_if_spent(self) -> None:
        """Answer 429 with `Retry-After` when the limit is spent."""
        if not self._guarded(lambda: self.strategy.test(
                self.item, LIMIT_KEY, self.key)):
            self._refuse()

    def hit(self) -> None:
        """Count one request; answer 429 when it is over the limit."""
        if not self._guarded(lambda: self.strategy.hit(
                self.item, LIMIT_KEY, self.key)):
            self._refuse()

    def _refuse(self) -> None:
        """Raise the 429 with the seconds until the window frees a slot."""
        stats = self._guarded(lambda: self.strategy.get_window_stats(
            self.item, LIMIT_KEY, self.key))
        log_event("limited", limit="recovery_per_address",
                  via="recovery")
        raise TooManyRequests(retry_after=max(
            1, math.ceil(stats.reset_time - time.time())))


@recovery_views.route('/auth_session/recovery', methods=['POST'],
                      strict_slashes=False)
def request_recovery() -> Tuple[Response, int]:
    """POST /api/v1/auth_session/recovery: mail a reset link.

    Field `email` (form or JSON). Returns 202 `{"message": "if that
    address has an account, a message is on its way"}` for a known, an
    unknown and a malformed email alike, in the same time: the lookup
    and the message happen after the answer (`recovery.request_job`).
    400 `email missing` for a missing or empty field, `Wrong format` for
    a JSON body that is not an object; 429 past
    `RECOVERY_LIMIT_PER_ADDRESS`, which counts every request.
    """
    require_recovery()
    _AddressLimit().hit()
    body = _body()
    if body is None:
        return jsonify(WRONG_FORMAT), 400
    email = body.get("email")
    if email is None or email == "":
        return jsonify({"error": "email missing"}), 400
    mailer = current_app.extensions[MAIL_EXTENSION]
    flows = current_app.extensions[FLOW_EXTENSION]
    mailer.submit(lambda: recovery.request_job(mailer, flows, email),
                  client_of(request))
    return jsonify(ON_ITS_WAY), 202


@recovery_views.route('/auth_session/recovery/confirm', methods=['POST'],
                      strict_slashes=False)
def confirm_recovery() -> Tuple[Response, int]:
    """POST /api/v1/auth_session/recovery/confirm: set a new password.

    Fields `token` and `new_password` (form or JSON). Returns 200 `{}`:
    the password is set through `change_password` (the policy of §1.1,
    the credential epoch ending every session on every host, the Basic
    cache, the `password_changed` notice), the token is spent, and
    nobody is logged in; a second factor stays as it was. 400 `token
    missing` / `new_password missing`; 400 `token invalid` for an
    unknown, used, expired or voided token (counted by
    `RECOVERY_LIMIT_PER_ADDRESS`); 400 `password refused: <reason>` with
    the token still valid; 503 `password check unavailable`; 429 once
    the address limit is spent, before any other check.
    """
    require_recovery()
    limit = _AddressLimit()
    limit.refuse_if_spent()
    body = _body()
    if body is None:
        return jsonify(WRONG_FORMAT), 400
    token = body.get("token")
    new = body.get("new_password")
    if token is None or token == "":
        return jsonify({"error": "token missing"}), 400
    if new is None or new == "":
        return jsonify({"error": "new_password missing"}), 400
    if not isinstance(token, str) or not isinstance(new, str):
        return jsonify(WRONG_FORMAT), 400
    if len(new) > MAX_PASSWORD_LENGTH:
        return jsonify({"error": "new_password is longer than {} "
                        "characters".format(MAX_PASSWORD_LENGTH)}), 400
    settings = current_app.extensions[SETTINGS_EXTENSION]
    flows = current_app.extensions[FLOW_EXTENSION]
    user = recovery.valid_owner(flows, token)
    if user is None:
        return _token_invalid(limit)
    try:
        check_new_password(new, user.email, settings)
    except PasswordRefused as refused:
        return jsonify({"error": refused.message}), 400
    except PasswordCheckUnavailable:
        return jsonify(CHECK_UNAVAILABLE), 503
    if not recovery.take(flows, token, user):
        return _token_invalid(limit)
    try:
        change_password(user, new, settings, "reset")
    except (PasswordRefused, PasswordCheckUnavailable) as exc:
        recovery.restore(flows, token, user,
                         settings.recovery_token_seconds)
        if isinstance(exc, PasswordRefused):
            return jsonify({"error": exc.message}), 400
        return jsonify(CHECK_UNAVAILABLE), 503
    log_event("password_reset", user=user.id)
    return jsonify({}), 200


def _token_invalid(limit: _AddressLimit) -> Tuple[Response, int]:
    """Count a `token invalid` answer against the address; return it."""
    limit.hit()
    return jsonify(TOKEN_INVALID), 400
