"""Mail (account-security §7.1, §7.3): transports, outbox, notices, CLI.

Every SMTP test talks to a real server: aiosmtpd started in this process
on a free port (`mail_sink.SmtpSink`). Waits poll the server (a
condition variable), never sleep.
"""
import logging
import os
import re
import smtplib
import socket
import stat
import time
from email import message_from_bytes, policy

import pytest

from api.v1.config import MAIL_EXTENSION
from api.v1.mail import outbox
from api.v1.mail.transport import (MailConfigError, Transport,
                                   build_message, deliver, parse_mail_url)
from conftest import create_user, login
from mail_sink import SmtpSink, body_of, free_port

pytestmark = pytest.mark.quick_hashing

BOB = ("bob@hbtn.io", "H0lberton!")
UA = "Mozilla/5.0 (X11; Linux x86_64) mail-test"


@pytest.fixture
def mail_app(make_app, sink):
    """Build session-auth apps that mail to `sink`; drain them after."""
    built = []

    def build(auth_type="session_auth", **values):
        values.setdefault("mail_url", sink.url)
        app = make_app(auth_type, **values)
        built.append(app)
        return app
    yield build
    for app in built:
        mailer = app.extensions[MAIL_EXTENSION]
        if mailer is not None:
            mailer.close(15)


def drain(app) -> None:
    assert app.extensions[MAIL_EXTENSION].drain(15)


# --- MAIL_URL ---------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example", Transport("smtp", "mail.example", 25)),
    ("smtp+starttls://u:p@mail.example",
     Transport("smtp+starttls", "mail.example", 587, "u", "p")),
    ("smtps://mail.example", Transport("smtps", "mail.example", 465)),
    ("smtp://a%40b:p%3Aw%2F@h:2525", Transport("smtp", "h", 2525, "a@b",
                                               "p:w/")),
    ("file:///var/mail/outbox", Transport("file", folder="/var/mail/outbox")),
])
def test_mail_url_names_the_transport(url, expected):
    assert parse_mail_url(url) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://",
                                 "file://relative/folder", "smtp://h:x",
                                 "file://host/outbox"])
def test_malformed_mail_url_is_a_config_error(url):
    with pytest.raises(MailConfigError):
        parse_mail_url(url)


def test_transport_repr_hides_the_password():
    transport = parse_mail_url("smtp://user:s3cret-pw@h")
    assert "s3cret-pw" not in repr(transport)
    assert "s3cret-pw" not in transport.describe()


def test_malformed_mail_url_stops_the_app(make_app):
    with pytest.raises(MailConfigError):
        make_app("session_auth", mail_url="gopher://x")


# --- transports -------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_with_credentials_hands_the_message_over():
    server = SmtpSink(credentials=("mailer", "pa ss:wd")).start()
    try:
        good = parse_mail_url("smtp://mailer:pa%20ss%3Awd@127.0.0.1:{}"
                              .format(server.port))
        deliver(good, build_message("Session API <no-reply@localhost>",
                                    "bob@hbtn.io", "Hi", "Hello\n"))
        [message] = server.wait_for(1)
        assert message["Subject"] == "Hi"
        assert server.envelopes == [("no-reply@localhost",
                                     ("bob@hbtn.io",))]
        bad = parse_mail_url("smtp://mailer:wrong@127.0.0.1:{}".format(
            server.port))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            deliver(bad, build_message("a@localhost", "b@localhost", "x",
                                       "y\n"))
        anonymous = parse_mail_url("smtp://127.0.0.1:{}".format(
            server.port))
        with pytest.raises(smtplib.SMTPException):
            deliver(anonymous, build_message("a@localhost", "b@localhost",
                                             "x", "y\n"))
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_starttls_refused_by_a_server_without_tls_is_a_failure(sink):
    transport = parse_mail_url("smtp+starttls://127.0.0.1:{}".format(
        sink.port))
    with pytest.raises(Exception) as failed:
        deliver(transport, build_message("a@localhost", "b@localhost", "x",
                                         "y\n"))
    assert "STARTTLS" in str(failed.value) or "starttls" in str(
        failed.value).lower()
    assert sink.messages == []


def test_smtps_to_a_plain_server_fails_within_the_timeout(sink):
    transport = parse_mail_url("smtps://127.0.0.1:{}".format(sink.port))
    started = time.monotonic()
    with pytest.raises(OSError):
        deliver(transport, build_message("a@localhost", "b@localhost", "x",
                                         "y\n"), timeout=2)
    assert time.monotonic() - started < 5


