#!/usr/bin/env python3
"""The password policy of `ACCOUNT_POLICY=strict` (account-security §1.1).

NIST SP 800-63B-4 §3.1.1.2 and ASVS 5.0 6.2.4/6.2.12: a minimum length,
a blocklist of common and breached passwords, no password that contains
the account's own email, a reason for every refusal, and no composition
rule at all (digits, symbols, case): spaces and any Unicode are welcome,
up to the existing 1,024 characters. Under `contract` (the default) any
non-empty password is accepted, as the teaching contract says.

The blocklist (`models/data/common-passwords.txt`, its source and licence
in `models/data/README.md`) is read once per process into a set of the
passwords' NFKC case-folded forms: one set lookup per check. The optional
breach check asks a Pwned Passwords range service (`PWNED_PASSWORDS_URL`)
with k-anonymity: only the first 5 hex digits of the SHA-1 leave the
process, the service answers every suffix of that range, and the match is
made here.
"""
import functools
import hashlib
import os
import unicodedata
import urllib.error
import urllib.request
from typing import FrozenSet, Optional

from models.settings import Settings

BLOCKLIST_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "data", "common-passwords.txt")
RANGE_TIMEOUT_SECONDS = 2.0
MIN_LOCAL_PART = 4


class PasswordRefused(ValueError):
    """A new password breaks a rule; `reason` is the §1.1 reason text."""

    def __init__(self, reason: str) -> None:
        """Keep `reason`, such as `too common`."""
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> str:
        """Return the API's error text: `password refused: <reason>`."""
        return "password refused: {}".format(self.reason)


class PasswordCheckUnavailable(Exception):
    """The breach range service failed and `PWNED_PASSWORDS_FAIL=closed`."""


def _fold(text: str) -> str:
    """Return `text` after Unicode NFKC and case folding."""
    return unicodedata.normalize("NFKC", text).casefold()


@functools.lru_cache(maxsize=1)
def blocklist() -> FrozenSet[str]:
    """Return the folded passwords of the blocklist (read once).

    Raises `OSError` if the shipped file is missing.
    """
    with open(BLOCKLIST_PATH, encoding="utf-8") as handle:
        return frozenset(_fold(line.rstrip("\n")) for line in handle
                         if line.strip())


def check_new_password(password: str, email: Optional[str],
                       settings: Settings) -> None:
    """Check a new `password` of the account `email` against the policy.

    Returns None when it is acceptable (always under `contract`). Raises
    `PasswordRefused` with the first reason that applies: `shorter than
    <N> characters` (Unicode code points, `PASSWORD_MIN_LENGTH`), `too
    common`, `contains the email`, `found in a data breach`; and
    `PasswordCheckUnavailable` when the range service fails and
    `PWNED_PASSWORDS_FAIL` is `closed`.
    """
    if not settings.strict:
        return
    if len(password) < settings.password_min_length:
        raise PasswordRefused("shorter than {} characters".format(
            settings.password_min_length))
    folded = _fold(password)
    if folded in blocklist():
        raise PasswordRefused("too common")
    if isinstance(email, str) and _contains_email(folded, email):
        raise PasswordRefused("contains the email")
    if settings.pwned_passwords_url and _breached(
            password, settings.pwned_passwords_url,
            settings.pwned_passwords_fail == "closed"):
        raise PasswordRefused("found in a data breach")


def _contains_email(folded_password: str, email: str) -> bool:
    """Return True if the password holds the email or its local part.

    The local part counts only with 4 characters or more, so that `bob`
    does not refuse every password containing "bob".
    """
    address = _fold(email.strip())
    local = address.rsplit("@", 1)[0] if "@" in address else address
    if address and address in folded_password:
        return True
    return len(local) >= MIN_LOCAL_PART and local in folded_password


def _breached(password: str, base_url: str, fail_closed: bool) -> bool:
    """Return True if the range service lists `password` (count >= 1).

    Sends `GET <base_url>/range/<first 5 hex of the SHA-1, upper case>`
    with a 2 s timeout. A failure returns False (fail open) or raises
    `PasswordCheckUnavailable` (fail closed).
    """
    digest = hashlib.sha1(password.encode("utf-8", "surrogatepass")
                          ).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    url = "{}/range/{}".format(base_url.rstrip("/"), prefix)
    request = urllib.request.Request(
        url, headers={"User-Agent": "session-api-password-policy",
                      "Add-Padding": "true"})
    try:
        with urllib.request.urlopen(
                request, timeout=RANGE_TIMEOUT_SECONDS) as answer:
            body = answer.read(4 * 1024 * 1024).decode("ascii", "replace")
    except (OSError, ValueError) as exc:
        if fail_closed:
            raise PasswordCheckUnavailable(
                "the password range service failed: {}".format(
                    type(exc).__name__)) from exc
        return False
    for line in body.splitlines():
        found, _, count = line.strip().partition(":")
        if found.upper() == suffix:
            try:
                return int(count) >= 1
            except ValueError:
                return False
    return False
