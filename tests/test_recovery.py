"""Account recovery by email (account-security §7.2, §7.4), through HTTP.

The OWASP Forgot Password Cheat Sheet's rules: the same answer in the
same time for known, unknown and malformed emails; tokens of 256 bits
kept only as SHA-256, single use, short-lived, voided by a newer token
and by a password change; limits per address and per account; a reset
that ends every session and logs nobody in. Messages go to a real SMTP
server (aiosmtpd in this process, `mail_sink`).
"""
import json
import logging
import statistics
import time

import pytest

from api.v1.config import MAIL_EXTENSION
from conftest import create_user, login, session_id_of
from mail_sink import body_of, link_of
from models.user import User

pytestmark = pytest.mark.quick_hashing

REQUEST = "/api/v1/auth_session/recovery"
CONFIRM = "/api/v1/auth_session/recovery/confirm"
BOB = ("bob@hbtn.io", "H0lberton!")
NEW = "a brand new passphrase"
ON_ITS_WAY = {"message": "if that address has an account, a message is on "
                         "its way"}
INVALID = (400, {"error": "token invalid"})
SUBJECT = "Reset your password"


@pytest.fixture
def mail_app(make_app, sink):
    """Build session-auth apps that mail to `sink`; only recovery mail."""
    built = []

    def build(auth_type="session_auth", **values):
        values.setdefault("mail_url", sink.url)
        values.setdefault("notices", ())
        app = make_app(auth_type, **values)
        built.append(app)
        return app
    yield build
    for app in built:
        app.extensions[MAIL_EXTENSION].close(15)


def drained(app):
    assert app.extensions[MAIL_EXTENSION].drain(15)
    return app


def ask(client, email=BOB[0], **kwargs):
    response = client.post(REQUEST, data={"email": email}, **kwargs)
    assert (response.status_code, response.get_json()) == (202, ON_ITS_WAY)
    return response


def confirm(client, token, password=NEW, **kwargs):
    response = client.post(CONFIRM, json={"token": token,
                                          "new_password": password},
                           **kwargs)
    return response.status_code, response.get_json()


def token_for(app, sink, client=None, email=BOB[0]):
    """Ask for a reset of `email`; return the token of its message."""
    count = len(sink.messages)
    ask(client or app.test_client(), email)
    messages = sink.wait_for(count + 1)
    return link_of(messages[count])[1]


# --- the request ------------------------------------------------------

@pytest.mark.parametrize("auth_type", ["session_auth", "session_exp_auth",
                                       "session_db_auth"])
def test_a_known_email_gets_one_message_with_the_link(mail_app, sink,
                                                      auth_type, caplog):
    caplog.set_level(logging.INFO)
    create_user(*BOB)
    app = mail_app(auth_type, public_base_url="https://id.example",
                   recovery_token_seconds=61)
    response = ask(app.test_client())
    assert "Set-Cookie" not in response.headers
    [message] = sink.wait_for(1)
    assert message["Subject"] == SUBJECT
    assert message["To"] == BOB[0]
    assert message["From"] == "Session API <no-reply@localhost>"
    assert message["Date"] and message["Message-ID"]
    link, token = link_of(message)
    assert link == "https://id.example/account/recover#token=" + token
    assert len(token) >= 43          # 256 bits, base64url, no padding
    assert "within 2 minutes" in body_of(message)     # 61 s, rounded up
    drained(app)
    assert len(sink.messages) == 1
    events = [r.getMessage() for r in caplog.records if r.name == "api.auth"]
    assert any("event=recovery_requested" in line for line in events)


def test_json_bodies_are_accepted(mail_app, sink):
    create_user(*BOB)
    app = mail_app()
    response = app.test_client().post(REQUEST, json={"email": BOB[0]})
    assert (response.status_code, response.get_json()) == (202, ON_ITS_WAY)
    sink.wait_for(1)


@pytest.mark.parametrize("email", [
    "nobody@hbtn.io", "not an email", "a" * 300 + "@hbtn.io",
    "bob@hbtn.io\x00", "bob@hbtn.io.example", 42, ["bob@hbtn.io"]])
