#!/usr/bin/env python3
"""How emails are compared: one normalised form for "the same account"."""
import unicodedata
from typing import Optional

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 254
"""The longest email accepted, in characters (RFC 5321 §4.5.3.1.3)."""


def normalize_email(email: object) -> Optional[str]:
    """Return the form under which two emails count as the same, or None.

    Unicode NFKC with case folding (as PRECIS does, RFC 8265), with format
    characters such as the zero-width space removed and surrounding white
    space trimmed: `" Bob@HBTN.io"`, a fullwidth `Ｂｏｂ＠ｈｂｔｎ.ｉｏ` and
    `bob@hbtn.io` all give `bob@hbtn.io`. None when `email` is not a str.
    """
    if not isinstance(email, str):
        return None
    text = unicodedata.normalize("NFKC", email)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKC", text.strip().casefold())
    return text.strip()


def credentials_are_plausible(email: object, password: object) -> bool:
    """Return True if `email` and `password` could name an account at all.

    False for an email longer than `MAX_EMAIL_LENGTH`, and for an email
    or password holding NUL: such credentials are answered as an unknown
    email before any normalisation, lookup or hashing (account-security
    §1.3), whatever is stored.
    """
    if not isinstance(email, str) or not isinstance(password, str):
        return False
    return len(email) <= MAX_EMAIL_LENGTH and "\x00" not in email \
        and "\x00" not in password


def is_valid_address(email: object) -> bool:
    """Return True if `email` is a syntactically valid address (§1.2).

    Checked by `email-validator` without any deliverability (DNS) check;
    control characters and default-ignorable characters (format
    characters such as the zero-width space) are refused first, so two
    accounts cannot differ only by an invisible character.
    """
    if not isinstance(email, str) or not email:
        return False
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in email):
        return False
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True
