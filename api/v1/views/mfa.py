#!/usr/bin/env python3
"""Second-factor views (account-security §4): thin calls into `auth.mfa`.

Every route exists only under a session `AUTH_TYPE` (404 otherwise) and,
but for the second login step, needs a live session (the guard answers
401/403 first). Routes marked **(recent)** answer 401 `reauthentication
required` when the session's `auth_time` is older than `REAUTH_SECONDS`.
"""
from typing import Any, Dict, Tuple

from flask import abort, jsonify, request

from api.v1.auth import mfa
from api.v1.views import active_auth, active_settings, app_views
from api.v1.views.session_auth import _session_auth
from api.v1.views.users import WRONG_FORMAT, json_object
from models.user import User


def _caller() -> User:
    """Return the authenticated caller; 404 outside the session types."""
    _session_auth()
    user = getattr(request, "current_user", None)
    if user is None:
        abort(404)
    return user


def _json_fields() -> Dict[str, Any]:
    """Return the JSON object body, or answer 400 `Wrong format`."""
    body = json_object()
    if body is None:
        mfa.fail(400, WRONG_FORMAT)
    return body


@app_views.route('/auth_session/totp', methods=['POST'],
                 strict_slashes=False)
@mfa.recent
def totp_begin() -> Tuple[str, int]:
    """POST /api/v1/auth_session/totp (recent): start TOTP enrolment.

    Returns 200 `{"secret": <Base32, 160 bits>, "otpauth_uri"}`; a
    pending secret is replaced. 409 `totp already enabled`; 503 `totp
    unavailable: SECRET_KEY is not set`.
    """
    user = _caller()
    secret, uri = mfa.begin_totp(user, active_settings())
    return jsonify({"secret": secret, "otpauth_uri": uri}), 200


@app_views.route('/auth_session/totp/confirm', methods=['POST'],
                 strict_slashes=False)
def totp_confirm() -> Tuple[str, int]:
    """POST /api/v1/auth_session/totp/confirm `{"code"}`: turn TOTP on.

    Returns 200 `{"recovery_codes": [10 strings]}` (shown once); 400
    `Wrong format` / `code missing`; 403 `wrong code`; 409 `no totp
    pending`.
    """
    user = _caller()
    code = _json_fields().get("code")
    if code is None or code == "":
        return jsonify({"error": "code missing"}), 400
    codes = mfa.confirm_totp(user, code, active_settings(), active_auth())
    return jsonify({"recovery_codes": codes}), 200


@app_views.route('/auth_session/totp', methods=['DELETE'],
                 strict_slashes=False)
@mfa.recent
def totp_remove() -> Tuple[str, int]:
    """DELETE /api/v1/auth_session/totp (recent): turn TOTP off.

    Removes the TOTP factor and the recovery codes. Returns 200 `{}`;
    409 `totp not enabled`.
    """
    mfa.remove_totp(_caller())
    return jsonify({}), 200


@app_views.route('/auth_session/recovery_codes', methods=['POST'],
                 strict_slashes=False)
@mfa.recent
def recovery_codes_renew() -> Tuple[str, int]:
    """POST /api/v1/auth_session/recovery_codes (recent): a new set.

    Returns 200 `{"recovery_codes": [10 strings]}`; the old set is void.
    409 `totp not enabled`; 503 without `SECRET_KEY`.
    """
    user = _caller()
    if not mfa.totp_enabled(user.id):
        return jsonify({"error": "totp not enabled"}), 409
    keys = mfa.require_keys(active_settings())
    return jsonify({"recovery_codes": mfa.renew_recovery_codes(
        user, keys)}), 200


@app_views.route('/auth_session/mfa', methods=['GET'], strict_slashes=False)
def mfa_status() -> Tuple[str, int]:
    """GET /api/v1/auth_session/mfa: the caller's second factors.

    Returns 200 `{"totp": bool, "recovery_codes_left": int, "passkeys":
    int}`.
    """
    user = _caller()
    return jsonify({
        "totp": mfa.totp_enabled(user.id),
        "recovery_codes_left": mfa.recovery_codes_left(user.id),
        "passkeys": mfa.passkey_count(user.id),
    }), 200


@app_views.route('/auth_session/login/mfa', methods=['POST'],
                 strict_slashes=False)
def login_second_step() -> Tuple[str, int]:
    """POST /api/v1/auth_session/login/mfa: finish a two-step login.

    Form or JSON fields `mfa_token` and `code` (a TOTP or recovery code),
    or `credential` instead of `code` (a passkey assertion; any verifier
    of `mfa.VERIFIERS`). Open (no session needed). Returns 200 with the
    user and the session cookie; 400 `mfa_token missing` / `code
    missing`; 401 `mfa_token invalid` / `wrong code`; 429 past the
    limits.
    """
    auth = _session_auth()
    if request.is_json:
        fields = _json_fields()
    else:
        fields = request.form.to_dict()
    return mfa.finish_second_step(auth, fields), 200


@app_views.route('/auth_session/reauthenticate', methods=['POST'],
                 strict_slashes=False)
def reauthenticate() -> Tuple[str, int]:
    """POST /api/v1/auth_session/reauthenticate: renew `auth_time`.

    JSON `{"password"}`, plus `"code"` for a user with TOTP. Returns 200
    `{}`; 400 `password missing` / `code missing`; 403 `wrong password`
    / `wrong code` (counted by the limits, 429 past them).
    """
    auth = _session_auth()
    user = _caller()
    mfa.reauthenticate(auth, user, _json_fields())
    return jsonify({}), 200
