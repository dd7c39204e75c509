"""Operations where a review found them wrong (account-security §6, §8).

Readiness with a read-only session store, one count per refused passkey
second step, security events through `import-json` / `export-json`, the
events `limit` past nine digits, an unknown PostgreSQL role as a
configuration error, and no password in a start-up error.
"""
import json
import subprocess
import time

import pytest
from prometheus_client import REGISTRY

from conftest import REPO, create_user, login, server_env
from faultlib import RedisServer, free_port
from models import store_health
from models.auth_event import AuthEvent
from models.user import User
from test_passkeys_second_step import (BASE, mfa_token,
                                       totp_user_with_passkey)

READY = "/api/v1/health/ready"


def flask(cwd, *args, env=None):
    """Run `flask --app api.v1.app` of the venv in `cwd`."""
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "flask"), "--app", "api.v1.app"]
        + list(args), cwd=cwd, env=server_env(env), capture_output=True,
        text=True, timeout=120)


@pytest.fixture
def redis_server(tmp_path):
    store_health.reset()
    server = RedisServer(str(tmp_path / "redis")).start()
    try:
        yield server
    finally:
        server.stop()
        store_health.reset()


# --- §6.1: a probe that says ready while logins answer 503 ----------------

def test_ready_is_503_while_the_session_store_is_read_only(make_app,
                                                           redis_server):
    """§6.1 + §8.1: a READONLY replica cannot serve, so not ready."""
    create_user()
    app = make_app("session_auth", session_store_url=redis_server.url,
                   store_retry_seconds=0.2)
    client = app.test_client()
    assert client.get(READY).status_code == 200
    redis_server.client().execute_command("REPLICAOF", "127.0.0.1",
                                          str(free_port()))
    assert login(client).status_code == 503      # READONLY on a write
    time.sleep(1.1)                              # past the probe's cache
    ready = client.get(READY)
    assert ready.status_code == 503, ready.get_json()
    assert ready.get_json()["checks"]["sessions"] == "unavailable"


# --- §6.2 / §6.4: one refused passkey second step, counted twice ----------

def _logins(result):
    return REGISTRY.get_sample_value("auth_logins_total",
                                     {"result": result}) or 0.0


def test_a_refused_passkey_second_step_counts_once(make_app):
    """§6.2: one attempt, one result; §6.4: one `login_failed`."""
    app = make_app("session_auth", secret_key="k" * 32)
    key, _ = totp_user_with_passkey(app)
    user = User.search({"email": "bob@hbtn.io"})[0]
    client = app.test_client()
    token = mfa_token(client)
    before = {r: _logins(r) for r in ("wrong_password",
                                      "second_factor_failed")}
    options = client.post(BASE + "/passkeys/login/options").get_json()
    answer = client.post(BASE + "/login/mfa", json={
        "mfa_token": token, "credential": key.assert_(options, tamper=True)})
    assert answer.status_code == 401
    assert _logins("second_factor_failed") - before[
        "second_factor_failed"] == 1
    assert _logins("wrong_password") - before["wrong_password"] == 0
    assert [e.type for e in AuthEvent.of_user(user.id, 50)].count(
        "login_failed") == 1


# --- §6.4: import-json / export-json drop the security events -------------

def test_import_json_copies_the_security_events(make_app, workdir):
    """README: "a deployment can move either way and lose nothing"."""
    create_user()
    assert login(make_app("session_auth").test_client()).status_code == 200
    assert (workdir / ".db_AuthEvent.json").exists()
    env = {"DATABASE_URL": "sqlite:///" + str(workdir / "moved.db")}
    assert flask(workdir, "import-json", env=env).returncode == 0
    listed = flask(workdir, "events", "bob@hbtn.io", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["type"] for line in
            listed.stdout.splitlines()] == ["login_succeeded"]


def test_export_json_writes_the_security_events(make_app, workdir):
    url = "sqlite:///" + str(workdir / "source.db")
    app = make_app("session_auth", database_url=url)
    create_user()
    assert login(app.test_client()).status_code == 200
    out = workdir / "out"
    out.mkdir()
    done = flask(out, "export-json", env={"DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    listed = flask(out, "events", "bob@hbtn.io")
    assert [json.loads(line)["type"] for line in
            listed.stdout.splitlines()] == ["login_succeeded"]


# --- §6.4: N over 200 gives 200 --------------------------------------------

def test_a_limit_of_ten_digits_gives_200_events_not_400(make_app):
    client = make_app("session_auth").test_client()
    create_user()
    login(client)
    answer = client.get("/api/v1/auth_session/events?limit=10000000000")
    assert answer.status_code == 200, answer.get_json()


# --- §8.2: refused credentials stop the CLI with exit 78 -------------------

def test_an_unknown_postgres_role_stops_the_cli_with_78(workdir):
    url = "postgresql://no_such_role_review_ops@127.0.0.1:5432/postgres"
    done = flask(workdir, "db-upgrade", env={"DATABASE_URL": url})
    assert done.returncode == 78, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0], lines


# --- §6.3: no line holds a password ----------------------------------------

def test_an_unknown_limits_scheme_does_not_print_the_password(workdir):
    done = flask(workdir, "unlock-logins", env={
        "RATELIMIT_STORAGE_URI": "redis+x://:TOPSECRET@127.0.0.1:6379"})
    assert done.returncode == 78, done.stderr
    assert "TOPSECRET" not in done.stderr + done.stdout
