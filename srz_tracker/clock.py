"""Time helpers. ``now`` is read here once, at the edge, and passed down everywhere."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from srz_tracker.errors import UsageError

DEFAULT_TZ = "Asia/Shanghai"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_date(text: str, what: str = "date") -> dt.date:
    """Strict YYYY-MM-DD; 2023-02-30 is refused with the reason."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(f"{what} {text!r} is not a valid date (YYYY-MM-DD): {exc}") from None


def parse_now(text: str | None, tz: str = DEFAULT_TZ) -> dt.datetime:
    """``--now``: ISO date or datetime; a naive value is read in the plan timezone."""
    if text is None:
        return utcnow()
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            f"--now {text!r} is not a valid date/time (e.g. 2023-12-20T09:30): {exc}"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(dt.UTC)


def local_date(instant: dt.datetime, tz: str = DEFAULT_TZ) -> dt.date:
    return instant.astimezone(ZoneInfo(tz)).date()
