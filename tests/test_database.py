"""`DATABASE_URL`: URL forms, schema, import and export, a lost database."""
import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from models import base, passwords
from models.sql_store import (SqlRecordStore, engine_url, schema_revision,
                              user_sessions, users)
from models.user import User
from models.user_session import UserSession
from conftest import (REPO, api_server, create_user, free_port, reset_state,
                      server_env)

HASH_LEGACY = ("5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef7"
               "21d1542d8")                  # sha256("password")


def flask(cwd, *args, env=None):
    """Run `flask --app api.v1.app` of the venv in `cwd`."""
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "flask"), "--app", "api.v1.app"]
        + list(args), cwd=cwd, env=server_env(env), capture_output=True,
        text=True, timeout=120)


@pytest.mark.parametrize("given, used", [
    ("postgres://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
    ("postgresql://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
    ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db")])
def test_url_forms(given, used):
    assert engine_url(given) == used


def test_other_databases_are_refused():
    with pytest.raises(ValueError):
        engine_url("mysql://root@localhost/db")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql",
                                    "postgresql+psycopg"])
def test_every_postgresql_form_connects(postgres_url, scheme):
    url = scheme + "://" + postgres_url.split("://", 1)[1]
    store = SqlRecordStore(url)
    try:
        store.prepare()
        assert store.count("User") >= 0
        current, head = schema_revision(store)
        assert current == head
    finally:
        store.close()


def test_no_json_file_is_read_or_written_with_a_database(workdir):
    (workdir / ".db_User.json").write_text("{broken")   # never read
    url = "sqlite:///" + str(workdir / "app.db")
    result = subprocess.run(
        [sys.executable, str(REPO / "main_0.py")], cwd=workdir,
        env=server_env({"DATABASE_URL": url}), capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    with api_server(workdir, DATABASE_URL=url,
                    AUTH_TYPE="session_db_auth") as server:
        answer = requests.post(server.url + "/api/v1/auth_session/login",
                               data={"email": "bob@hbtn.io",
                                     "password": "H0lbertonSchool98!"})
        assert answer.status_code == 200
        jar = {"_my_session_id": answer.cookies["_my_session_id"]}
        me = requests.get(server.url + "/api/v1/users/me", cookies=jar)
        assert me.status_code == 200
    assert (workdir / ".db_User.json").read_text() == "{broken"
    assert not (workdir / ".db_UserSession.json").exists()


def newest_revision() -> str:
    """Return the head revision of the migrations folder."""
    from alembic.script import ScriptDirectory

    from models.sql_store import migration_config
    return ScriptDirectory.from_config(migration_config()).get_current_head()


def test_an_empty_database_just_works_and_migrations_are_a_command(
        postgres_url, workdir):
    result = flask(workdir, "db-upgrade", env={"DATABASE_URL": postgres_url})
    assert result.returncode == 0, result.stderr
    head = newest_revision()
    assert "database at revision {0} (newest {0})".format(head) \
        in result.stdout
    alembic = subprocess.run(
        [str(REPO / ".venv" / "bin" / "alembic"), "-c",
         str(REPO / "alembic.ini"), "current"], cwd=workdir,
        env=server_env({"DATABASE_URL": postgres_url}),
        capture_output=True, text=True, timeout=60)
    assert alembic.returncode == 0 and head in alembic.stdout, \
        alembic.stderr
    json_only = flask(workdir, "db-upgrade")
    assert json_only.returncode == 1
    assert "DATABASE_URL is not set" in json_only.stderr


def test_a_fresh_sqlite_file_gets_its_schema_from_a_checker_script(
        workdir):
    url = "sqlite:///" + str(workdir / "fresh.db")
    code = ("from models.user import User\n"
            "User.load_from_file()\n"
            "print(User.count())\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=workdir,
                            env=server_env({"DATABASE_URL": url}),
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, "0\n"), result.stderr


def test_import_then_export_lose_nothing(workdir, postgres_url):
    legacy = {"id": "legacy-1", "email": "old@hbtn.io",
              "_password": HASH_LEGACY, "first_name": "Old",
              "last_name": None, "created_at": "2017-09-25T01:55:17",
              "updated_at": "2017-09-25T01:55:17"}
    create_user("bob@hbtn.io", "H0lberton!", first_name="Bob")
    records = json.loads((workdir / ".db_User.json").read_text())
    records["legacy-1"] = legacy
    twin = dict(legacy, id="twin-1", email=" BOB@hbtn.io")
    (workdir / ".db_User.json").write_text(json.dumps(
        dict(records, **{"twin-1": twin})))
    env = {"DATABASE_URL": postgres_url}
    try:
        first = flask(workdir, "import-json", env=env)
        assert first.returncode == 0, first.stderr
        assert "User: 3 read, 2 added, 0 already there, 1 skipped" in \
            first.stdout
        assert "skipped User twin-1: its email is taken" in first.stderr
        assert "UserSession: 0 read, 0 added" in first.stdout
        second = flask(workdir, "import-json", env=env)
        assert "User: 3 read, 0 added, 2 already there, 1 skipped" in \
            second.stdout
        base.set_store(SqlRecordStore(postgres_url))
        reset_state()
        assert User.count() == 2
        old = User.get("legacy-1")
        assert old.password == HASH_LEGACY           # kept as it was
        assert passwords.verify_password(old.password, "password")
        out = workdir / "out"
        out.mkdir()
        exported = flask(out, "export-json", env=env)
        assert exported.returncode == 0, exported.stderr
        back = json.loads((out / ".db_User.json").read_text())
        assert set(back) == set(records)
        for key, value in legacy.items():
            assert back["legacy-1"][key] == value
        assert back[next(i for i in records if i != "legacy-1")][
            "first_name"] == "Bob"
        again = flask(out, "export-json", env=env)
        assert again.returncode == 1 and "--force" in again.stderr
    finally:
        with SqlRecordStore(postgres_url).engine.begin() as connection:
            connection.execute(users.delete())
            connection.execute(user_sessions.delete())


def test_parallel_creations_of_one_email_make_one_user(workdir,
                                                       postgres_url):
    try:
        with api_server(workdir, DATABASE_URL=postgres_url) as one, \
                api_server(workdir, DATABASE_URL=postgres_url) as two:
            def create(i):
                server = (one, two)[i % 2]
                return requests.post(server.url + "/api/v1/users", json={
                    "email": ("Bob@hbtn.io", "bob@HBTN.io ")[i % 2],
                    "password": "pw"}, timeout=30)
            with ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(pool.map(create, range(16)))
        assert sorted(a.status_code for a in answers) == [201] + [400] * 15
        assert {a.json()["error"] for a in answers
                if a.status_code == 400} == {
            "Can't create User: email already registered"}
    finally:
        with SqlRecordStore(postgres_url).engine.begin() as connection:
            connection.execute(users.delete())


class Proxy:
    """A TCP forwarder to PostgreSQL that the test can cut and restore."""

    def __init__(self, target_port):
        self.port = free_port()
        self.target_port = target_port
        self.links = []
        self.listener = None

    def start(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,),
                         daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1",
                                                 self.target_port))
            self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)   # wakes accept()
        except OSError:
            pass
        self.listener.close()
        for sock in self.links:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
        self.links = []


