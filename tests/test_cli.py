"""The admin commands: `flask --app api.v1.app <command>`.

Most run through Flask's CLI runner on every record store; a few run the
real `flask` of the virtual environment, from the folder of the stores.
"""
import hashlib
import json
import os
import subprocess

import pytest

from models import passwords
from models.user import User
from models.user_session import UserSession
from conftest import REPO, create_user, login, server_env, session_id_of

pytestmark = [pytest.mark.usefixtures("database"),
              pytest.mark.quick_hashing]
FLASK = str(REPO / ".venv" / "bin" / "flask")


def run(app, *args, stdin=None):
    """Invoke a command of `app`; return the click result."""
    return app.test_cli_runner().invoke(args=list(args), input=stdin)


def flask(cwd, *args, env=None, stdin=None):
    """Run the real `flask --app api.v1.app` of the venv in `cwd`."""
    environ = server_env(env)
    environ["PATH"] = os.path.dirname(FLASK) + os.pathsep + \
        environ.get("PATH", "")
    environ.pop("PYTHONPATH", None)              # found through the venv
    return subprocess.run(["flask", "--app", "api.v1.app"] + list(args),
                          cwd=cwd, env=environ, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_create_user_reads_the_password_from_stdin(make_app):
    app = make_app(None)
    result = run(app, "create-user", "new@hbtn.io", "--password-stdin",
                 "--first-name", "New", stdin="S3cret-pwd\n")
    assert result.exit_code == 0, result.output
    user = User.search({"email": "new@hbtn.io"})[0]
    assert result.output.strip() == "created user " + user.id
    assert user.first_name == "New" and user.is_valid_password("S3cret-pwd")
    again = run(app, "create-user", "NEW@hbtn.io", "--password-stdin",
                stdin="x\n")
    assert again.exit_code == 1 and "already registered" in again.stderr


def test_passwords_are_prompted_twice_and_never_arguments(make_app):
    app = make_app(None)
    result = run(app, "create-user", "p@hbtn.io",
                 stdin="first-pwd\nfirst-pwd\n")
    assert result.exit_code == 0, result.output
    assert "first-pwd" not in result.output            # hidden input
    assert User.search({"email": "p@hbtn.io"})[0].is_valid_password(
        "first-pwd")
    mismatch = run(app, "create-user", "q@hbtn.io",
                   stdin="one\ntwo\none\none\n")
    assert mismatch.exit_code == 0
    assert "do not match" in mismatch.output
    refused = run(app, "set-password", "p@hbtn.io", "new-password")
    assert refused.exit_code == 2                       # no such argument
    empty = run(app, "set-password", "p@hbtn.io", "--password-stdin",
                stdin="\n")
    assert empty.exit_code == 1 and "empty" in empty.stderr


def test_set_password_ends_the_sessions_of_a_running_app(make_app):
    create_user()
    app = make_app("session_exp_auth", session_duration=600)
    session_id = session_id_of(login(app.test_client()))
    result = run(make_app(None), "set-password", "bob@hbtn.io",
                 "--password-stdin", stdin="Fresh-pwd\n")
    assert result.exit_code == 0, result.stderr
    client = app.test_client()
    client.set_cookie("_my_session_id", session_id)
    assert client.get("/api/v1/users/me").status_code == 403
    assert login(app.test_client(), password="Fresh-pwd").status_code == 200


def test_unknown_emails_exit_with_3(make_app):
    app = make_app("session_db_auth")
    for command in ("set-password", "delete-user", "grant-admin",
                    "revoke-admin", "list-sessions", "revoke-sessions"):
        extra = ["--password-stdin"] if command == "set-password" else []
        result = run(app, command, "ghost@hbtn.io", *extra, stdin="x\n")
        assert result.exit_code == 3, (command, result.output)
        assert "no user has the email ghost@hbtn.io" in result.stderr


def test_admin_flag_grant_and_revoke(make_app):
    bob = create_user()
    app = make_app(None)
    assert run(app, "grant-admin", "BOB@hbtn.io").exit_code == 0
    assert User.get(bob.id).is_admin is True
    assert run(app, "revoke-admin", "bob@hbtn.io").exit_code == 0
    assert User.get(bob.id).is_admin is False


def test_delete_user(make_app):
    bob = create_user()
    result = run(make_app(None), "delete-user", "bob@hbtn.io")
    assert result.exit_code == 0
    assert User.get(bob.id) is None


def test_list_and_revoke_sessions_of_the_record_store(make_app):
    bob = create_user()
    app = make_app("session_db_auth", session_duration=600)
    ids = [session_id_of(login(app.test_client())) for _ in range(2)]
    listed = run(app, "list-sessions", "bob@hbtn.io")
    assert listed.exit_code == 0
    assert listed.stderr.strip() == "2 live sessions"
    lines = listed.stdout.strip().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(
        hashlib.sha256(i.encode()).hexdigest() for i in ids)
    assert all(i not in listed.output for i in ids)
    assert run(app, "revoke-sessions", "bob@hbtn.io").exit_code == 0
    assert UserSession.search({"user_id": bob.id}) == []
    assert run(app, "list-sessions", "bob@hbtn.io").stdout == ""


def test_list_sessions_cannot_see_a_servers_memory(make_app):
    create_user()
    result = run(make_app("session_auth"), "list-sessions", "bob@hbtn.io")
    assert result.exit_code == 1
    assert "memory" in result.stderr and "SESSION_STORE_URL" in \
        result.stderr


def test_upgrade_legacy_hashes_wraps_them_and_they_still_log_in(make_app):
    legacy = hashlib.sha256(b"old pwd").hexdigest()
    old = User(email="old@hbtn.io", _password=legacy)
    old.save()
    modern = create_user("new@hbtn.io", "pw")
    app = make_app("session_auth")
    result = run(app, "upgrade-legacy-hashes")
    assert (result.exit_code, result.output.strip()) == (
        0, "wrapped 1 legacy hashes")
    wrapped = User.get(old.id).password
    assert wrapped.startswith("sha256+$argon2id$")
    assert legacy not in wrapped
    assert User.get(modern.id).password == modern.password
    assert passwords.verify_password(wrapped, "old pwd")
    assert not passwords.verify_password(wrapped, legacy)   # not the digest
    assert login(app.test_client(), "old@hbtn.io",
                 "old pwd").status_code == 200
    assert User.get(old.id).password.startswith("$argon2id$")
    assert run(app, "upgrade-legacy-hashes").output.strip() == \
        "wrapped 0 legacy hashes"


@pytest.mark.real_hashing
def test_purge_from_the_store_folder_with_the_venv_flask(workdir, database):
    stale = UserSession(user_id="u", session_id="s",
                        created_at="2020-01-01T00:00:00")
    stale.save()
    fresh = UserSession(user_id="u", session_id="t")
    fresh.save()
    assert not (workdir / "api").exists()
    env = {"AUTH_TYPE": "session_db_auth", "SESSION_DURATION": "3600"}
    if database:
        env["DATABASE_URL"] = database
    result = flask(workdir, "purge-sessions", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "purged 1 expired sessions"
    assert [s.session_id for s in UserSession.all()] == ["t"]
    if database is None:
        stored = json.loads((workdir / ".db_UserSession.json").read_text())
        assert [s["session_id"] for s in stored.values()] == ["t"]


@pytest.mark.real_hashing
def test_exit_code_of_a_failure_of_the_store(workdir):
    (workdir / ".db_User.json").write_text("{broken")
    result = flask(workdir, "delete-user", "bob@hbtn.io")
    assert result.returncode == 1
    assert ".db_User.json" in result.stderr
