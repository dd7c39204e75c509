#!/usr/bin/env python3
"""The outbox: mail work done after the answer, on a background thread.

A request never waits for mail (account-security §7.1): it hands a job
to `Mailer.submit` and answers. One daemon thread per process runs the
jobs in order, inside the app's context and a copy of the request's
client (address and user agent), so that the events they log name the
client that caused them. Each message goes to the `MAIL_URL` transport
with a 10 s SMTP timeout; a failure is logged (logger `api.mail`, one
line with `event=mail kind=<kind> result=failed` and the error's class,
never the message or a link) and counted in `mail_messages_total{kind,
result}`. Nothing a job does can change the HTTP answer or make it 500.
"""
import atexit
import logging
import queue
import smtplib
import threading
from collections import Counter
from email.message import EmailMessage
from typing import Any, Callable, Dict, Optional, Tuple

from api.v1.mail.transport import (SMTP_TIMEOUT_SECONDS, Transport,
                                   build_message, deliver, parse_mail_url)

logger = logging.getLogger("api.mail")

Job = Callable[[], None]
_COUNTS: "Counter[Tuple[str, str]]" = Counter()
_COUNTS_LOCK = threading.Lock()
DRAIN_AT_EXIT_SECONDS = SMTP_TIMEOUT_SECONDS + 2
"""How long a process that exits waits for its queued mail (a CLI run)."""


def count_message(kind: str, result: str) -> None:
    """Add one to `mail_messages_total{kind, result}` of this process.

    `kind` is `recovery`, `test` or a notice's name; `result` is `sent`
    or `failed`.
    """
    with _COUNTS_LOCK:
        _COUNTS[(kind, result)] += 1


def mail_message_counts() -> Dict[Tuple[str, str], int]:
    """Return a copy of `mail_messages_total`: `{(kind, result): count}`.

    The metrics exporter (`METRICS_ENABLED`) reads this.
    """
    with _COUNTS_LOCK:
        return dict(_COUNTS)


class Mailer:
    """Builds, queues and delivers the messages of one app.

    `app` is the Flask app whose context jobs run in; `settings` give
    `MAIL_URL` (parsed at once: a malformed one raises
    `MailConfigError`), `MAIL_FROM` and `PUBLIC_BASE_URL`.
    """

    def __init__(self, app: Any, settings: Any) -> None:
        """Parse the settings' `MAIL_URL`; the thread starts on first use."""
        self.app = app
        self.settings = settings
        self.transport: Transport = parse_mail_url(settings.mail_url or "")
        self._jobs: "queue.Queue[Tuple[Job, Dict[str, Any]]]" = \
            queue.Queue()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def message(self, to: str, subject: str, text: str) -> EmailMessage:
        """Return a message from `MAIL_FROM` to `to` (see `build_message`)."""
        return build_message(self.settings.mail_from, to, subject, text)

    def link(self, path: str) -> str:
        """Return `PUBLIC_BASE_URL` followed by `path` (which starts `/`)."""
        return self.settings.public_base_url + path

    def send(self, message: EmailMessage, kind: str) -> bool:
        """Deliver `message` now; log and count the result.

        Returns True when the transport accepted it, False when it
        failed (the failure is logged without the message's content).
        """
        try:
            deliver(self.transport, message)
        except (OSError, smtplib.SMTPException) as exc:
            count_message(kind, "failed")
            logger.warning("mail kind=%s result=failed error=%s",
                           kind, type(exc).__name__,
                           extra={"event": "mail", "kind": kind,
                                  "result": "failed"})
            return False
        count_message(kind, "sent")
        logger.info("mail kind=%s result=sent", kind,
                    extra={"event": "mail", "kind": kind,
                           "result": "sent"})
        return True

    def submit(self, job: Job, client: Optional[Dict[str, Any]] = None
               ) -> None:
        """Queue `job` to run after the current answer; never blocks.

        `client` is `{"remote_addr": ..., "user_agent": ...}` of the
        request that caused the job (None: no client), which the job
        sees as `flask.request`.
        """
        self._start()
        self._jobs.put((job, dict(client or {})))

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until every queued job has run.

        Returns True when the queue is empty and idle, False on timeout.
        """
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (self._jobs.join(),
                                                  done.set()),
                                  daemon=True)
        waiter.start()
        return done.wait(timeout)

    def close(self, timeout: float = DRAIN_AT_EXIT_SECONDS) -> bool:
        """Run what is queued (up to `timeout` s), then stop the thread.

        Returns True when everything queued ran. A later `submit` starts
        a new thread.
        """
        drained = self.drain(timeout)
        with self._lock:
            thread = self._thread
            if thread is not None and thread.is_alive():
                self._jobs.put((_STOP, {}))
        if thread is not None:
            thread.join(timeout)
        return drained

    def _start(self) -> None:
        """Start the worker thread once (again after a fork)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self._thread is None:
                atexit.register(self.drain, DRAIN_AT_EXIT_SECONDS)
            self._thread = threading.Thread(target=self._run,
                                            name="session-api-mail",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """Run queued jobs forever; a failing job is logged and skipped."""
        while True:
            job, client = self._jobs.get()
            if job is _STOP:
                self._jobs.task_done()
                return
            try:
                self._run_one(job, client)
            except Exception as exc:  # noqa: BLE001 - the thread must live
                logger.warning("mail job failed: %s", type(exc).__name__,
                               extra={"event": "mail", "result": "failed"})
            finally:
                self._jobs.task_done()

    def _run_one(self, job: Job, client: Dict[str, Any]) -> None:
        """Run `job` in the app's context and its client's request."""
        environ = {"REMOTE_ADDR": client.get("remote_addr") or ""}
        headers = {}
        if client.get("user_agent"):
            headers["User-Agent"] = client["user_agent"]
        with self.app.test_request_context(
                "/", environ_base=environ, headers=headers):
            job()


def _STOP() -> None:
    """Stand for "stop the thread" in the queue; never run."""


def client_of(request: Any) -> Dict[str, Any]:
    """Return the client of `request` for `Mailer.submit`."""
    return {"remote_addr": request.remote_addr,
            "user_agent": request.headers.get("User-Agent")}
