"""Credential security: timing, brute-force limits, and the event log."""
import hmac
import logging

import pytest

from models import passwords
from conftest import basic_header, create_user, login, session_id_of

pytestmark = pytest.mark.quick_hashing

LOGIN = "/api/v1/auth_session/login"


@pytest.mark.real_hashing
def test_login_with_unknown_email_spends_a_verification(make_app,
                                                        monkeypatch):
    spent = []
    monkeypatch.setattr(passwords, "spend_verification", spent.append)
    client = make_app("session_auth").test_client()
    assert login(client, "ghost@hbtn.io", "guess").status_code == 404
    assert spent == ["guess"]


@pytest.mark.real_hashing
def test_spend_verification_really_verifies(monkeypatch):
    calls = []
    real = passwords.verify_password

    def counting(stored, password):
        calls.append((stored, password, real(stored, password)))
        return calls[-1][2]
    monkeypatch.setattr(passwords, "verify_password", counting)
    passwords.spend_verification("guess")
    assert len(calls) == 1
    stored, password, result = calls[0]
    assert stored.startswith("$argon2id$") and password == "guess"
    assert result is False


def test_legacy_comparison_is_constant_time(monkeypatch):
    import hashlib
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    stored = hashlib.sha256(b"pw").hexdigest()
    assert passwords.verify_password(stored, "pw")
    assert compared == [(stored, stored)]


def fail(client, email="bob@hbtn.io", password="Wr0ng-Guess",
         address=None):
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post(LOGIN, data={"email": email, "password": password},
                       environ_base=environ)


def test_account_is_locked_after_repeated_failures(make_app):
    create_user()
    client = make_app("session_auth").test_client()
    for _ in range(5):
        assert fail(client).status_code == 401
    response = fail(client, password="H0lberton!")       # right password
    assert (response.status_code, response.get_json()) == (
        429, {"error": "Too many requests"})
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert fail(client, email="BOB@hbtn.io").status_code == 429
    other = fail(client, email="ann@hbtn.io")            # another account
    assert other.status_code == 404


def test_successes_do_not_count(make_app):
    create_user()
    client = make_app("session_auth").test_client()
    for _ in range(8):
        assert login(client).status_code == 200


def test_address_is_limited_across_accounts(make_app):
    client = make_app("session_auth",
                      login_limit_per_address="3 per minute").test_client()
    for i in range(3):
        assert fail(client, "u{}@x.io".format(i), address="10.0.0.1") \
            .status_code == 404
    assert fail(client, "u9@x.io", address="10.0.0.1").status_code == 429
    assert fail(client, "u9@x.io", address="10.0.0.2").status_code == 404


def test_retry_after_only_on_429(make_app):
    create_user()
    client = make_app("session_auth").test_client()
    assert "Retry-After" not in login(client).headers
    assert "Retry-After" not in fail(client).headers


def test_event_log_lines_hold_no_secrets(make_app, caplog, frozen_clock):
    user = create_user()
    app = make_app("session_exp_auth", session_duration=60,
                   login_limit_per_account="2 per minute")
    with caplog.at_level(logging.INFO, logger="api.auth"):
        client = app.test_client()
        logged_out = session_id_of(login(client))
        client.delete("/api/v1/auth_session/logout")
        expiring = session_id_of(login(app.test_client()))
        revoked = session_id_of(login(app.test_client()))
        login(client, "ghost@hbtn.io", "Secret-Guess")
        fail(client)
        fail(client)
        fail(client)                                      # rate limited
        frozen_clock.advance(61)
        checker = app.test_client()
        checker.set_cookie("_my_session_id", expiring)
        checker.get("/api/v1/users/me")                   # expired
        frozen_clock.advance(-61)
        user.password = "Changed-Pwd"
        user.save()                                       # revoked
    lines = [r.getMessage() for r in caplog.records if r.name == "api.auth"]
    events = [line.split()[1] for line in lines]
    for event in ("event=login_succeeded", "event=logout",
                  "event=login_failed", "event=limited",
                  "event=session_expired", "event=sessions_revoked"):
        assert event in events, events
    text = "\n".join(lines)
    for secret in ("H0lberton!", "Wr0ng-Guess", "Secret-Guess",
                   "Changed-Pwd", logged_out, expiring, revoked,
                   "ghost@hbtn.io", "bob@hbtn.io", "$argon2"):
        assert secret not in text
    assert "user={}".format(user.id) in text


