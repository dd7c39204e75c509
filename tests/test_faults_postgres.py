"""PostgreSQL faults injected into a private cluster (account-security §8).

One cluster per test run (`initdb` in a temporary folder, run as the
`postgres` OS user, on a free port), one database per test; the shared
server on 5432 is never touched. Faults: stopped and restarted,
connections killed (`pg_terminate_backend`), read-only (a standby after a
failover), a database that does not exist at start-up, several hosts
with the first one down.
"""
import logging
import secrets
import subprocess
import sys

import pytest

from conftest import REPO, create_user, login, server_env
from faultlib import PostgresServer, free_port, postgres_available
from models import base, store_health
from models.store import JsonFileStore

pytestmark = pytest.mark.skipif(not postgres_available(),
                                reason="PostgreSQL binaries not found")
ME = "/api/v1/users/me"
UNAVAILABLE = {"error": "Service unavailable"}


@pytest.fixture(scope="module")
def cluster():
    server = PostgresServer().init()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_url(cluster):
    name = "faults_" + secrets.token_hex(4)
    cluster.execute("CREATE DATABASE " + name)
    store_health.reset()
    yield cluster.url(name)
    store = base.get_store()
    if hasattr(store, "close"):
        store.close()
    base.set_store(JsonFileStore())
    store_health.reset()


def store_lines(caplog, role, level):
    return [r.getMessage() for r in caplog.records
            if r.name == "api.stores" and r.levelno == level
            and r.getMessage().startswith("store {} ".format(role))]


def assert_503(response):
    assert (response.status_code, response.get_json()) == (503, UNAVAILABLE)
    assert response.headers["Retry-After"] == "5"


def db_app(make_app, url, **values):
    values.setdefault("store_retry_seconds", 0.2)
    app = make_app("session_db_auth", database_url=url, **values)
    create_user()
    return app


def test_stopped_postgres_answers_503_and_nobody_is_locked_out(
        make_app, pg_url, cluster, caplog):
    caplog.set_level(logging.INFO, logger="api.stores")
    app = db_app(make_app, pg_url)
    client = app.test_client()
    assert login(client).status_code == 200
    cluster.stop()
    try:
        for _ in range(8):
            assert_503(client.get(ME))
            assert_503(login(app.test_client()))
    finally:
        cluster.start()
    warnings = store_lines(caplog, "records", logging.WARNING)
    assert len(warnings) == 1 and "OperationalError" in warnings[0]
    from faultlib import wait_until
    assert wait_until(lambda: client.get(ME).status_code == 200, 10)
    assert [login(app.test_client()).status_code
            for _ in range(4)] == [200] * 4
    assert len(store_lines(caplog, "records", logging.INFO)) == 1


def test_killed_connections_cost_no_request(make_app, pg_url, cluster):
    app = db_app(make_app, pg_url)
    client = app.test_client()
    assert login(client).status_code == 200
    name = pg_url.rsplit("/", 1)[1]
    for _ in range(3):
        cluster.execute("SELECT pg_terminate_backend(pid) FROM "
                        "pg_stat_activity WHERE datname = '{}'".format(name))
        assert client.get(ME).status_code == 200


def test_read_only_standby_answers_503_not_500(make_app, pg_url, cluster,
                                               caplog):
    caplog.set_level(logging.INFO, logger="api.stores")
    app = db_app(make_app, pg_url)
    client = app.test_client()
    assert login(client).status_code == 200
    name = pg_url.rsplit("/", 1)[1]
    cluster.execute("ALTER DATABASE {} SET default_transaction_read_only "
                    "= on".format(name))
    base.get_store().close()        # new connections read the setting
    try:
        assert client.get(ME).status_code == 200
        assert_503(login(app.test_client()))
        assert_503(client.delete("/api/v1/auth_session/logout"))
    finally:
        cluster.execute("ALTER DATABASE {} SET default_transaction_read_only"
                        " = off".format(name))
        base.get_store().close()
    warnings = store_lines(caplog, "records", logging.WARNING)
    assert len(warnings) == 1 and "ReadOnlySqlTransaction" in warnings[0]
    assert login(app.test_client()).status_code == 200


def test_several_hosts_skip_one_that_is_down(make_app, pg_url, cluster):
    name = pg_url.rsplit("/", 1)[1]
    url = ("postgresql://postgres@/{}?host=127.0.0.1:{}&host=127.0.0.1:{}"
           "&target_session_attrs=read-write".format(
               name, free_port(), cluster.port))
    app = db_app(make_app, url)
    client = app.test_client()
    assert login(client).status_code == 200
    assert client.get(ME).status_code == 200


def run_app(env, argv=("-m", "api.v1.app")):
    return subprocess.run([sys.executable] + list(argv), cwd=str(REPO),
                          env=server_env(env), capture_output=True,
                          text=True, timeout=60)


def test_a_missing_database_stops_start_up_with_one_line(cluster, workdir):
    url = cluster.url("no_such_db_" + secrets.token_hex(3))
    done = subprocess.run(
        [sys.executable, "-m", "api.v1.app"], cwd=str(workdir),
        env=server_env({"DATABASE_URL": url, "API_PORT": str(free_port()),
                        "API_HOST": "127.0.0.1"}),
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 78
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "DATABASE_URL" in lines[0] and "createdb" in lines[0]
    assert "does not exist" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_the_cli_stops_the_same_way(cluster, workdir):
    url = cluster.url("no_such_db_" + secrets.token_hex(3))
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "flask"), "--app", "api.v1.app",
         "db-upgrade"], cwd=str(workdir),
        env=server_env({"DATABASE_URL": url}), capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 78, done.stderr
    assert "createdb" in done.stderr and "Traceback" not in done.stderr


def test_gunicorn_stops_without_a_traceback(cluster, workdir):
    url = cluster.url("no_such_db_" + secrets.token_hex(3))
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "gunicorn"), "--config",
         str(REPO / "gunicorn.conf.py"), "-w", "1", "-b",
         "127.0.0.1:{}".format(free_port()), "api.v1.app:app"],
        cwd=str(workdir), env=server_env({"DATABASE_URL": url}),
        capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "createdb" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("url", ["mysql://root@localhost/x",
                                 "postgresql://u@host:notaport/db"])
def test_a_malformed_database_url_stops_start_up(url, workdir):
    done = subprocess.run(
        [sys.executable, "-m", "api.v1.app"], cwd=str(workdir),
        env=server_env({"DATABASE_URL": url}), capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 78, done.stderr
    assert done.stderr.startswith("error: DATABASE_URL")
    assert "Traceback" not in done.stderr
