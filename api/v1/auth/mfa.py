#!/usr/bin/env python3
"""Second factor: TOTP, recovery codes, the two-step login, recent login.

The ceremonies of account-security §4, called by the thin views of
`api.v1.views.mfa`:

* TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of drift either
  way) with `pyotp`; the secret is sealed at rest (`factor_keys`), and
  the time step of the last accepted code is stored with it and moved by
  a conditional write, so a code is accepted once per user on every
  process and host.
* Recovery codes: 10 per set, 80 random bits each, shown once, kept as
  HMAC-SHA256 digests; one record per code whose id is its digest, so
  using a code is one conditional delete (of two concurrent logins with
  one code, one succeeds).
* The two-step login: `begin_second_step` leaves an `mfa_token` in the
  flow store (any worker or host finishes it); `finish_second_step`
  checks one of `VERIFIERS` and starts the session with `amr`
  `["pwd", <method>]`.
* Recent authentication (§4.4): `require_recent` (or the `recent`
  decorator) answers 401 `reauthentication required` when the session's
  `auth_time` is older than `REAUTH_SECONDS`; `reauthenticate` moves it.

Extension points for other factors: `VERIFIERS` maps a request field to
a function that returns the RFC 8176 method or None (`code`: TOTP or
recovery code; `credential`: a passkey, §5.2), and `SECOND_FACTOR_CHECKS`
tells which users the password login asks for a second step.
"""
import functools
import hmac
import re
import secrets
from base64 import b32encode
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple

import pyotp
from flask import Response, abort, current_app, jsonify, request

from api.v1.auth.devices import device_owner
from api.v1.auth.events import email_digest, log_event
from api.v1.auth.factor_keys import FactorKeys
from api.v1.auth.login import start_session
from api.v1.config import AUTH_EXTENSION, FLOW_EXTENSION, SETTINGS_EXTENSION
from api.v1.mail.notices import notify
from models import clock
from models.authenticator import RECOVERY, TOTP, Authenticator
from models.base import format_timestamp
from models.passwords import MAX_PASSWORD_LENGTH
from models.settings import Settings
from models.user import User, credentials_changed

TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_DRIFT_STEPS = 1
"""Codes of the previous and next step are accepted too (RFC 6238 §5.2)."""
TOTP_SECRET_CHARS = 32
"""Base32 characters of a new secret: 160 bits (RFC 4226 §4 R6)."""
RECOVERY_CODES = 10
RECOVERY_CODE_BYTES = 10
"""80 random bits per recovery code (at least 64, NIST SP 800-63B)."""
MAX_CODE_LENGTH = 64
MAX_TOKEN_LENGTH = 128
MFA_FLOW = "mfa"
MFA_TRIES = "mfa-tries"
MAX_WRONG_CODES = 5
PASSKEY = "passkey"
_EPOCH = datetime(1970, 1, 1)
_TOTP_CODE = re.compile(r"[0-9]{6}")
_CAS_TRIES = 5

MISSING_KEY = {"error": "totp unavailable: SECRET_KEY is not set"}
REAUTH_REQUIRED = {"error": "reauthentication required"}

Verifier = Callable[[User, Any, Settings], Optional[str]]
"""A second-step check: `(user, field value, settings)` → the RFC 8176
method that passed (`otp`, `rc`, `hwk`), or None for a wrong value."""


def fail(status: int, body: Dict[str, Any]) -> None:
    """Answer `status` with the JSON `body` at once (raises).

    The answer bypasses the app's generic error bodies, so that the
    contract's exact messages reach the client.
    """
    response = jsonify(body)
    response.status_code = status
    abort(response)


def _settings() -> Settings:
    """Return the settings of the app serving this request."""
    return current_app.extensions[SETTINGS_EXTENSION]


def require_keys(settings: Settings) -> FactorKeys:
    """Return the factor keys, or answer 503 without `SECRET_KEY`.

    A server without the key cannot seal a secret nor check a recovery
    code, so it refuses rather than store them in clear.
    """
    keys = FactorKeys.from_settings(settings)
    if keys is None:
        fail(503, MISSING_KEY)
    return keys


# TOTP ------------------------------------------------------------------