def test_file_outbox_writes_private_rfc5322_files(tmp_path):
    folder = tmp_path / "outbox" / "new"
    transport = parse_mail_url("file://" + str(folder))
    deliver(transport, build_message("Session API <no-reply@localhost>",
                                     "zoë@hbtn.io", "Grüße", "Ünïcode ✓\n"))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    [name] = os.listdir(folder)
    assert name.endswith(".eml")
    path = folder / name
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    for header in ("From", "To", "Subject", "Date", "Message-ID"):
        assert message[header], header
    assert message["Subject"] == "Grüße"
    part = message.get_body(preferencelist=("plain",))
    assert part.get_content_type() == "text/plain"
    assert part.get_content_charset() == "utf-8"
    assert part.get_content() == "Ünïcode ✓\n"


# --- mail off ---------------------------------------------------------

def test_mail_off_keeps_the_surface_of_the_contract(make_app):
    app = make_app("session_auth")
    assert app.extensions[MAIL_EXTENSION] is None
    client = app.test_client()
    create_user(*BOB)
    for path in ("/api/v1/auth_session/recovery",
                 "/api/v1/auth_session/recovery/confirm"):
        response = client.post(path, data={"email": BOB[0]})
        assert response.status_code == 401
        assert response.get_json() == {"error": "Unauthorized"}
    assert login(client).status_code == 200
    for path in ("/api/v1/auth_session/recovery",
                 "/api/v1/auth_session/recovery/confirm"):
        response = client.post(path, data={"email": BOB[0]})
        assert (response.status_code, response.get_json()) == (
            404, {"error": "Not found"})
    assert client.get("/account/recover").status_code == 404


# --- the outbox: never a delay, never a 500 ---------------------------

def test_smtp_down_answers_at_once_and_counts_the_failure(mail_app,
                                                          caplog):
    closed = "smtp://127.0.0.1:{}".format(free_port())
    app = mail_app(mail_url=closed)
    create_user(*BOB)
    client = app.test_client()
    before = outbox.mail_message_counts().get(("recovery", "failed"), 0)
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    response = client.post("/api/v1/auth_session/recovery",
                           data={"email": BOB[0]})
    assert time.monotonic() - started < 1
    assert response.status_code == 202
    drain(app)
    assert outbox.mail_message_counts()[("recovery", "failed")] == \
        before + 1
    [line] = [r for r in caplog.records if r.name == "api.mail"]
    assert line.getMessage().startswith(
        "mail kind=recovery result=failed error=ConnectionRefusedError")
    assert (line.event, line.kind, line.result) == ("mail", "recovery",
                                                    "failed")
    assert "token" not in line.getMessage()
    assert client.get("/api/v1/status").status_code == 200
    assert login(client).status_code == 200


def test_a_hanging_smtp_server_never_delays_an_answer(mail_app):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        app = mail_app(mail_url="smtp://127.0.0.1:{}".format(
            listener.getsockname()[1]))
        create_user(*BOB)
        client = app.test_client()
        for _ in range(3):
            started = time.monotonic()
            response = client.post("/api/v1/auth_session/recovery",
                                   data={"email": BOB[0]})
            assert response.status_code == 202
            assert time.monotonic() - started < 0.5
        started = time.monotonic()
        assert login(client).status_code == 200
        assert time.monotonic() - started < 1
    finally:
        listener.close()


# --- security notices (§7.3) ------------------------------------------

TIME = re.compile(r"^When: \d{4}-\d\d-\d\d \d\d:\d\d UTC\r?$", re.M)


def _notices(sink, kind_subject):
    return sink.to(BOB[0], kind_subject)


def test_new_device_notice_once_an_hour_per_account_and_address(
        mail_app, sink):
    app = mail_app()
    create_user(*BOB)
    first = app.test_client()
    response = first.post("/api/v1/auth_session/login",
                          data={"email": BOB[0], "password": BOB[1]},
                          headers={"User-Agent": UA})
    assert response.status_code == 200
    [message] = sink.wait_for(1)
    assert message["Subject"] == "New sign-in to your account"
    assert message["To"] == BOB[0]
    text = body_of(message)
    assert TIME.search(text), text
    assert "Address: 127.0.0.1" in text
    assert "Browser or app: " + UA in text
    session_id = response.headers["Set-Cookie"].split(";")[0].split("=")[1]
    assert session_id not in text and BOB[1] not in text
    assert "#token=" not in text
    # The same client again, with its device cookie: no notice.
    assert login(first).status_code == 200
    # Another browser at the same address within the hour: no notice.
    assert login(app.test_client()).status_code == 200
    drain(app)
    assert len(sink.messages) == 1
    # Another address: a notice.
    other = app.test_client()
    response = other.post("/api/v1/auth_session/login",
                          data={"email": BOB[0], "password": BOB[1]},
                          environ_base={"REMOTE_ADDR": "2001:db8::7"})
    assert response.status_code == 200
    [_, second] = sink.wait_for(2)
    assert "Address: 2001:db8::7" in body_of(second)


