"""Second-factor changes send the owner a `second_factor_changed` notice.

account-security §7.3: a passkey added or removed (and, with §4, TOTP
enabled or disabled, recovery codes renewed, the CLI's `disable-mfa`)
mails the account's address, through a real SMTP server (aiosmtpd).
"""
import pytest

from api.v1.config import MAIL_EXTENSION
from conftest import create_user, login
from mail_sink import body_of
from webauthn_soft import SoftAuthenticator

BOB = ("bob@hbtn.io", "H0lberton!")
PASSKEYS = "/api/v1/auth_session/passkeys"
SUBJECT = "Your sign-in methods were changed"


@pytest.fixture
def app(make_app, sink):
    app = make_app("session_auth", mail_url=sink.url,
                   notices=("second_factor_changed",))
    yield app
    app.extensions[MAIL_EXTENSION].close(15)


def signed_in(app):
    client = app.test_client()
    create_user(*BOB)
    assert login(client, *BOB).status_code == 200
    return client


def factor_notices(app, sink, count):
    """Wait for the mail thread, then return `count` factor notices."""
    assert app.extensions[MAIL_EXTENSION].drain(15)
    messages = sink.wait_for(count)
    return [body_of(m) for m in messages if m["Subject"] == SUBJECT]


def test_adding_and_removing_a_passkey_each_send_a_notice(app, sink):
    client = signed_in(app)
    key = SoftAuthenticator()
    options = client.post(PASSKEYS + "/register/options").get_json()
    created = client.post(PASSKEYS + "/register", json={
        "credential": key.register(options), "name": "Laptop"})
    assert created.status_code == 201
    [added] = factor_notices(app, sink, 1)
    assert "A passkey was added." in added

    assert client.delete(PASSKEYS + "/" + key.id).status_code == 200
    bodies = factor_notices(app, sink, 2)
    assert len(bodies) == 2 and "A passkey was removed." in bodies[1]


def test_a_refused_registration_sends_nothing(app, sink):
    client = signed_in(app)
    options = client.post(PASSKEYS + "/register/options").get_json()
    answer = SoftAuthenticator().register(options, origin="https://evil")
    assert client.post(PASSKEYS + "/register", json={
        "credential": answer}).status_code == 400
    assert app.extensions[MAIL_EXTENSION].drain(15)
    assert sink.messages == []
