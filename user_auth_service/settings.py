#!/usr/bin/env python3
"""Settings of the user authentication service, parsed from a mapping.

`app.py` is the only module that reads the environment (contract §0): it
hands `os.environ` to `Settings.from_environ`, and `Auth` receives the
resulting value. Every default keeps the contract of
`user-auth-service.md` §1 to §8 exact; §9 of that file lists the settings.
"""
from dataclasses import dataclass
from typing import Mapping, Optional

POLICIES = ("contract", "strict")


def _seconds(environ: Mapping[str, str], name: str, default: int,
             minimum: int) -> int:
    """Return the whole seconds that variable `name` of `environ` holds.

    Unset or empty gives `default`. Raises `ValueError`, naming the
    variable, for text that is not an integer or is below `minimum`: a
    typo in a security setting must stop the start, not fall back
    silently.
    """
    text = (environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValueError("{} must be a whole number of seconds, {} or more, "
                         "not {!r}".format(name, minimum, text))
    return value


@dataclass(frozen=True)
class Settings:
    """Plain configuration values of one service process.

    Durations are whole seconds. `database_url` is None for the
    contract's `a.db`, wiped at each start. `account_policy` is `contract`
    or `strict`. The limits are strings of the `limits` library (such as
    `5/minute`); they are fixed by the spec (§9) and not read from the
    environment, but tests may pass smaller ones.
    """

    api_host: str = "0.0.0.0"
    api_port: str = "5000"
    database_url: Optional[str] = None
    account_policy: str = "contract"
    reset_token_seconds: int = 900
    session_seconds: int = 0
    ratelimit_storage_uri: str = "memory://"
    login_limit_per_email_address: str = "5/minute"
    login_limit_per_address: str = "20/minute"
    login_limit_per_account: str = "50/hour"
    register_limit_per_address: str = "10/minute"

    @property
    def strict(self) -> bool:
        """Return True under `ACCOUNT_POLICY=strict`."""
        return self.account_policy == "strict"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Settings":
        """Return the settings that the variables of `environ` give.

        `environ` is a mapping such as `os.environ`. Variables: `API_HOST`
        and `API_PORT` (contract §0), `UAS_DATABASE_URL` (a SQLAlchemy URL
        that keeps users across restarts), `ACCOUNT_POLICY` (`contract` or
        `strict`, any case), `RESET_TOKEN_SECONDS` (1 or more, default
        900), `UAS_SESSION_SECONDS` (0, the default, keeps a session until
        logout) and `RATELIMIT_STORAGE_URI` (a `limits` storage URI such
        as `redis://host:6379/0`; default this process's memory). Unset
        and empty mean the default. Raises `ValueError` naming the
        variable for a policy or a number it cannot accept.
        """
        defaults = cls()
        policy = (environ.get("ACCOUNT_POLICY") or "").strip().lower()
        if policy and policy not in POLICIES:
            raise ValueError("ACCOUNT_POLICY must be contract or strict, "
                             "not {!r}".format(policy))
        return cls(
            api_host=environ.get("API_HOST", defaults.api_host),
            api_port=environ.get("API_PORT", defaults.api_port),
            database_url=(environ.get("UAS_DATABASE_URL") or "").strip()
            or None,
            account_policy=policy or defaults.account_policy,
            reset_token_seconds=_seconds(environ, "RESET_TOKEN_SECONDS",
                                         defaults.reset_token_seconds, 1),
            session_seconds=_seconds(environ, "UAS_SESSION_SECONDS",
                                     defaults.session_seconds, 0),
            ratelimit_storage_uri=(environ.get("RATELIMIT_STORAGE_URI")
                                   or "").strip()
            or defaults.ratelimit_storage_uri,
        )
