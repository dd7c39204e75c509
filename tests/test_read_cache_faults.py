"""The PostgreSQL read cache when its listening connection misbehaves.

Each test drives the public interface (the Flask test client); some put a
TCP relay of this process between the app and PostgreSQL, so that a
silent network between a host and its store can be reproduced at will.
"""
import socket
import threading
import time
from typing import List, Optional

import pytest
from sqlalchemy.engine import make_url

from conftest import create_user, login
from models import base
from models.row_cache import SYNC_TIMEOUT_SECONDS
from test_read_cache_sync import answer, logged_in


class Proxy:
    """A TCP relay to `target`; it can freeze, or delay what the server
    sends back by `delay` seconds (order kept, as TCP would)."""

    def __init__(self, target_port: int, delay: float = 0.0) -> None:
        """Listen on a free port of 127.0.0.1."""
        self.target_port = target_port
        self.delay = delay
        self.frozen = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: List[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        """Relay each accepted connection in two threads."""
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1",
                                                 self.target_port))
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, 0.0),
                             daemon=True).start()
            threading.Thread(target=self._pump,
                             args=(upstream, client, self.delay),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket,
              delay: float) -> None:
        """Copy `source` to `sink`, holding data while frozen."""
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if delay:
                time.sleep(delay)
            while self.frozen.is_set() and not self.closed:
                time.sleep(0.01)
            try:
                sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        """Stop relaying; close every socket."""
        self.closed = True
        self.frozen.clear()
        self.server.close()
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass


def run_within(seconds: float, work) -> Optional[object]:
    """Run `work()` in a thread; return its result, or fail after `seconds`.
    """
    result: List[object] = []
    thread = threading.Thread(target=lambda: result.append(work()),
                              daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), \
        "still waiting after {} s".format(seconds)
    return result[0]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_silent_listener_does_not_hang_a_request_without_cookie(
        make_app, database):
    """A listener that stops answering (a partition, a frozen proxy) costs
    a request at most `SYNC_TIMEOUT_SECONDS`, also a login, which carries
    no cookie and so makes its round trip at its first lookup; the
    request is then served from the database."""
    url = make_url(database)
    proxy = Proxy(url.port or 5432)
    listen = url.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        app = make_app("session_db_auth", session_duration=3600,
                       database_listen_url=listen)
        cache = base.get_store().row_cache
        create_user()
        client = app.test_client()
        assert login(client).status_code == 200
        assert answer(client)[0] == 200
        assert cache.listening
        proxy.frozen.set()
        limit = SYNC_TIMEOUT_SECONDS + 5
        # A login carries no cookie: nothing is sent as it arrives, and
        # its lookup of the email makes the round trip itself (`exec_`).
        status = run_within(limit, lambda: login(
            app.test_client()).status_code)
        assert status == 200
    finally:
        proxy.close()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_idle_process_does_not_hold_back_the_notify_queue(make_app,
                                                             database):
    """A process without requests still reads its notifications: else,
    once the socket buffers are full, the listening backend blocks in
    ClientWrite and PostgreSQL's NOTIFY queue (shared by the server) can
    no longer be trimmed; when it is full, every write to `users`,
    `user_sessions` or `authenticators` fails at COMMIT."""
    import psycopg
    app, cache, client = logged_in(make_app)
    pid = cache._listener.info.backend_pid
    with psycopg.connect(database, autocommit=True) as other:
        other.execute("INSERT INTO users (id) SELECT 'bulk-' || g "
                      "FROM generate_series(1, 400000) AS g")
        other.execute("UPDATE users SET first_name = 'x' "
                      "WHERE id LIKE 'bulk-%'")
        deadline = time.monotonic() + 10
        while True:
            state = other.execute(
                "SELECT wait_event FROM pg_stat_activity WHERE pid = %s",
                (pid,)).fetchone()[0]
            if state != "ClientWrite" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        usage = other.execute(
            "SELECT pg_notification_queue_usage()").fetchone()[0]
    assert state != "ClientWrite", \
        "the idle listener blocks the queue (usage {})".format(usage)
    assert cache.listening
    assert answer(client)[0] == 200


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_listen_url_naming_another_database_is_not_trusted(
        make_app, database, caplog):
    """NOTIFY is per database: a `DATABASE_LISTEN_URL` that names another
    database of the same server (a typo, a PgBouncer alias) would LISTEN
    and sync without error but never hear a change. The listener is
    checked against `DATABASE_URL` and the cache stays off instead."""
    import psycopg
    listen = make_url(database).set(database="postgres").render_as_string(
        hide_password=False)
    app = make_app("session_db_auth", session_duration=3600,
                   database_listen_url=listen)
    create_user(first_name="Bob")
    client = app.test_client()
    assert login(client).status_code == 200
    assert answer(client)[1]["first_name"] == "Bob"
    with psycopg.connect(database, autocommit=True) as other:
        other.execute("UPDATE users SET first_name = 'Robert'")
    assert answer(client)[1]["first_name"] == "Robert"
    assert not base.get_store().row_cache.listening
    assert any("DATABASE_LISTEN_URL reaches database postgres" in
               record.getMessage() for record in caplog.records)
