#!/usr/bin/env python3
"""Configuration of the Session API, read from environment variables.

This module is the only place that reads the environment. `load_settings`
turns the variables into a frozen `Settings` value; the application
factory, the auth classes and the models receive that value instead of
calling `os.getenv`. It sits below both `api` and `models`, so that a
script importing only `models` finds its store (`DATABASE_URL`) the same
way the server does.

Each field of `Settings` names its variable and its parser once, in its
`metadata`; `load_settings` walks the fields. The names, defaults and
ranges of the variables are those of the contract (`session-api.md`,
`account-security.md`).
"""
import os
from dataclasses import dataclass, field, fields
from typing import (Any, Callable, Mapping, Optional, Sequence, Tuple,
                    TypeVar)

DEFAULT_SESSION_NAME = "_my_session_id"
DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
USERS_POLICIES = ("any", "owner")
ACCOUNT_POLICIES = ("contract", "strict")
NOTICE_KINDS = ("password_changed", "second_factor_changed", "new_device")

T = TypeVar("T")
Parser = Callable[[Optional[str], Any], Any]


def parse_int(value: Optional[str], default: int = 0) -> int:
    """Parse `value` with `int()` semantics, or return `default`.

    `None`, `""` and text that `int()` rejects (such as `"abc"`) give
    `default`; surrounding white space is allowed, so `" 60"` gives 60 and
    `"-5"` gives -5 (spec A19).
    """
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return default


def parse_float(value: Optional[str], default: float) -> float:
    """Parse a positive number of seconds, or return `default`.

    Unset, unparsable, zero or negative values give `default`.
    """
    try:
        number = float(value) if value is not None else default
    except ValueError:
        return default
    return number if number > 0 else default


def parse_bool(value: Optional[str], default: bool = False) -> bool:
    """Return True when `value` is `1`, `true`, `yes` or `on` (any case).

    Unset gives `default`; any other text gives False.
    """
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_origins(value: Optional[str], default: Tuple[str, ...] = ()
                  ) -> Tuple[str, ...]:
    """Return the origins of a comma- or space-separated list, lower-cased.

    A trailing slash is dropped, so `https://app.example/` gives
    `https://app.example` (an origin has no path, RFC 6454).
    """
    items = (value or "").replace(",", " ").split()
    return tuple(item.rstrip("/").lower() for item in items) or default


def parse_names(value: Optional[str], default: Tuple[str, ...]
                ) -> Tuple[str, ...]:
    """Return a comma-separated list of names; unset gives `default`.

    An empty value gives `()` (for `NOTICES`, no notice at all).
    """
    if value is None:
        return default
    return tuple(item.strip().lower() for item in value.split(",")
                 if item.strip())


def _text(value: Optional[str], default: Any) -> Any:
    """Return `value` as given, or `default` when it is unset or empty."""
    return value or default


def _raw(value: Optional[str], default: Any) -> Any:
    """Return `value` as given (an empty value too), or `default` unset."""
    return default if value is None else value


def _url(value: Optional[str], default: Any) -> Optional[str]:
    """Return `value` stripped, or None when it is unset or blank."""
    return (value or "").strip() or default


def _base_url(value: Optional[str], default: str) -> str:
    """Return a URL without its trailing slash; blank gives `default`."""
    return ((value or "").strip() or default).rstrip("/")


def _choice(choices: Sequence[str]) -> Parser:
    """Return a parser accepting one of `choices` (any case), else default."""
    def parse(value: Optional[str], default: str) -> str:
        """Return the lower-cased `value` if it is a choice, else default."""
        text = (value or "").strip().lower()
        return text if text in choices else default
    return parse


def _bounded(low: int, high: Optional[int] = None) -> Parser:
    """Return an int parser that clamps its result to [low, high]."""
    def parse(value: Optional[str], default: int) -> int:
        """Return `parse_int(value, default)` clamped to the bounds."""
        number = max(low, parse_int(value, default))
        return number if high is None else min(high, number)
    return parse