def test_a_lost_database_answers_503_and_the_server_recovers(
        workdir, postgres_url):
    target = int(postgres_url.split("@", 1)[1].split("/")[0].split(":")[1])
    proxy = Proxy(target)
    proxy.start()
    url = postgres_url.replace(":{}/".format(target),
                               ":{}/".format(proxy.port))
    try:
        with api_server(workdir, DATABASE_URL=url,
                        AUTH_TYPE="basic_auth") as server:
            users_url = server.url + "/api/v1/users"
            created = requests.post(users_url, json={
                "email": "bob@hbtn.io", "password": "pw"})
            assert created.status_code == 401             # the guard
            base.set_store(SqlRecordStore(postgres_url))
            create_user("bob@hbtn.io", "pw")
            auth = ("bob@hbtn.io", "pw")
            assert requests.get(users_url, auth=auth).status_code == 200
            proxy.cut()
            down = requests.get(users_url, auth=auth, timeout=30)
            assert (down.status_code, down.json()) == (
                503, {"error": "Service unavailable"})
            status = requests.get(server.url + "/api/v1/status")
            assert status.status_code == 200              # no database
            proxy.start()
            # The breaker answers 503 for STORE_RETRY_SECONDS (2 s), then
            # tries again (account-security §8.1).
            deadline = time.monotonic() + 10
            while True:
                back = requests.get(users_url, auth=auth, timeout=30)
                if back.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert back.status_code == 200
            assert [u["email"] for u in back.json()] == ["bob@hbtn.io"]
            assert "Traceback" not in server.output()
    finally:
        proxy.cut()
        with SqlRecordStore(postgres_url).engine.begin() as connection:
            connection.execute(users.delete())
            connection.execute(user_sessions.delete())


def test_sessions_of_session_db_auth_live_in_the_database(make_app,
                                                          postgres_url):
    store = SqlRecordStore(postgres_url)
    base.set_store(store)
    try:
        create_user()
        app = make_app("session_db_auth", database_url=postgres_url)
        from conftest import login, session_id_of
        session_id = session_id_of(login(app.test_client()))
        with store.engine.begin() as connection:
            rows = connection.execute(user_sessions.select()).all()
        assert [row.session_id for row in rows] == [session_id]
        assert UserSession.search({"session_id": session_id})[0].user_id
    finally:
        with store.engine.begin() as connection:
            connection.execute(users.delete())
            connection.execute(user_sessions.delete())
