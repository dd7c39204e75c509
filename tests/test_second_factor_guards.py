"""What a password alone, a guessed code or a bare assertion cannot do.

A password change renews a TOTP user's session without making it recent
(§2, §4.4; ASVS 5.0 7.5.1), the first code of a TOTP enrolment is counted
by the limits (NIST SP 800-63B §3.2.2), and a passkey login needs the
user handle (WebAuthn L2 §7.2 step 6). Through the Flask test client,
with the helpers of `test_mfa`.
"""
import pytest

from conftest import create_user, login
from test_mfa import (CODES, CONFIRM, KEY, REAUTH, STATUS, TOTP, code_at,
                      enrolled_app)

pytestmark = pytest.mark.quick_hashing

PASSWORD = "/api/v1/users/me/password"


def test_a_password_change_does_not_stand_in_for_the_second_factor(
        make_app, frozen_clock):
    """A stale session of a TOTP user plus the password alone does not
    reach the (recent) routes: reauthentication asks for the code, and
    the session a password change renews keeps the old `auth_time` and
    `amr`; password and code together still make it recent."""
    app, owner, secret, _ = enrolled_app(make_app, frozen_clock,
                                         reauth_seconds=120)
    frozen_clock.advance(121)
    assert owner.delete(TOTP).status_code == 401
    assert owner.post(REAUTH, json={"password": "H0lberton!"}
                      ).status_code == 400          # code missing
    changed = owner.put(PASSWORD, json={"current_password": "H0lberton!",
                                        "new_password": "N3w password!"})
    assert changed.status_code == 200
    renewed = owner.post(CODES)
    removed = owner.delete(TOTP)
    assert (renewed.status_code, removed.status_code) == (401, 401), (
        "recovery codes renewed and TOTP removed with the password only")
    assert owner.get(STATUS).get_json()["totp"] is True
    assert owner.get("/api/v1/auth_session/sessions").status_code == 200
    frozen_clock.advance(30)
    assert owner.post(REAUTH, json={
        "password": "N3w password!",
        "code": code_at(secret, frozen_clock)}).status_code == 200
    assert owner.post(CODES).status_code == 200


def test_a_password_change_does_not_open_passkey_registration(
        make_app, frozen_clock):
    """Nor does it open passkey registration, whose passkey would log in
    alone (amr `hwk`) and survive a password reset."""
    app, owner, _, _ = enrolled_app(make_app, frozen_clock,
                                    reauth_seconds=120)
    frozen_clock.advance(121)
    options = "/api/v1/auth_session/passkeys/register/options"
    assert owner.post(options).status_code == 401
    owner.put(PASSWORD, json={"current_password": "H0lberton!",
                              "new_password": "N3w password!"})
    assert owner.post(options).status_code == 401


def test_totp_confirmation_guesses_are_limited(make_app, frozen_clock):
    """Wrong codes at `POST /totp/confirm` count against the limits like
    a login: a session cannot guess the code of a pending secret without
    bound (a hit would hand it the ten recovery codes)."""
    create_user()
    app = make_app("session_auth", secret_key=KEY,
                   login_limit_per_account="3/minute",
                   login_limit_per_address="3/minute")
    client = app.test_client()
    assert login(client).status_code == 200
    secret = client.post(TOTP).get_json()["secret"]
    right = {code_at(secret, frozen_clock, s) for s in (-30, 0, 30)}
    wrong = [c for c in ("{:06d}".format(i) for i in range(40))
             if c not in right][:30]
    statuses = [client.post(CONFIRM, json={"code": c}).status_code
                for c in wrong]
    assert 429 in statuses, "30 wrong confirmation codes, none limited"


def test_a_discoverable_login_without_a_user_handle_is_refused(make_app):
    """WebAuthn L2 §7.2 step 6: with an empty `allowCredentials` (the user
    was not identified before the ceremony) `userHandle` must be present
    and name the credential's owner; an assertion without it answers 401
    `passkey refused`, and the same key with its handle logs in."""
    from webauthn_soft import SoftAuthenticator
    base = "/api/v1/auth_session/passkeys"
    app = make_app("session_auth")
    create_user()
    client = app.test_client()
    assert login(client).status_code == 200
    key = SoftAuthenticator()
    options = client.post(base + "/register/options").get_json()
    assert client.post(base + "/register", json={
        "credential": key.register(options)}).status_code == 201
    handle, key.user_handle = key.user_handle, None
    options = app.test_client().post(base + "/login/options").get_json()
    answer = app.test_client().post(base + "/login", json={
        "credential": key.assert_(options)})
    assert (answer.status_code, answer.get_json()) == (
        401, {"error": "passkey refused"})
    key.user_handle = handle
    options = app.test_client().post(base + "/login/options").get_json()
    assert app.test_client().post(base + "/login", json={
        "credential": key.assert_(options)}).status_code == 200