def time_step(moment: Optional[datetime] = None) -> int:
    """Return the RFC 6238 time step of `moment` (naive UTC; default now).
    """
    moment = clock.utcnow() if moment is None else moment
    return int((moment - _EPOCH).total_seconds() // TOTP_STEP_SECONDS)


def totp_code(secret: str, step: int) -> str:
    """Return the 6-digit code of Base32 `secret` at time step `step`."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS,
                      interval=TOTP_STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str,
                  after: Optional[int] = None) -> Optional[int]:
    """Return the time step whose code is `code`, or None.

    Steps now-1, now and now+1 are tried (constant-time comparisons);
    with `after`, only steps later than it count, so a code of a step
    already used (or older) is refused: a replay. Anything but six ASCII
    digits matches nothing (and is never compared).
    """
    if not isinstance(code, str) or not _TOTP_CODE.fullmatch(code):
        return None
    now = time_step()
    matches = [step for step in range(now - TOTP_DRIFT_STEPS,
                                      now + TOTP_DRIFT_STEPS + 1)
               if hmac.compare_digest(totp_code(secret, step), code)
               and (after is None or step > after)]
    # Every step is computed and compared, matched or not, so the time
    # taken does not tell which step (if any) matched.
    return matches[0] if matches else None


def totp_factor(user_id: str) -> Optional[Authenticator]:
    """Return the TOTP record of `user_id` (pending or on), or None."""
    if not isinstance(user_id, str):
        return None
    return Authenticator.get(Authenticator.totp_id(user_id))


def totp_enabled(user_id: str) -> bool:
    """Return True if `user_id` has a confirmed TOTP factor."""
    record = totp_factor(user_id)
    return record is not None and getattr(record, "_confirmed", False) \
        is True


SECOND_FACTOR_CHECKS: List[Callable[[str], bool]] = [totp_enabled]
"""Each tells whether a user id has a second factor that the password
login must ask for (§4.3); Basic credentials of such a user answer 403
(§4.2)."""


def has_second_factor(user_id: str) -> bool:
    """Return True if any of `SECOND_FACTOR_CHECKS` holds for `user_id`."""
    return any(check(user_id) for check in SECOND_FACTOR_CHECKS)


def begin_totp(user: User, settings: Settings) -> Tuple[str, str]:
    """Give `user` a new pending TOTP secret; return (secret, otpauth URI).

    A pending, unconfirmed secret is replaced. Answers 409 `totp already
    enabled` when TOTP is on, 503 without `SECRET_KEY`. The URI is
    `otpauth://totp/<issuer>:<email>?secret=...&issuer=<issuer>` (the Key
    Uri Format of Google Authenticator), issuer `TOTP_ISSUER`.
    """
    keys = require_keys(settings)
    secret = pyotp.random_base32(TOTP_SECRET_CHARS)
    sealed = keys.seal(user.id, secret)
    for _ in range(_CAS_TRIES):
        record = totp_factor(user.id)
        if record is None:
            Authenticator(id=Authenticator.totp_id(user.id),
                          user_id=user.id, kind=TOTP, _secret=sealed,
                          _confirmed=False).save()
            break
        if getattr(record, "_confirmed", False):
            fail(409, {"error": "totp already enabled"})
        if record.compare_and_set(
                {"_secret": sealed, "_last_step": None,
                 "updated_at": format_timestamp(clock.utcnow())},
                {"_confirmed": False,
                 "_secret": getattr(record, "_secret", None)}):
            break
    else:
        fail(409, {"error": "totp already enabled"})
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=user.email or user.id, issuer_name=settings.totp_issuer)
    return secret, uri


def confirm_totp(user: User, code: Any, settings: Settings,
                 auth: Any = None) -> List[str]:
    """Turn on the pending TOTP of `user` with its first `code`.

    Returns the new set of recovery codes (the old set is void). Answers
    409 `no totp pending`, 403 `wrong code`, 503 without `SECRET_KEY`.
    Each code checked is counted by the limits of `auth` (the app's auth,
    None: not counted) like a login, 429 past them (NIST SP 800-63B
    §3.2.2: OTP verification is rate limited). Logs `totp_enabled` and
    mails the `second_factor_changed` notice.
    """
    keys = require_keys(settings)
    record = totp_factor(user.id)
    if record is None or getattr(record, "_confirmed", False):
        fail(409, {"error": "no totp pending"})
    secret = keys.open(user.id, getattr(record, "_secret", None))
    if secret is None:
        fail(409, {"error": "no totp pending"})
    attempt = _count_attempt(auth, user, "totp_confirm")
    step = (matching_step(secret, code.strip())
            if isinstance(code, str) and len(code) <= MAX_CODE_LENGTH
            else None)
    if step is None:
        log_event("totp_confirm_failed", user=user.id)
        fail(403, {"error": "wrong code"})
    if not record.compare_and_set(
            {"_confirmed": True, "_last_step": step,
             "updated_at": format_timestamp(clock.utcnow())},
            {"_confirmed": False, "_secret": record._secret}):
        fail(409, {"error": "no totp pending"})
    if attempt is not None:
        auth.limits.succeeded(attempt)
    codes = renew_recovery_codes(user, keys, event=None)
    log_event("totp_enabled", user=user.id)
    notify(user, "second_factor_changed", "TOTP was enabled.")
    return codes


def remove_second_factors(user_id: str,
                          kinds: Tuple[str, ...] = (TOTP, RECOVERY)) -> int:
    """Delete the factors of `kinds` of `user_id`; return how many.

    TOTP and recovery codes go in one write; `passkey` among `kinds`
    also removes the user's `Passkey` records.
    """
    ids = [a.id for a in Authenticator.of_user(user_id)
           if a.kind in kinds]
    removed = Authenticator.remove_many(ids) if ids else 0
    if PASSKEY in kinds:
        from api.v1.auth.passkeys import remove_passkeys
        removed += remove_passkeys(user_id)
    return removed


def passkey_count(user_id: str) -> int:
    """Return how many passkeys `user_id` has registered."""
    from models.passkey import Passkey
    return len(Passkey.of_user(user_id))


def _forget_removed_user(user: User) -> None:
    """Delete the second factors of `user` once it is no longer stored.

    Connected to `credentials_changed`, which a removal sends (as do a
    password change and a revocation, for which nothing happens here).
    """
    if isinstance(getattr(user, "id", None), str) \
            and User.get(user.id) is None:
        remove_second_factors(user.id, (TOTP, RECOVERY, PASSKEY))


credentials_changed.connect(_forget_removed_user)


def remove_totp(user: User) -> None:
    """Remove the TOTP factor and recovery codes of `user`.

    Answers 409 `totp not enabled` when TOTP is not on. Logs
    `totp_disabled` and mails the `second_factor_changed` notice.
    """
    if not totp_enabled(user.id):
        fail(409, {"error": "totp not enabled"})
    remove_second_factors(user.id)
    log_event("totp_disabled", user=user.id, via="user")
    notify(user, "second_factor_changed", "TOTP was disabled.")


# Recovery codes --------------------------------------------------------

def normalize_code(code: str) -> str:
    """Return a recovery code without hyphens and spaces, lower case."""
    return re.sub(r"[\s\-]+", "", code).lower()


def new_recovery_code() -> str:
    """Return a new recovery code: 80 random bits as `xxxx-xxxx-xxxx-xxxx`
    (16 Base32 characters in lower case)."""
    text = b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode()
    text = text.lower()
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


def renew_recovery_codes(user: User, keys: FactorKeys,
                         event: Optional[str] = "recovery_codes_renewed"
                         ) -> List[str]:
    """Store a new set of recovery codes of `user`; return them in clear.

    The old set is void in the same write. Only the digests are stored;
    the codes are shown once. Logs `event` and mails the
    `second_factor_changed` notice (None: neither, as within enrolment).
    """
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    records = [Authenticator(
        id=Authenticator.recovery_id(keys.code_digest(
            user.id, normalize_code(code))),
        user_id=user.id, kind=RECOVERY) for code in codes]
    Authenticator.replace_all(user.id, RECOVERY, records)
    if event is not None:
        log_event(event, user=user.id)
        notify(user, "second_factor_changed",
               "New recovery codes were made; the old ones are void.")
    return codes


def recovery_codes_left(user_id: str) -> int:
    """Return how many unused recovery codes `user_id` holds."""
    return len(Authenticator.of_user(user_id, RECOVERY))


def use_recovery_code(user: User, code: str, keys: FactorKeys) -> bool:
    """Spend recovery `code` of `user`; return True if it was unused.

    One conditional delete by digest: of concurrent uses of one code on
    any processes or hosts, one returns True. Logs `recovery_code_used`.
    """
    normal = normalize_code(code)
    if not normal:
        return False
    record_id = Authenticator.recovery_id(keys.code_digest(user.id, normal))
    if not Authenticator.take(record_id):
        return False
    log_event("recovery_code_used", user=user.id,
              left=recovery_codes_left(user.id))
    return True


def use_totp(user: User, code: str, keys: FactorKeys) -> bool:
    """Accept TOTP `code` of `user` once; return False if wrong or replayed.

    The step of an accepted code is stored by a compare-and-set on the
    last used step, so two hosts racing with one code give one success.
    """
    for _ in range(_CAS_TRIES):
        record = totp_factor(user.id)
        if record is None or getattr(record, "_confirmed", False) is not True:
            return False
        secret = keys.open(user.id, getattr(record, "_secret", None))
        if secret is None:
            return False
        last = getattr(record, "_last_step", None)
        step = matching_step(secret, code, last)
        if step is None:
            return False
        if record.compare_and_set({"_last_step": step},
                                  {"_last_step": last,
                                   "_confirmed": True}):
            return True
    return False


def verify_code(user: User, value: Any, settings: Settings) -> Optional[str]:
    """Check a `code` field: a TOTP code (`otp`) or a recovery code (`rc`).

    Returns the RFC 8176 method that passed, or None for a wrong or
    replayed code. Answers 503 without `SECRET_KEY`.
    """
    if not isinstance(value, str) or len(value) > MAX_CODE_LENGTH:
        return None
    keys = require_keys(settings)
    text = value.strip()
    if _TOTP_CODE.fullmatch(text):
        return "otp" if use_totp(user, text, keys) else None
    return "rc" if use_recovery_code(user, text, keys) else None


def verify_passkey(user: User, value: Any,
                   settings: Settings) -> Optional[str]:
    """Check a `credential` field: a passkey assertion of `user` (`hwk`).

    `value` is the `AuthenticationResponseJSON` (a dict or its JSON text)
    answering a challenge of `POST /auth_session/passkeys/login/options`
    (account-security §5.2). Returns `hwk`, or None for a refused
    assertion or a passkey of another user. The passkey module (and
    py_webauthn) is imported at the first use.
    """
    from api.v1.auth.passkeys import second_step_method
    return second_step_method(user, value, settings)


VERIFIERS: Dict[str, Verifier] = {"code": verify_code,
                                  "credential": verify_passkey}
"""Second-step fields (§4.3, §4.4) and their checks, tried in order; the
first field present and non-empty in the request is the one checked."""


def chosen_verifier(fields: Dict[str, Any]) -> Optional[Tuple[str, Any]]:
    """Return (field name, value) of the first verifier field given."""
    for name in VERIFIERS:
        value = fields.get(name)
        if value is not None and value != "":
            return name, value
    return None


# The two-step login ------------------------------------------------------

def begin_second_step(flows: Any, user: User, settings: Settings,
                      amr: Tuple[str, ...] = ("pwd",)) -> str:
    """Leave a pending login of `user` in the flow store; return its token.

    The token has 256 random bits and lives `MFA_TOKEN_SECONDS`; the
    store keeps its SHA-256 with the user id, the credential epoch and
    the methods passed so far (a password change meanwhile voids it).
    """
    token = secrets.token_urlsafe(32)
    flows.put(MFA_FLOW, token, {"user_id": user.id,
                                "epoch": user.auth_epoch,
                                "amr": list(amr)},
              settings.mfa_token_seconds, user_id=user.id)
    return token


def _token_invalid(flows: Any, token: Optional[str] = None) -> None:
    """Void `token` (when given) and answer 401 `mfa_token invalid`."""
    if token is not None:
        flows.delete(MFA_FLOW, token)
    fail(401, {"error": "mfa_token invalid"})


def finish_second_step(auth: Any, fields: Dict[str, Any]) -> Response:
    """Finish a two-step login with `fields` (`mfa_token` and a verifier).

    Answers 400 `mfa_token missing` / `code missing`; 401 `mfa_token
    invalid` for an unknown, used or expired token, one that saw
    `MAX_WRONG_CODES` wrong codes or whose user's password changed; 401
    `wrong code` (counted by the account limits, 429 past them); else
    the contract's login answer with `amr` `["pwd", <method>]`, the token
    consumed. Each attempt is counted on the token before it is checked,
    so parallel guesses on one token get at most five checks.
    """
    settings = _settings()
    flows = current_app.extensions[FLOW_EXTENSION]
    token = fields.get("mfa_token")
    if token is None or token == "":
        fail(400, {"error": "mfa_token missing"})
    chosen = chosen_verifier(fields)
    if chosen is None:
        fail(400, {"error": "code missing"})
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH \
            or "\x00" in token:
        _token_invalid(flows)
    pending = flows.get(MFA_FLOW, token)
    if pending is None:
        _token_invalid(flows)
    tries = flows.incr(MFA_TRIES, token, settings.mfa_token_seconds)
    if tries > MAX_WRONG_CODES:
        _token_invalid(flows, token)
    user = User.get(pending.get("user_id"))
    if user is None or user.auth_epoch != pending.get("epoch"):
        _token_invalid(flows, token)
    attempt = _count_attempt(auth, user, "mfa")
    name, value = chosen
    method = VERIFIERS[name](user, value, settings)
    if method is None:
        log_event("login_failed", email=email_digest(user.email),
                  reason="wrong_code", user=user.id)
        if tries >= MAX_WRONG_CODES:
            flows.delete(MFA_FLOW, token)
        fail(401, {"error": "wrong code"})
    if flows.take(MFA_FLOW, token) is None:
        _token_invalid(flows)
    flows.delete(MFA_TRIES, token)
    if attempt is not None:
        auth.limits.succeeded(attempt)
    amr = [m for m in pending.get("amr") or ["pwd"] if isinstance(m, str)]
    return start_session(auth, user, amr + [method], pending.get("epoch"))


def _count_attempt(auth: Any, user: User, via: str) -> Any:
    """Count one check for `user` by the app's limits (429 past them).

    Returns the `Attempt` to give back on success, or None without
    limits.
    """
    limits = getattr(auth, "limits", None)
    if limits is None:
        return None
    return limits.attempt(user.email, request.remote_addr, user.id,
                          device_ok=device_owner(auth, request) == user.id,
                          via=via)


# Recent authentication ---------------------------------------------------

def require_recent(auth: Any = None, settings: Optional[Settings] = None
                   ) -> None:
    """Answer 401 `reauthentication required` unless the login is recent.

    Recent: the `auth_time` of the request's session (a fresh login, or
    the last `POST /auth_session/reauthenticate`) is at most
    `REAUTH_SECONDS` old (account-security §4.4; OWASP Session
    Management, "re-authentication for sensitive features"). `auth` and
    `settings` default to the serving app's. Without a session (another
    `AUTH_TYPE`) nothing is checked. Returns None when recent.
    """
    auth = current_app.extensions[AUTH_EXTENSION] if auth is None else auth
    settings = _settings() if settings is None else settings
    store = getattr(auth, "store", None)
    if store is None:
        return None
    session_id = auth.session_cookie(request)
    record = store.get(session_id) if isinstance(session_id, str) else None
    when = None if record is None else record.authenticated_at
    if when is None or when + timedelta(
            seconds=settings.reauth_seconds) < clock.utcnow():
        fail(401, REAUTH_REQUIRED)
    return None


def recent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark `view` **(recent)**: it runs only after `require_recent`."""
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        """Check that the login is recent, then run the view."""
        require_recent()
        return view(*args, **kwargs)
    return wrapped


