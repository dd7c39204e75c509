#!/usr/bin/env python3
"""Configuration of the Session API, read from environment variables.

This module is the only place that reads the environment. `load_settings`
turns the variables into a frozen `Settings` value; the application factory
and the auth classes receive that value instead of calling `os.getenv`.
"""
import os
from dataclasses import dataclass
from typing import Mapping, Optional

AUTH_EXTENSION = "session_api.auth"
SETTINGS_EXTENSION = "session_api.settings"
DEFAULT_SESSION_NAME = "_my_session_id"
DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Plain configuration values of one Session API process.

    Durations are whole seconds; 0 or a negative value switches the
    corresponding timeout off (spec §6.2, A19).
    """

    auth_type: Optional[str] = None
    session_name: str = DEFAULT_SESSION_NAME
    session_duration: int = 0
    session_idle_timeout: int = 0
    session_cookie_secure: bool = False
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    api_host: str = "0.0.0.0"
    api_port: str = "5000"
    ratelimit_storage_uri: str = "memory://"
    login_limit_per_account: str = "5 per minute"
    login_limit_per_address: str = "20 per minute"


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


def parse_bool(value: Optional[str]) -> bool:
    """Return True when `value` is `1`, `true`, `yes` or `on` (any case)."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Read the Session API settings from `environ` (default `os.environ`).

    Variables: `AUTH_TYPE`, `SESSION_NAME` (default `_my_session_id`, also
    when empty, A16), `SESSION_DURATION` and `SESSION_IDLE_TIMEOUT` (seconds,
    unparsable gives 0), `SESSION_COOKIE_SECURE` (`1` sets the cookie's
    Secure flag), `MAX_CONTENT_LENGTH` (bytes, default 1 MiB),
    `API_HOST`, `API_PORT`, `RATELIMIT_STORAGE_URI` (a `limits` storage
    URI such as `redis://127.0.0.1:6379`, default `memory://`),
    `LOGIN_LIMIT_PER_ACCOUNT` and `LOGIN_LIMIT_PER_ADDRESS` (rate limit
    strings such as `5 per minute`). Returns a new `Settings`; never raises.
    """
    env = os.environ if environ is None else environ
    defaults = Settings()
    max_length = parse_int(env.get("MAX_CONTENT_LENGTH"),
                           defaults.max_content_length)
    return Settings(
        auth_type=env.get("AUTH_TYPE") or None,
        session_name=env.get("SESSION_NAME") or defaults.session_name,
        session_duration=parse_int(env.get("SESSION_DURATION")),
        session_idle_timeout=parse_int(env.get("SESSION_IDLE_TIMEOUT")),
        session_cookie_secure=parse_bool(env.get("SESSION_COOKIE_SECURE")),
        max_content_length=(max_length if max_length > 0
                            else defaults.max_content_length),
        api_host=env.get("API_HOST", defaults.api_host),
        api_port=env.get("API_PORT", defaults.api_port),
        ratelimit_storage_uri=(env.get("RATELIMIT_STORAGE_URI")
                               or defaults.ratelimit_storage_uri),
        login_limit_per_account=(env.get("LOGIN_LIMIT_PER_ACCOUNT")
                                 or defaults.login_limit_per_account),
        login_limit_per_address=(env.get("LOGIN_LIMIT_PER_ADDRESS")
                                 or defaults.login_limit_per_address),
    )
