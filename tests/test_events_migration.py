"""Migration 0003_auth_events and the `alembic` command line."""
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

from tests.conftest import REPO, server_env

ALEMBIC = str(Path(sys.executable).parent / "alembic")


def alembic(*args, env=None):
    return subprocess.run([ALEMBIC] + list(args), cwd=REPO,
                          env=server_env(env), capture_output=True,
                          text=True, timeout=60)


def test_without_database_url_one_line():
    done = alembic("upgrade", "head")
    assert done.returncode != 0
    output = done.stdout + done.stderr      # alembic writes it to stdout
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "DATABASE_URL" in lines[0] and "Traceback" not in output


def test_upgrade_creates_the_events_table_and_downgrade_drops_it(workdir):
    url = "sqlite:///" + str(workdir / "m.db")
    done = alembic("upgrade", "head", env={"DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    engine = create_engine(url)
    try:
        found = inspect(engine)
        assert "auth_events" in found.get_table_names()
        indexes = {tuple(index["column_names"])
                   for index in found.get_indexes("auth_events")}
        assert ("user_id", "seq") in indexes
        assert ("created_at",) in indexes
        done = alembic("downgrade", "0005_passkeys",
                       env={"DATABASE_URL": url})
        assert done.returncode == 0, done.stderr
        assert "auth_events" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