def _positive_or_default(value: Optional[str], default: int) -> int:
    """Return a positive int, or `default` for anything else."""
    number = parse_int(value, default)
    return number if number > 0 else default


def env(name: str, default: Any = None, parse: Parser = _text,
        secret: bool = False) -> Any:
    """Declare a `Settings` field read from variable `name` by `parse`.

    A `secret` field (a key, a token, a URL that may hold a password) is
    left out of the settings' `repr`, so that printing or logging the
    settings never shows it.
    """
    return field(default=default, repr=not secret,
                 metadata={"env": name, "parse": parse})


@dataclass(frozen=True)
class Settings:
    """Plain configuration values of one Session API process.

    Durations are whole seconds unless a field says otherwise; for the
    contract's session durations 0 or a negative value switches the
    timeout off (spec §6.2, A19). URLs are None when unset.
    """

    auth_type: Optional[str] = env("AUTH_TYPE")
    session_name: str = env("SESSION_NAME", DEFAULT_SESSION_NAME)
    session_duration: int = env("SESSION_DURATION", 0, parse_int)
    session_idle_timeout: int = env("SESSION_IDLE_TIMEOUT", 0, parse_int)
    session_cookie_secure: bool = env("SESSION_COOKIE_SECURE", False,
                                      parse_bool)
    max_content_length: int = env("MAX_CONTENT_LENGTH",
                                  DEFAULT_MAX_CONTENT_LENGTH,
                                  _positive_or_default)
    api_host: str = env("API_HOST", "0.0.0.0", _raw)
    api_port: str = env("API_PORT", "5000", _raw)
    database_url: Optional[str] = env("DATABASE_URL", None, _url,
                                      secret=True)
    database_listen_url: Optional[str] = env("DATABASE_LISTEN_URL", None,
                                             _url, secret=True)
    database_pool_size: int = env("DATABASE_POOL_SIZE", 5, _bounded(1))
    read_cache_size: int = env("READ_CACHE_SIZE", 10000, _bounded(0))
    read_cache_strict: bool = env("READ_CACHE_STRICT", True, parse_bool)
    session_store_url: Optional[str] = env("SESSION_STORE_URL", None, _url,
                                           secret=True)
    session_store_ttl: int = env("SESSION_STORE_TTL", 2592000,
                                 _positive_or_default)
    ratelimit_storage_uri: Optional[str] = env("RATELIMIT_STORAGE_URI",
                                               None, _url, secret=True)
    store_timeout_seconds: float = env("STORE_TIMEOUT_SECONDS", 0.5,
                                       parse_float)
    store_retry_seconds: float = env("STORE_RETRY_SECONDS", 2.0,
                                     parse_float)
    login_limit_per_account: str = env("LOGIN_LIMIT_PER_ACCOUNT",
                                       "5 per minute")
    login_limit_per_address: str = env("LOGIN_LIMIT_PER_ADDRESS",
                                       "20 per minute")
    login_limit_account_wide: str = env("LOGIN_LIMIT_ACCOUNT_WIDE",
                                        "50 per hour")
    users_policy: str = env("USERS_POLICY", "any", _choice(USERS_POLICIES))
    allowed_origins: Tuple[str, ...] = env("ALLOWED_ORIGINS", (),
                                           parse_origins)
    basic_cache_seconds: int = env("BASIC_CACHE_SECONDS", 120, _bounded(0))
    basic_cache_size: int = env("BASIC_CACHE_SIZE", 10000, _bounded(0))
    account_policy: str = env("ACCOUNT_POLICY", "contract",
                              _choice(ACCOUNT_POLICIES))
    password_min_length: int = env("PASSWORD_MIN_LENGTH", 8,
                                   _bounded(8, 64))
    pwned_passwords_url: Optional[str] = env("PWNED_PASSWORDS_URL", None,
                                             _url)
    pwned_passwords_fail: str = env("PWNED_PASSWORDS_FAIL", "open",
                                    _choice(("open", "closed")))
    device_cookie_name: str = env("DEVICE_COOKIE_NAME", "_device_id")
    sessions_per_user: int = env("SESSIONS_PER_USER", 100, _bounded(0))
    secret_key: Optional[str] = env("SECRET_KEY", None, _url, secret=True)
    totp_issuer: str = env("TOTP_ISSUER", "Session API")
    mfa_token_seconds: int = env("MFA_TOKEN_SECONDS", 300,
                                 _positive_or_default)
    reauth_seconds: int = env("REAUTH_SECONDS", 300, _positive_or_default)
    webauthn_rp_id: Optional[str] = env("WEBAUTHN_RP_ID", None, _url)
    webauthn_rp_name: str = env("WEBAUTHN_RP_NAME", "Session API")
    webauthn_origins: Tuple[str, ...] = env("WEBAUTHN_ORIGINS", (),
                                            parse_origins)
    metrics_enabled: bool = env("METRICS_ENABLED", False, parse_bool)
    metrics_token: Optional[str] = env("METRICS_TOKEN", None, _url,
                                       secret=True)
    prometheus_multiproc_dir: Optional[str] = env(
        "PROMETHEUS_MULTIPROC_DIR", None, _url)
    log_format: str = env("LOG_FORMAT", "text", _choice(("text", "json")))
    auth_events_days: int = env("AUTH_EVENTS_DAYS", 90,
                                _positive_or_default)
    mail_url: Optional[str] = env("MAIL_URL", None, _url, secret=True)
    mail_from: str = env("MAIL_FROM", "Session API <no-reply@localhost>")
    public_base_url: str = env("PUBLIC_BASE_URL", "http://localhost:5000",
                               _base_url)
    recovery_token_seconds: int = env("RECOVERY_TOKEN_SECONDS", 900,
                                      _positive_or_default)
    recovery_limit_per_address: str = env("RECOVERY_LIMIT_PER_ADDRESS",
                                          "10 per hour")
    notices: Tuple[str, ...] = env("NOTICES", NOTICE_KINDS, parse_names)

    @property
    def limits_storage_uri(self) -> str:
        """Return where the rate-limit counters live (a `limits` URI).

        `RATELIMIT_STORAGE_URI` when set (`memory://` included); otherwise
        the Redis of `SESSION_STORE_URL` when there is one, so that every
        process shares the counters; otherwise `memory://`.
        """
        if self.ratelimit_storage_uri:
            return self.ratelimit_storage_uri
        if self.session_store_url and self.session_store_url.startswith(
                ("redis://", "rediss://", "unix://", "redis+sentinel://")):
            return self.session_store_url
        return "memory://"

    @property
    def listen_url(self) -> Optional[str]:
        """Return the URL of the connection that listens for changes.

        `DATABASE_LISTEN_URL` when set (to reach PostgreSQL past a
        transaction-pooling proxy), else `DATABASE_URL`; None without a
        database.
        """
        return self.database_listen_url or self.database_url

    @property
    def strict(self) -> bool:
        """Return True under `ACCOUNT_POLICY=strict`."""
        return self.account_policy == "strict"


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Read the Session API settings from `environ` (default `os.environ`).

    Every field of `Settings` names its variable; an unset variable, or
    one its parser rejects, gives the field's default (the contract's
    fallbacks: a missing or non-integer `SESSION_DURATION` means 0).
    Returns a new `Settings`; never raises. The README lists every
    variable with its meaning.
    """
    source = os.environ if environ is None else environ
    values = {}
    for item in fields(Settings):
        parse = item.metadata["parse"]
        values[item.name] = parse(source.get(item.metadata["env"]),
                                  item.default)
    return Settings(**values)
