#!/usr/bin/env python3
"""The one clock of the project: naive datetimes in UTC (spec §7, A7).

Every stored and compared time comes from `utcnow`, so results never depend
on the host's time zone. Call it as `clock.utcnow()` (not `from ... import`)
so that tests can move time by replacing this one function.
"""
from datetime import datetime, timezone


def utcnow() -> datetime:
    """Return the current time in UTC as a naive `datetime`.

    Naive, because `Base` stores timestamps without an offset and Python
    refuses to compare naive with aware datetimes.
    """
    return datetime.now(timezone.utc).replace(tzinfo=None)
