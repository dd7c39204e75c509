"""ACCOUNT_POLICY: the contract by default, NIST rules under `strict`.

account-security §1.1 and §1.2: every refusal names its reason; no
composition rule; the blocklist compares after NFKC and case folding; the
optional range check sends only the first five hex digits of the SHA-1,
fails open or closed as configured; the CLI follows the same policy.
"""
import hashlib
import http.server
import subprocess
import threading
from contextlib import contextmanager

import pytest

from conftest import REPO, free_port, server_env
from models import password_policy
from models.password_policy import (PasswordCheckUnavailable,
                                    PasswordRefused, check_new_password)
from models.settings import Settings
from models.user import User

USERS = "/api/v1/users"
STRICT = Settings(account_policy="strict")


def post_user(client, email="ann@hbtn.io", password="correct horse battery"):
    return client.post(USERS, json={"email": email, "password": password})


@pytest.fixture
def strict_client(make_app):
    return make_app(None, account_policy="strict").test_client()


@pytest.mark.parametrize("password", ["password1", "123456789",
                                      "qwerty123", "a"])
def test_the_contract_accepts_any_password_by_default(make_app, password):
    client = make_app(None).test_client()
    response = post_user(client, "u{}@hbtn.io".format(len(password)),
                         password)
    assert response.status_code == 201
    assert post_user(client, "not an email at all", "x").status_code == 201


@pytest.mark.parametrize("password, reason", [
    ("short", "shorter than 8 characters"),
    ("1234567", "shorter than 8 characters"),
    ("password1", "too common"),
    ("123456789", "too common"),
    ("qwerty123", "too common"),
    ("PassWord1", "too common"),                       # case folded
    ("ｐａｓｓｗｏｒｄ１", "too common"),                 # NFKC
    ("my annalise secret", "contains the email"),
    ("xx annalise@hbtn.io xx", "contains the email"),
])
def test_each_rule_refuses_with_its_reason(strict_client, password,
                                           reason):
    response = post_user(strict_client, "annalise@hbtn.io", password)
    assert (response.status_code, response.get_json()) == (
        400, {"error": "password refused: " + reason})
    assert User.count() == 0


@pytest.mark.parametrize("password", [
    "correct horse battery", "短いけど十分な長さのパスワード", "        x",
    "no digits at all here", "ALLCAPSLONGPASSPHRASE"])
def test_no_composition_rule_and_any_unicode(strict_client, password):
    email = "u{}@hbtn.io".format(abs(hash(password)) % 10000)
    assert post_user(strict_client, email, password).status_code == 201


def test_a_short_local_part_is_not_a_rule(strict_client):
    assert post_user(strict_client, "bob@hbtn.io",
                     "bob likes long passphrases").status_code == 201


def test_the_minimum_length_is_configurable_within_8_to_64(make_app):
    client = make_app(None, account_policy="strict",
                      password_min_length=12).test_client()
    response = post_user(client, password="eleven char")
    assert response.get_json() == {
        "error": "password refused: shorter than 12 characters"}
    from models.settings import load_settings
    assert load_settings({"PASSWORD_MIN_LENGTH": "4"}).password_min_length \
        == 8
    assert load_settings({"PASSWORD_MIN_LENGTH": "99"}).password_min_length \
        == 64


@pytest.mark.parametrize("email", ["not an email at all", "bob@", "@x.io",
                                   "bob\u200b@hbtn.io", "bob\x07@hbtn.io",
                                   "a b@hbtn.io"])
def test_strict_refuses_invalid_emails(strict_client, email):
    response = post_user(strict_client, email)
    assert (response.status_code, response.get_json()) == (
        400, {"error": "Can't create User: invalid email"})
    assert User.count() == 0


def test_the_contract_checks_come_first(strict_client):
    assert strict_client.post(USERS, json=[1]).get_json() == {
        "error": "Wrong format"}
    assert strict_client.post(USERS, json={"password": "x"}).get_json() \
        == {"error": "email missing"}
    assert strict_client.post(USERS, json={"email": "x"}).get_json() == {
        "error": "password missing"}


def test_the_blocklist_is_a_set_read_once():
    password_policy.blocklist.cache_clear()
    first = password_policy.blocklist()
    assert len(first) >= 10000
    assert password_policy.blocklist() is first
    assert "password" in first and "dragon" in first


