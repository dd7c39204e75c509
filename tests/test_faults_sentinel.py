"""A Redis Sentinel failover under the session store (account-security §8.4).

A private master, a replica and one Sentinel (quorum 1,
`down-after-milliseconds` 1000) on loopback ports. The master is killed;
requests answer 503 (never 500) until Sentinel names the replica, then
work on it without a restart, and the session made before the kill is
still valid.
"""
import shutil
import time

import pytest

from conftest import create_user, login, session_id_of
from faultlib import SentinelGroup
from models import store_health

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed")
ME = "/api/v1/users/me"


@pytest.fixture
def group(tmp_path):
    store_health.reset()
    servers = SentinelGroup(str(tmp_path)).start()
    try:
        yield servers
    finally:
        servers.stop()
        store_health.reset()


def test_a_failover_keeps_sessions_and_ends_its_503_window(make_app, group):
    create_user()
    app = make_app("session_exp_auth", session_store_url=group.url,
                   session_duration=600, store_timeout_seconds=0.3,
                   store_retry_seconds=0.5)
    client = app.test_client()
    session_id = session_id_of(login(client))
    assert client.get(ME).status_code == 200
    group.master.client().execute_command("WAIT", 1, 2000)
    old_master = group.master.port
    group.master.stop()
    killed = time.monotonic()
    statuses = []
    while time.monotonic() - killed < 30:
        status = client.get(ME).status_code
        statuses.append(status)
        if status == 200:
            break
        time.sleep(0.05)
    window = time.monotonic() - killed
    assert statuses[-1] == 200, statuses
    assert set(statuses) <= {200, 503}
    assert group.master_port() == group.replica.port != old_master
    assert window < 20
    # The session made before the kill is the same one, on the new master.
    assert client.get(ME).status_code == 200
    assert session_id_of(login(app.test_client())) != session_id
    assert client.delete("/api/v1/auth_session/logout").status_code == 200
