"""A real SMTP server for the mail tests: aiosmtpd on a free port.

`SmtpSink` runs aiosmtpd's `Controller` in its own thread on 127.0.0.1,
keeps every message it accepts (parsed with the standard library's
`email` package, the same way a mail client reads it) and lets tests
wait for a number of messages without sleeping: a condition variable
wakes the waiter as each message arrives.
"""
import email
import email.policy
import re
import socket
import threading
from email.message import EmailMessage
from typing import List, Optional

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LINK = re.compile(r"(\S+/account/recover#token=([A-Za-z0-9_-]+))")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """An SMTP server that keeps what it is sent.

    With `credentials` (user, password) it offers AUTH (LOGIN, PLAIN)
    and refuses mail from clients that did not log in. With `starttls`
    (an `ssl.SSLContext`) it requires STARTTLS first; with `smtps` it
    speaks TLS from the first byte.
    """

    def __init__(self, credentials: Optional[tuple] = None,
                 starttls=None, smtps=None) -> None:
        self.port = free_port()
        self.messages: List[EmailMessage] = []
        self.envelopes: List[tuple] = []
        self._cond = threading.Condition()
        options = {}
        if credentials is not None:
            options.update(authenticator=self._authenticator(credentials),
                           auth_required=True,
                           auth_require_tls=starttls is not None)
        if starttls is not None:
            options.update(tls_context=starttls, require_starttls=True)
        if smtps is not None:
            options.update(ssl_context=smtps)
        self.controller = Controller(self, hostname="127.0.0.1",
                                     port=self.port, **options)

    @staticmethod
    def _authenticator(credentials: tuple):
        user, password = credentials

        def check(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and \
                auth_data.login == user.encode() and \
                auth_data.password == password.encode()
            return AuthResult(success=ok, handled=False)
        return check

    @property
    def url(self) -> str:
        return "smtp://127.0.0.1:{}".format(self.port)

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content,
                                          policy=email.policy.default)
        with self._cond:
            self.messages.append(parsed)
            self.envelopes.append((envelope.mail_from,
                                   tuple(envelope.rcpt_tos)))
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 10) -> List[EmailMessage]:
        """Return the messages once `count` arrived; fail after `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count,
                                       timeout):
                raise AssertionError("{} messages arrived, {} expected"
                                     .format(len(self.messages), count))
            return list(self.messages)

    def to(self, address: str, subject: Optional[str] = None
           ) -> List[EmailMessage]:
        """Return the messages sent to `address` (with `subject`)."""
        with self._cond:
            return [m for m in self.messages if m["To"] == address
                    and (subject is None or m["Subject"] == subject)]


def body_of(message: EmailMessage) -> str:
    """Return the text/plain part of `message`, decoded."""
    return message.get_body(preferencelist=("plain",)).get_content()


def link_of(message: EmailMessage) -> tuple:
    """Return (link, token) of a recovery message."""
    found = LINK.search(body_of(message))
    assert found, body_of(message)
    return found.group(1), found.group(2)
