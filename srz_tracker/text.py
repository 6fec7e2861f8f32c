"""Chinese formatting helpers shared by the email templates, the CLI and the reports.

Percentages come on two scales, and each has its own function so that a caller cannot
mix them up: report figures are fractions (``0.925``), the weekly email's completion is
already a percentage (``92.5``)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
DEFAULT_TZ = "Asia/Shanghai"

# C0 and C1 control characters (CR, LF, TAB, NUL, ESC...) and the Unicode line and
# paragraph separators: none may reach a mail header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _as_date(d: dt.date) -> dt.date:
    return d.date() if isinstance(d, dt.datetime) else d


def cn_date_short(d: dt.date) -> str:
    """``2023年12月30日``"""
    d = _as_date(d)
    return f"{d.year}年{d.month}月{d.day}日"


def cn_date(d: dt.date) -> str:
    """``2023年12月30日（星期六）`` (full-width parentheses)."""
    d = _as_date(d)
    return f"{cn_date_short(d)}（{WEEKDAYS[d.weekday()]}）"


def cn_datetime(value: dt.datetime, tz: str = DEFAULT_TZ) -> str:
    """``2023年12月22日 09:00`` in ``tz`` (Beijing time). A naive value is taken as UTC,
    the way the database stores instants."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(ZoneInfo(tz))
    return f"{cn_date_short(value)} {value:%H:%M}"


NO_VALUE = "—"  # shown where a figure has no data (no target, no task, not recorded)


def pct_of_fraction(value: float | None) -> str:
    """``0.925`` → ``92.5%``, ``1.0`` → ``100.0%``: always one decimal, so that a
    column of report figures lines up; ``None`` → ``—``."""
    return NO_VALUE if value is None else f"{value:.1%}"


def pct_target_of_fraction(value: float | None) -> str:
    """A target: ``0.9`` → ``90%``, ``0.925`` → ``92.5%`` (one decimal only when the
    target has one); ``None`` → ``—``."""
    if value is None:
        return NO_VALUE
    whole = round(value * 100, 6) == round(value * 100)
    return f"{value:.0%}" if whole else f"{value:.1%}"


def pct_of_percent(value: float) -> str:
    """``62.5`` → ``62.5%``, ``100.0`` → ``100%``: a percentage (0-100) rounded to one
    decimal, the decimal dropped when it is zero."""
    text = f"{float(value):.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return text + "%"


def wan(value: float | None) -> str:
    """An amount in 万元 with two decimals and thousands separators: ``1,234.50``;
    ``None`` → ``—``."""
    return NO_VALUE if value is None else f"{value:,.2f}"


def days_phrase(days_left: int) -> str:
    """``还剩 5 天`` / ``今天到期`` / ``已逾期 3 天`` (negative ``days_left`` = overdue)."""
    if days_left > 0:
        return f"还剩 {days_left} 天"
    if days_left == 0:
        return "今天到期"
    return f"已逾期 {-days_left} 天"


def sanitize_header(value: str) -> str:
    """A value safe for one mail header line: control characters (CR, LF, TAB...) become
    one space, so that data can never start a header of its own."""
    return _CONTROL.sub(" ", str(value)).strip()


def week_label(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
