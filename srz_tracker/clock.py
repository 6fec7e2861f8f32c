"""Time helpers. ``now`` is read here once, at the edge, and passed down everywhere."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from srz_tracker.errors import UsageError

DEFAULT_TZ = "Asia/Shanghai"
# fromisoformat alone also takes 20231230 and 2023-W52-6; a user means YYYY-MM-DD.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Dates a plan year can mean. Outside them 0001-01-01 in Beijing time is no UTC instant,
# and 9999-12-31 plus a reminder's days is no date at all (OverflowError).
MIN_YEAR, MAX_YEAR = 1970, 2100


def check_year(year: int, what: str = "年度") -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise UsageError(f"{what} {year} 超出可用范围：年份应在 {MIN_YEAR} 至 {MAX_YEAR} 之间")


def _in_range(value: dt.date, what: str, text: str) -> None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise UsageError(f"{what} {text!r} 超出可用范围：年份应在 {MIN_YEAR} 至 {MAX_YEAR} 之间")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_date(text: str, what: str = "日期") -> dt.date:
    """Strict YYYY-MM-DD; 2023-02-30 is refused with the reason."""
    value = text.strip()
    if not _ISO_DATE.match(value):
        raise UsageError(f"{what} {text!r} 不是有效日期：应写作 YYYY-MM-DD，如 2023-12-30")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{what} {text!r} 不是有效日期：该日期不存在") from None
    _in_range(day, what, text)
    return day


def parse_now(text: str | None, tz: str = DEFAULT_TZ) -> dt.datetime:
    """``--now``: ISO date or datetime; a naive value is read in the plan timezone."""
    if text is None:
        return utcnow()
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--now {text!r} 不是有效的日期或时刻（应写作如 2023-12-20 或 2023-12-20T09:30）"
        ) from None
    _in_range(value, "--now", text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(dt.UTC)


def local_date(instant: dt.datetime, tz: str = DEFAULT_TZ) -> dt.date:
    return instant.astimezone(ZoneInfo(tz)).date()
