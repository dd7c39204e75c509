#!/usr/bin/env python3
"""Mail transports named by `MAIL_URL`, and the messages they carry.

`MAIL_URL` (account-security §7.1) names one transport:

* `smtp://[user:password@]host[:port]`: SMTP without TLS (port 25);
* `smtp+starttls://...`: SMTP upgraded with STARTTLS (port 587);
* `smtps://...`: SMTP over TLS from the first byte (port 465);
* `file:///<absolute folder>`: one RFC 5322 `.eml` file per message,
  for development (folder mode 0700, files 0600).

SMTP goes through the standard library's `smtplib` with a 10 s timeout
and `ssl.create_default_context()` (certificates and host names are
verified); messages are `email.message.EmailMessage` values (RFC 5322,
UTF-8 text parts).
"""
import os
import secrets
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Optional
from urllib.parse import unquote, urlsplit

SMTP_TIMEOUT_SECONDS = 10.0
"""The bound on every SMTP connect and command (account-security §7.1)."""
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
SCHEMES = tuple(DEFAULT_PORTS) + ("file",)


class MailConfigError(ValueError):
    """`MAIL_URL` cannot name a transport; the message says how to fix it."""


@dataclass(frozen=True)
class Transport:
    """Where messages go: an SMTP server or a folder.

    `scheme` is one of `SCHEMES`; `host`, `port`, `user` and `password`
    are set for SMTP (user and password None without credentials);
    `folder` is the absolute folder of the `file` transport.
    """

    scheme: str
    host: Optional[str] = None
    port: Optional[int] = None
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    folder: Optional[str] = None

    def describe(self) -> str:
        """Return where messages go, without the credentials."""
        if self.scheme == "file":
            return "file://" + (self.folder or "")
        return "{}://{}:{}".format(self.scheme, self.host, self.port)


def parse_mail_url(url: str) -> Transport:
    """Return the transport `url` names (a `MAIL_URL` value).

    User and password may be percent-encoded (RFC 3986). Raises
    `MailConfigError` for an unknown scheme, an SMTP URL without a host
    or with a port that is not a number, and a `file` URL whose folder
    is not absolute.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise MailConfigError("MAIL_URL is malformed ({}); use for example "
                              "smtp://user:password@host:587".format(exc))
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise MailConfigError(
            "MAIL_URL has the unknown scheme {!r}; use one of {}".format(
                scheme, ", ".join(SCHEMES)))
    if scheme == "file":
        folder = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or \
                not os.path.isabs(folder):
            raise MailConfigError(
                "MAIL_URL file:// needs an absolute folder, as "
                "file:///var/mail/session-api")
        return Transport("file", folder=folder)
    if not parts.hostname:
        raise MailConfigError(
            "MAIL_URL names no host; use {}://host[:port]".format(scheme))
    return Transport(scheme, host=parts.hostname,
                     port=port or DEFAULT_PORTS[scheme],
                     user=unquote(parts.username) if parts.username else None,
                     password=(unquote(parts.password)
                               if parts.password is not None else None))


def build_message(sender: str, to: str, subject: str,
                  text: str) -> EmailMessage:
    """Return an RFC 5322 message from `sender` to `to`.

    It has `From`, `To`, `Subject`, `Date` (now, UTC), a `Message-ID`
    in the sender's domain and one UTF-8 `text/plain` part holding
    `text`.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text, charset="utf-8")
    return message


def deliver(transport: Transport, message: EmailMessage,
            timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
    """Hand `message` to `transport`; return once it was accepted.

    `timeout` (seconds) bounds every SMTP connect and command. Raises
    `OSError` (refused, timed out, a folder that cannot be written),
    `ssl.SSLError` or `smtplib.SMTPException` (refused recipient,
    wrong credentials) when the message was not handed over.
    """
    if transport.scheme == "file":
        _write_file(transport.folder or "", message)
        return
    context = ssl.create_default_context()
    if transport.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            transport.host or "", transport.port or 0, timeout=timeout,
            context=context)
    else:
        client = smtplib.SMTP(transport.host or "", transport.port or 0,
                              timeout=timeout)
    with client:
        if transport.scheme == "smtp+starttls":
            client.starttls(context=context)
        if transport.user is not None:
            client.login(transport.user, transport.password or "")
        client.send_message(message)


def _write_file(folder: str, message: EmailMessage) -> None:
    """Write `message` as a new `.eml` file (mode 0600) in `folder`.

    The folder is created with mode 0700 when missing. The file is
    written under a temporary name and renamed, so that a reader never
    sees half a message. Raises `OSError` when the folder cannot be
    written.
    """
    os.makedirs(folder, mode=0o700, exist_ok=True)
    name = "{}-{}.eml".format(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                              secrets.token_hex(8))
    temporary = os.path.join(folder, "." + name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(message.as_bytes())
    os.replace(temporary, os.path.join(folder, name))
