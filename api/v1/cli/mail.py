#!/usr/bin/env python3
"""The mail command: `send-test-mail EMAIL` checks the mail settings.

account-security §7.4: it sends one message through `MAIL_URL`, at once
(not through the outbox), and exits 0 when the transport accepted it, 1
with the transport's error otherwise, and 78 (`EX_CONFIG`) when mail is
off or `MAIL_URL` is malformed.
"""
import smtplib
import sys
from typing import Any

import click
from flask.cli import AppGroup

from api.v1.mail.transport import (MailConfigError, build_message,
                                   deliver, parse_mail_url)
from models.settings import Settings

EX_CONFIG = 78
"""sysexits.h: a configuration error (here: mail is off)."""
SUBJECT = "Session API: test message"


def register(cli: AppGroup, auth: Any, settings: Settings) -> None:
    """Add `send-test-mail` to `cli`."""

    @cli.command("send-test-mail")
    @click.argument("email")
    def send_test_mail(email: str) -> None:
        """Send one test message to EMAIL through MAIL_URL.

        Exit 0 when handed over, 1 with the transport's error, 78 when
        MAIL_URL is unset or malformed.
        """
        if not settings.mail_url:
            click.echo("error: mail is off: set MAIL_URL (for example "
                       "smtp://localhost:25 or file:///tmp/outbox)",
                       err=True)
            sys.exit(EX_CONFIG)
        try:
            transport = parse_mail_url(settings.mail_url)
        except MailConfigError as exc:
            click.echo("error: {}".format(exc), err=True)
            sys.exit(EX_CONFIG)
        message = build_message(
            settings.mail_from, email, SUBJECT,
            "This message checks the mail settings of the Session API "
            "at {}.\nNothing needs to be done.\n".format(
                settings.public_base_url))
        try:
            deliver(transport, message)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            raise click.ClickException("{} failed: {}: {}".format(
                transport.describe(), type(exc).__name__, exc))
        click.echo("handed over to {}".format(transport.describe()))