class RangeServer:
    """A fake Pwned Passwords range server that records what it is asked."""

    def __init__(self, status=200, breached=()):
        self.paths = []
        self.status = status
        self.breached = {hashlib.sha1(p.encode()).hexdigest().upper()
                         for p in breached}


@contextmanager
def range_server(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state.paths.append(self.path)
            prefix = self.path.rsplit("/", 1)[-1]
            lines = ["{}:{}".format(h[5:], 3) for h in state.breached
                     if h.startswith(prefix)]
            lines.append("0" * 35 + ":0")          # padding entry
            body = "\r\n".join(lines).encode()
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:{}".format(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_the_range_check_sends_only_the_prefix(make_app):
    leaked = "uncommon but leaked 77"
    state = RangeServer(breached=[leaked])
    with range_server(state) as url:
        client = make_app(None, account_policy="strict",
                          pwned_passwords_url=url).test_client()
        response = post_user(client, password=leaked)
        assert (response.status_code, response.get_json()) == (
            400, {"error": "password refused: found in a data breach"})
        assert post_user(client, password="never seen phrase 42"
                         ).status_code == 201
    digest = hashlib.sha1(leaked.encode()).hexdigest().upper()
    assert state.paths[0] == "/range/" + digest[:5]
    for path in state.paths:
        assert len(path.rsplit("/", 1)[-1]) == 5
        assert digest[5:] not in path


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_a_failing_range_service_fails_as_configured(make_app, mode):
    state = RangeServer(status=500)
    with range_server(state) as url:
        client = make_app(None, account_policy="strict",
                          pwned_passwords_url=url,
                          pwned_passwords_fail=mode).test_client()
        response = post_user(client)
    assert len(state.paths) == 1 and len(state.paths[0]) == len("/range/")+5
    if mode == "open":
        assert response.status_code == 201
    else:
        assert (response.status_code, response.get_json()) == (
            503, {"error": "password check unavailable"})
        assert User.count() == 0


def test_an_unreachable_range_service_fails_closed_quickly():
    settings = Settings(account_policy="strict",
                        pwned_passwords_url="http://127.0.0.1:{}".format(
                            free_port()), pwned_passwords_fail="closed")
    with pytest.raises(PasswordCheckUnavailable):
        check_new_password("a fine long passphrase", "a@b.io", settings)


def test_the_model_setter_never_checks():
    user = User(email="ann@hbtn.io")
    user.password = "1"
    user.save()
    assert User.get(user.id).is_valid_password("1")


def test_policy_unit_reasons():
    with pytest.raises(PasswordRefused) as refused:
        check_new_password("baseball", "x@y.io", STRICT)
    assert refused.value.message == "password refused: too common"
    check_new_password("a", "x@y.io", Settings())


def flask_cli(workdir, *args, stdin="", env=None):
    environment = {"ACCOUNT_POLICY": "strict"}
    environment.update(env or {})
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "flask"), "--app", "api.v1.app"]
        + list(args), cwd=workdir, env=server_env(environment),
        input=stdin, capture_output=True, text=True, timeout=60)


def test_the_cli_follows_the_policy(workdir):
    refused = flask_cli(workdir, "create-user", "ann@hbtn.io",
                        "--password-stdin", stdin="password1\n")
    assert refused.returncode == 1
    assert "password refused: too common" in refused.stderr
    invalid = flask_cli(workdir, "create-user", "not an email",
                        "--password-stdin", stdin="a fine passphrase\n")
    assert invalid.returncode == 1 and "invalid email" in invalid.stderr
    made = flask_cli(workdir, "create-user", "ann@hbtn.io",
                     "--password-stdin", stdin="a fine passphrase\n")
    assert made.returncode == 0, made.stderr
    weak = flask_cli(workdir, "set-password", "ann@hbtn.io",
                     "--password-stdin", stdin="qwerty123\n")
    assert weak.returncode == 1
    assert "password refused: too common" in weak.stderr
    assert "Traceback" not in weak.stderr
    base_dir_user = User.search_by_email("ann@hbtn.io")
    assert base_dir_user and base_dir_user[0].is_valid_password(
        "a fine passphrase")