def test_unknown_and_malformed_emails_get_the_same_answer(mail_app, sink,
                                                          email, caplog):
    caplog.set_level(logging.INFO)
    create_user(*BOB)
    app = mail_app()
    response = app.test_client().post(REQUEST, json={"email": email})
    assert (response.status_code, response.get_json()) == (202, ON_ITS_WAY)
    drained(app)
    assert sink.messages == []
    assert not any("recovery_requested" in r.getMessage()
                   for r in caplog.records)


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": None}])
def test_a_missing_email_is_a_400(mail_app, body):
    client = mail_app().test_client()
    response = client.post(REQUEST, json=body)
    assert (response.status_code, response.get_json()) == (
        400, {"error": "email missing"})
    response = client.post(REQUEST, data={})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "email missing"})


def test_a_json_body_that_is_not_an_object_is_a_400(mail_app):
    client = mail_app().test_client()
    for path in (REQUEST, CONFIRM):
        response = client.post(path, data="[1]",
                               content_type="application/json")
        assert (response.status_code, response.get_json()) == (
            400, {"error": "Wrong format"})


@pytest.mark.real_hashing
def test_known_and_unknown_emails_take_the_same_time(mail_app, sink):
    create_user(*BOB)
    app = mail_app(recovery_limit_per_address="1000 per hour")
    client = app.test_client()
    timings = {"known": [], "unknown": []}
    answers = set()
    for round_ in range(12):
        for kind, email in (("known", BOB[0]),
                            ("unknown", "nobody{}@hbtn.io".format(round_))):
            started = time.perf_counter()
            response = client.post(REQUEST, data={"email": email})
            timings[kind].append(time.perf_counter() - started)
            answers.add((response.status_code, response.get_data()))
    assert len(answers) == 1
    known = statistics.median(timings["known"])
    unknown = statistics.median(timings["unknown"])
    # No lookup, no hashing, no SMTP inside the request: both are fast
    # and within a few milliseconds of each other.
    assert known < 0.2 and unknown < 0.2, timings
    assert abs(known - unknown) < 0.01, timings
    drained(app)
    assert len(sink.messages) == 3          # the hourly cap


def test_at_most_three_messages_an_hour_and_earlier_tokens_stay_valid(
        mail_app, sink):
    create_user(*BOB)
    app = mail_app()
    client = app.test_client()
    tokens = [token_for(app, sink, client) for _ in range(3)]
    ask(client)
    drained(app)
    assert len(sink.messages) == 3
    assert confirm(client, tokens[0]) == INVALID       # voided by newer
    assert confirm(client, tokens[2]) == (200, {})


# --- the address limit ------------------------------------------------

def test_the_address_limit_counts_requests_and_invalid_tokens(mail_app):
    app = mail_app(recovery_limit_per_address="3 per hour")
    client = app.test_client()
    ask(client, "a@hbtn.io")
    assert client.post(REQUEST, data={}).status_code == 400   # counted
    assert confirm(client, "no-such-token") == INVALID         # counted
    for path, body in ((REQUEST, {"email": "b@hbtn.io"}),
                       (CONFIRM, {"token": "x", "new_password": "y"}),
                       (CONFIRM, {})):
        response = client.post(path, json=body)
        assert (response.status_code, response.get_json()) == (
            429, {"error": "Too many requests"})
        assert 1 <= int(response.headers["Retry-After"]) <= 3600
    other = app.test_client()
    assert other.post(REQUEST, data={"email": "c@hbtn.io"},
                      environ_base={"REMOTE_ADDR": "192.0.2.9"}
                      ).status_code == 202