def test_password_changed_notice_from_the_api_and_the_cli(mail_app, sink):
    app = mail_app()
    create_user(*BOB)
    client = app.test_client()
    assert login(client).status_code == 200
    sink.wait_for(1)
    response = client.put("/api/v1/users/me/password",
                          json={"current_password": BOB[1],
                                "new_password": "n3w-Passw0rd"})
    assert response.status_code == 200
    messages = sink.wait_for(2)
    assert messages[1]["Subject"] == "Your password was changed"
    assert "n3w-Passw0rd" not in body_of(messages[1])
    assert TIME.search(body_of(messages[1]))
    result = app.test_cli_runner().invoke(
        args=["set-password", BOB[0], "--password-stdin"],
        input="an0ther-Passw0rd\n")
    assert result.exit_code == 0, result.output
    messages = sink.wait_for(3)
    assert messages[2]["Subject"] == "Your password was changed"
    assert "Address: unknown" in body_of(messages[2])


@pytest.mark.parametrize("notices, subjects", [
    ("", []),
    ("new_device", ["New sign-in to your account"]),
    ("password_changed", ["Your password was changed"]),
])
def test_notices_setting_chooses_the_notices(mail_app, sink, notices,
                                             subjects):
    from models.settings import parse_names, NOTICE_KINDS
    app = mail_app(notices=parse_names(notices, NOTICE_KINDS))
    create_user(*BOB)
    client = app.test_client()
    assert login(client).status_code == 200
    assert client.put("/api/v1/users/me/password",
                      json={"current_password": BOB[1],
                            "new_password": "n3w-Passw0rd"}
                      ).status_code == 200
    drain(app)
    assert [m["Subject"] for m in sink.messages] == subjects


def test_notify_is_the_entry_point_for_second_factor_changes(mail_app,
                                                             sink):
    from api.v1.mail.notices import notify
    app = mail_app()
    user = create_user(*BOB)
    with app.test_request_context(
            "/", environ_base={"REMOTE_ADDR": "192.0.2.4"},
            headers={"User-Agent": UA}):
        assert notify(user, "second_factor_changed", "TOTP enabled")
    [message] = sink.wait_for(1)
    assert message["Subject"] == "Your sign-in methods were changed"
    text = body_of(message)
    assert "TOTP enabled" in text and "Address: 192.0.2.4" in text
    with pytest.raises(ValueError):
        with app.app_context():
            notify(user, "birthday")


def test_no_notice_without_mail(make_app):
    from api.v1.mail.notices import notify
    app = make_app("session_auth")
    user = create_user(*BOB)
    with app.test_request_context("/"):
        assert notify(user, "password_changed") is False
    assert notify(user, "password_changed") is False


def test_sent_messages_are_counted(mail_app, sink):
    app = mail_app()
    create_user(*BOB)
    before = outbox.mail_message_counts().get(("new_device", "sent"), 0)
    assert login(app.test_client()).status_code == 200
    sink.wait_for(1)
    drain(app)
    assert outbox.mail_message_counts()[("new_device", "sent")] == \
        before + 1


# --- CLI: send-test-mail ----------------------------------------------

def test_send_test_mail_hands_one_message_over(mail_app, sink):
    app = mail_app(mail_from="Ops <ops@example.org>")
    result = app.test_cli_runner().invoke(args=["send-test-mail",
                                                "me@example.org"])
    assert result.exit_code == 0, result.output
    assert "handed over to smtp://127.0.0.1:{}".format(sink.port) in \
        result.output
    [message] = sink.wait_for(1)
    assert message["To"] == "me@example.org"
    assert message["From"] == "Ops <ops@example.org>"
    assert message["Message-ID"].endswith("@example.org>")


def test_send_test_mail_reports_the_transport_error(mail_app):
    app = mail_app(mail_url="smtp://127.0.0.1:{}".format(free_port()))
    result = app.test_cli_runner().invoke(args=["send-test-mail",
                                                "me@example.org"])
    assert result.exit_code == 1
    assert "ConnectionRefusedError" in result.output


