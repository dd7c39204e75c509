"""Credential security: timing, brute-force limits, and the event log."""
import hmac
import logging

import pytest

from models import passwords
from conftest import basic_header, create_user, login, session_id_of

LOGIN = "/api/v1/auth_session/login"


def test_login_with_unknown_email_spends_a_verification(make_app,
                                                        monkeypatch):
    spent = []
    monkeypatch.setattr(passwords, "spend_verification", spent.append)
    client = make_app("session_auth").test_client()
    assert login(client, "ghost@hbtn.io", "guess").status_code == 404
    assert spent == ["guess"]


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
    for event in ("event=login", "event=logout", "event=login_failed",
                  "event=rate_limited", "event=session_expired",
                  "event=sessions_revoked"):
        assert event in events, events
    text = "\n".join(lines)
    for secret in ("H0lberton!", "Wr0ng-Guess", "Secret-Guess",
                   "Changed-Pwd", logged_out, expiring, revoked,
                   "ghost@hbtn.io", "bob@hbtn.io", "$argon2"):
        assert secret not in text
    assert "user={}".format(user.id) in text


def test_basic_auth_unknown_and_known_users_both_verify(make_app,
                                                        monkeypatch):
    create_user()
    verified = []
    real = passwords.verify_password

    def spy(stored, password):
        verified.append(password)
        return real(stored, password)
    monkeypatch.setattr(passwords, "verify_password", spy)
    client = make_app("basic_auth").test_client()
    for email in ("bob@hbtn.io", "ghost@hbtn.io"):
        response = client.get("/api/v1/users",
                              headers=basic_header(email, "nope"))
        assert response.status_code == 403
    assert verified == ["nope", "nope"]