def test_ipv6_clients_are_counted_by_their_64(mail_app):
    app = mail_app(recovery_limit_per_address="2 per hour")
    client = app.test_client()
    for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        ask(client, environ_base={"REMOTE_ADDR": address})
    assert client.post(REQUEST, data={"email": "x@hbtn.io"},
                       environ_base={"REMOTE_ADDR": "2001:db8:1:2::77"}
                       ).status_code == 429
    ask(client, environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"})


def test_a_valid_token_is_not_counted(mail_app, sink):
    create_user(*BOB)
    app = mail_app(recovery_limit_per_address="2 per hour")
    client = app.test_client()
    token = token_for(app, sink, client)
    assert confirm(client, token, "x") != INVALID   # refused? not strict
    assert client.post(CONFIRM, json={"token": "bad", "new_password": "y"}
                       ).status_code == 400
    assert client.post(CONFIRM, json={"token": "bad", "new_password": "y"}
                       ).status_code == 429


# --- the confirm --------------------------------------------------------

@pytest.mark.parametrize("body, error", [
    ({"new_password": NEW}, "token missing"),
    ({"token": "", "new_password": NEW}, "token missing"),
    ({"token": "abc"}, "new_password missing"),
    ({"token": "abc", "new_password": ""}, "new_password missing"),
])
def test_missing_fields_are_400(mail_app, body, error):
    client = mail_app().test_client()
    response = client.post(CONFIRM, json=body)
    assert (response.status_code, response.get_json()) == (
        400, {"error": error})
    response = client.post(CONFIRM, data=body)
    assert (response.status_code, response.get_json()) == (
        400, {"error": error})


def test_a_reset_ends_every_session_and_logs_nobody_in(mail_app, sink,
                                                       database, caplog):
    caplog.set_level(logging.INFO)
    create_user(*BOB)
    app = mail_app("session_db_auth", session_duration=3600)
    sessions = [session_id_of(login(app.test_client())) for _ in range(2)]
    client = app.test_client()
    token = token_for(app, sink, client)
    response = client.post(CONFIRM, data={"token": token,
                                          "new_password": NEW})
    assert (response.status_code, response.get_json()) == (200, {})
    assert "Set-Cookie" not in response.headers
    for session_id in sessions:
        probe = app.test_client()
        probe.set_cookie("_my_session_id", session_id)
        assert probe.get("/api/v1/users/me").status_code == 403
    assert login(app.test_client()).status_code == 401
    assert login(app.test_client(), password=NEW).status_code == 200
    assert confirm(client, token) == INVALID                    # used
    lines = [r.getMessage() for r in caplog.records if r.name == "api.auth"]
    assert any("event=password_reset" in line for line in lines)


def test_a_reset_touches_nothing_but_the_password(mail_app, sink):
    """A second factor (or anything else on the account) survives."""
    user = create_user(*BOB)
    user.first_name = "Bob"
    user.save()
    from models import base
    before = dict(base.get_store().get("User", user.id))
    app = mail_app()
    token = token_for(app, sink)
    assert confirm(app.test_client(), token) == (200, {})
    after = dict(base.get_store().get("User", user.id))
    changed = {key for key in set(before) | set(after)
               if before.get(key) != after.get(key)}
    assert changed <= {"_password", "_auth_epoch", "updated_at"}, changed


def test_a_newer_token_voids_the_older(mail_app, sink):
    create_user(*BOB)
    app = mail_app()
    client = app.test_client()
    old = token_for(app, sink, client)
    new = token_for(app, sink, client)
    assert confirm(client, old) == INVALID
    assert confirm(client, new) == (200, {})


def test_a_password_change_voids_the_token(mail_app, sink):
    create_user(*BOB)
    app = mail_app()
    client = app.test_client()
    token = token_for(app, sink, client)
    assert login(client).status_code == 200
    assert client.put("/api/v1/users/me/password",
                      json={"current_password": BOB[1],
                            "new_password": "changed meanwhile"}
                      ).status_code == 200
    assert confirm(app.test_client(), token) == INVALID


def test_a_password_set_by_the_cli_voids_the_token(mail_app, sink):
    create_user(*BOB)
    app = mail_app()
    token = token_for(app, sink)
    result = app.test_cli_runner().invoke(
        args=["set-password", BOB[0], "--password-stdin"],
        input="set by the admin\n")
    assert result.exit_code == 0, result.output
    assert confirm(app.test_client(), token) == INVALID


def test_an_expired_token_is_invalid(mail_app, sink, frozen_clock):
    create_user(*BOB)
    app = mail_app(recovery_token_seconds=60)
    client = app.test_client()
    token = token_for(app, sink, client)
    frozen_clock.advance(59)
    assert confirm(client, token, "x") == (200, {})
    token = token_for(app, sink, client)
    frozen_clock.advance(61)
    assert confirm(client, token) == INVALID


def test_an_expired_token_is_invalid_in_redis(mail_app, sink, redis_url):
    import redis
    create_user(*BOB)
    app = mail_app(session_store_url=redis_url, recovery_token_seconds=1)
    client = app.test_client()
    token = token_for(app, sink, client)
    keys = redis.Redis.from_url(redis_url)
    assert keys.keys("sa:f:recovery:*")
    deadline = time.monotonic() + 5
    while keys.keys("sa:f:recovery:*"):      # Redis ends it (PX), poll
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert confirm(client, token) == INVALID


def test_the_policy_refuses_and_the_token_stays_valid(mail_app, sink):
    create_user(*BOB)
    app = mail_app(account_policy="strict")
    client = app.test_client()
    token = token_for(app, sink, client)
    assert confirm(client, token, "short") == (
        400, {"error": "password refused: shorter than 8 characters"})
    assert confirm(client, token, "password") == (
        400, {"error": "password refused: too common"})
    assert confirm(client, token) == (200, {})


@pytest.mark.parametrize("token", ["x" * 129, "abc\x00def", "bad token"])
def test_implausible_tokens_are_invalid(mail_app, token):
    assert confirm(mail_app().test_client(), token) == INVALID


# --- no token in clear, anywhere ----------------------------------------

def test_the_raw_token_is_in_no_record_and_no_log_line(mail_app, sink,
                                                       database, caplog,
                                                       workdir):
    caplog.set_level(logging.DEBUG)
    create_user(*BOB)
    app = mail_app()
    client = app.test_client()
    token = token_for(app, sink, client)
    from models import base
    store = base.get_store()
    dumped = json.dumps([store.find(kind, {}) for kind in
                         ("FlowState", "User")], default=str)
    assert token not in dumped
    for path in workdir.rglob("*"):
        if path.is_file() and path.suffix != ".db":
            assert token not in path.read_text(errors="replace"), path
    db_files = [p for p in workdir.rglob("*.db")]
    for path in db_files:
        assert token.encode() not in path.read_bytes()
    assert confirm(client, token) == (200, {})
    assert all(token not in r.getMessage() for r in caplog.records)
    assert all(token not in str(r.__dict__) for r in caplog.records)


def test_the_raw_token_is_in_no_redis_key_or_value(mail_app, sink,
                                                   redis_url, caplog):
    import redis
    caplog.set_level(logging.DEBUG)
    create_user(*BOB)
    app = mail_app(session_store_url=redis_url)
    client = app.test_client()
    token = token_for(app, sink, client)
    r = redis.Redis.from_url(redis_url)
    keys = r.keys("*")
    assert any(b":recovery:" in key for key in keys)
    for key in keys:
        assert token.encode() not in key
        kind = r.type(key)
        value = r.get(key) if kind == b"string" else repr(
            r.dump(key)).encode()
        assert token.encode() not in (value or b"")
        assert r.ttl(key) > 0, key
    assert confirm(client, token) == (200, {})
    assert not r.keys("sa:f:recovery:*")
    assert all(token not in r.getMessage() for r in caplog.records)


def test_an_email_with_a_line_break_cannot_add_headers(mail_app, sink):
    """A stored email holding CR LF (the contract accepts any email) is
    never written into a header: that message is not sent at all."""
    create_user("bob@hbtn.io\r\nBcc: eve@evil.example", BOB[1])
    create_user("ann@hbtn.io", BOB[1])
    app = mail_app()
    client = app.test_client()
    ask(client, "bob@hbtn.io\r\nBcc: eve@evil.example")
    ask(client, "ann@hbtn.io")
    [message] = sink.wait_for(1)
    drained(app)
    assert len(sink.messages) == 1
    assert message["To"] == "ann@hbtn.io"
    assert all("eve@evil.example" not in rcpts for _, rcpts in
               sink.envelopes)