def test_send_test_mail_without_mail_is_a_config_error(make_app):
    app = make_app("session_auth")
    result = app.test_cli_runner().invoke(args=["send-test-mail",
                                                "me@example.org"])
    assert result.exit_code == 78
    assert "MAIL_URL" in result.output


# --- the real CLI, in its own process ---------------------------------

def _flask(cwd, args, env, stdin=None):
    import subprocess
    import sys
    from conftest import server_env
    environ = server_env(env)
    return subprocess.run([sys.executable, "-m", "flask", "--app",
                           "api.v1.app"] + args, cwd=cwd, env=environ,
                          input=stdin, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.real_hashing
def test_the_cli_sends_its_notice_before_it_exits(workdir):
    """`set-password` queues the notice; the process waits for it."""
    outbox_folder = workdir / "outbox"
    create_user(*BOB)
    env = {"MAIL_URL": "file://" + str(outbox_folder)}
    result = _flask(workdir, ["set-password", BOB[0], "--password-stdin"],
                    env, stdin="a new passphrase\n")
    assert result.returncode == 0, result.stderr
    [name] = os.listdir(outbox_folder)
    message = message_from_bytes((outbox_folder / name).read_bytes(),
                                 policy=policy.default)
    assert message["Subject"] == "Your password was changed"
    assert message["To"] == BOB[0]
    result = _flask(workdir, ["send-test-mail", "me@example.org"], env)
    assert result.returncode == 0, result.stderr
    assert len(os.listdir(outbox_folder)) == 2
    result = _flask(workdir, ["send-test-mail", "me@example.org"], {})
    assert result.returncode == 78
    assert "MAIL_URL" in result.stderr


@pytest.mark.real_hashing
def test_a_real_server_with_smtp_down_keeps_serving(workdir):
    import requests
    from conftest import api_server
    create_user(*BOB)
    closed = "smtp://127.0.0.1:{}".format(free_port())
    with api_server(workdir, AUTH_TYPE="session_auth",
                    MAIL_URL=closed) as server:
        for _ in range(5):
            started = time.monotonic()
            response = requests.post(
                server.url + "/api/v1/auth_session/recovery",
                data={"email": BOB[0]}, timeout=5)
            assert response.status_code == 202
            assert time.monotonic() - started < 1
        response = requests.post(server.url + "/api/v1/auth_session/login",
                                 data={"email": BOB[0], "password": BOB[1]},
                                 timeout=5)
        assert response.status_code == 200
        assert requests.get(server.url + "/api/v1/status",
                            timeout=5).status_code == 200
        deadline = time.monotonic() + 10
        while "mail kind=recovery result=failed" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        assert "#token=" not in server.output()


def test_malformed_recovery_limit_stops_the_app(make_app):
    with pytest.raises(MailConfigError, match="RECOVERY_LIMIT_PER_ADDRESS"):
        make_app("session_auth", mail_url="file:///tmp/outbox",
                 recovery_limit_per_address="ten an hour")


# --- TLS: STARTTLS and SMTPS with credentials, certificates verified ---

@pytest.fixture
def certificate(tmp_path, monkeypatch):
    """A self-signed certificate of 127.0.0.1 that the client trusts.

    Made with the `openssl` command; the client's default context reads
    `SSL_CERT_FILE`, so the transport's verification stays on.
    """
    import shutil
    import ssl
    import subprocess
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return context


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
def test_tls_transports_with_credentials(certificate, scheme, monkeypatch):
    options = ({"starttls": certificate} if scheme == "smtp+starttls"
               else {"smtps": certificate})
    server = SmtpSink(credentials=("mailer", "s3cret"), **options).start()
    try:
        url = "{}://mailer:s3cret@127.0.0.1:{}".format(scheme, server.port)
        deliver(parse_mail_url(url),
                build_message("a@localhost", "bob@hbtn.io", "Over TLS",
                              "Hello\n"))
        [message] = server.wait_for(1)
        assert message["Subject"] == "Over TLS"
        # An untrusted certificate is refused: verification is on.
        monkeypatch.delenv("SSL_CERT_FILE")
        import ssl
        with pytest.raises(ssl.SSLCertVerificationError):
            deliver(parse_mail_url(url),
                    build_message("a@localhost", "bob@hbtn.io", "x", "y\n"))
        assert len(server.messages) == 1
    finally:
        server.stop()
