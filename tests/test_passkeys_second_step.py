"""A passkey as the second step of a two-step login (§4.3, §5.2)."""
import pyotp
import pytest

from conftest import create_user, login
from webauthn_soft import SoftAuthenticator

BASE = "/api/v1/auth_session"


@pytest.fixture
def app(make_app):
    return make_app("session_auth", secret_key="k" * 32)


def totp_user_with_passkey(app, email="bob@hbtn.io"):
    """Return (authenticator, TOTP) of a user with TOTP and a passkey."""
    client = app.test_client()
    create_user(email)
    assert login(client, email).status_code == 200
    secret = client.post(BASE + "/totp").get_json()["secret"]
    totp = pyotp.TOTP(secret)
    assert client.post(BASE + "/totp/confirm", json={
        "code": totp.now()}).status_code == 200
    key = SoftAuthenticator()
    options = client.post(BASE + "/passkeys/register/options").get_json()
    assert client.post(BASE + "/passkeys/register", json={
        "credential": key.register(options)}).status_code == 201
    return key, totp


def mfa_token(client, email="bob@hbtn.io"):
    answer = login(client, email)
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "second factor required"
    return answer.get_json()["mfa_token"]


def test_a_passkey_finishes_the_login_with_amr_pwd_hwk(app):
    key, _ = totp_user_with_passkey(app)
    client = app.test_client()
    token = mfa_token(client)
    options = client.post(BASE + "/passkeys/login/options").get_json()
    answer = client.post(BASE + "/login/mfa", json={
        "mfa_token": token, "credential": key.assert_(options)})
    assert answer.status_code == 200
    assert answer.get_json()["email"] == "bob@hbtn.io"
    sessions = client.get(BASE + "/sessions").get_json()
    assert [s["amr"] for s in sessions if s["current"]] == [["pwd", "hwk"]]


def test_a_passkey_of_another_user_is_refused(app):
    _, _ = totp_user_with_passkey(app)
    other, _ = totp_user_with_passkey(app, "alice@hbtn.io")
    client = app.test_client()
    token = mfa_token(client)
    options = client.post(BASE + "/passkeys/login/options").get_json()
    answer = client.post(BASE + "/login/mfa", json={
        "mfa_token": token, "credential": other.assert_(options)})
    assert answer.status_code == 401
    assert "Set-Cookie" not in answer.headers or \
        "_my_session_id=" not in answer.headers["Set-Cookie"]
    assert client.get(BASE + "/sessions").status_code == 401


def test_a_replayed_assertion_is_refused_as_a_second_step(app):
    key, _ = totp_user_with_passkey(app)
    client = app.test_client()
    options = client.post(BASE + "/passkeys/login/options").get_json()
    assertion = key.assert_(options)
    assert client.post(BASE + "/login/mfa", json={
        "mfa_token": mfa_token(client),
        "credential": assertion}).status_code == 200
    again = app.test_client()
    answer = again.post(BASE + "/login/mfa", json={
        "mfa_token": mfa_token(again), "credential": assertion})
    assert answer.status_code == 401