def test_basic_auth_unknown_and_known_users_both_verify(make_app,
                                                        verifications):
    create_user()
    verified = verifications
    client = make_app("basic_auth").test_client()
    for email in ("bob@hbtn.io", "ghost@hbtn.io"):
        response = client.get("/api/v1/users",
                              headers=basic_header(email, "nope"))
        assert response.status_code == 403
    assert verified == ["nope", "nope"]


def test_basic_credentials_verify_once_then_hit_the_cache(
        make_app, verifications):
    create_user()
    client = make_app("basic_auth").test_client()
    calls = verifications
    headers = basic_header("bob@hbtn.io", "H0lberton!")
    for _ in range(5):
        assert client.get("/api/v1/users/me", headers=headers) \
            .status_code == 200
    assert calls == ["H0lberton!"]                # argon2 once


def test_failures_are_never_cached(make_app, request):
    create_user()
    client = make_app("basic_auth",
                      login_limit_per_account="100 per minute",
                      login_limit_per_address="100 per minute").test_client()
    calls = request.getfixturevalue("verifications")
    wrong = basic_header("bob@hbtn.io", "wrong")
    for _ in range(3):
        assert client.get("/api/v1/users", headers=wrong).status_code == 403
    assert calls == ["wrong"] * 3


@pytest.mark.parametrize("change, status", [
    ("password", 403), ("revocation", 200), ("rehash", 200),
    ("deletion", 403)])
def test_a_credential_change_misses_the_cache_at_once(make_app, request,
                                                      change, status):
    from models.user import User
    user = create_user()
    client = make_app("basic_auth").test_client()
    headers = basic_header("bob@hbtn.io", "H0lberton!")
    assert client.get("/api/v1/users/me", headers=headers).status_code \
        == 200                                  # cached from here on
    stored = User.get(user.id)                  # as another process would
    if change == "password":
        stored.password = "Changed!"
        stored.save()
    elif change == "revocation":
        stored.revoke_sessions()
    elif change == "rehash":                    # same password, new hash
        stored._password = passwords.hash_password("H0lberton!")
        stored.save()
    else:
        stored.remove()
    calls = request.getfixturevalue("verifications")
    response = client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == status
    assert len(calls) == 1                      # a miss: argon2 again


def test_the_cache_keeps_no_password_and_keys_differ_per_process():
    from api.v1.auth.credential_cache import VerifiedCredentials
    first = VerifiedCredentials(120, 10)
    second = VerifiedCredentials(120, 10)
    first.remember("u1", "Secret-Pwd", "$argon2id$hash", 1)
    assert first.knows("u1", "Secret-Pwd", "$argon2id$hash", 1)
    assert not second.knows("u1", "Secret-Pwd", "$argon2id$hash", 1)
    for key in first._entries:
        assert b"Secret-Pwd" not in key and len(key) == 32
    for other in (("u2", "Secret-Pwd", "$argon2id$hash", 1),
                  ("u1", "Secret-Pwd!", "$argon2id$hash", 1),
                  ("u1", "Secret-Pwd", "$argon2id$other", 1),
                  ("u1", "Secret-Pwd", "$argon2id$hash", 2),
                  ("u1S", "ecret-Pwd", "$argon2id$hash", 1)):
        assert not first.knows(*other), other


def test_the_cache_is_bounded_in_time_and_size(monkeypatch):
    import time
    from api.v1.auth.credential_cache import VerifiedCredentials
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache = VerifiedCredentials(120, 2)
    for user in ("a", "b", "c"):
        cache.remember(user, "pw", "h", 0)
    assert not cache.knows("a", "pw", "h", 0)        # evicted: size 2
    assert cache.knows("c", "pw", "h", 0)
    now[0] += 121
    assert not cache.knows("c", "pw", "h", 0)        # expired
    off = VerifiedCredentials(0, 10)
    off.remember("a", "pw", "h", 0)
    assert not off.knows("a", "pw", "h", 0)