def reauthenticate(auth: Any, user: User, fields: Dict[str, Any]) -> None:
    """Check `fields` (`password`, plus a verifier for a second factor).

    On success the current session's `auth_time` becomes now. Answers
    400 `password missing` / `code missing`, 403 `wrong password` /
    `wrong code` (counted by the limits like a login, 429 past them),
    403 when the session ended meanwhile. Returns None on success.
    """
    settings = _settings()
    password = fields.get("password")
    if password is None or password == "":
        fail(400, {"error": "password missing"})
    if not isinstance(password, str):
        fail(400, {"error": "Wrong format"})
    chosen = None
    if has_second_factor(user.id):
        chosen = chosen_verifier(fields)
        if chosen is None:
            fail(400, {"error": "code missing"})
    attempt = _count_attempt(auth, user, "reauthenticate")
    if len(password) > MAX_PASSWORD_LENGTH or "\x00" in password \
            or not user.is_valid_password(password):
        log_event("reauthentication_failed", user=user.id,
                  reason="wrong_password")
        fail(403, {"error": "wrong password"})
    if chosen is not None and VERIFIERS[chosen[0]](
            user, chosen[1], settings) is None:
        log_event("reauthentication_failed", user=user.id,
                  reason="wrong_code")
        fail(403, {"error": "wrong code"})
    if attempt is not None:
        auth.limits.succeeded(attempt)
    session_id = auth.session_cookie(request)
    if not isinstance(session_id, str) or not auth.store.set_auth_time(
            session_id, clock.utcnow()):
        abort(403)
    log_event("reauthenticated", user=user.id)
