"""China's statutory working-day calendar, with local overrides.

The ``chinesecalendar`` package (import name ``chinese_calendar``) knows the State
Council's holidays and the 调休 make-up working days (a Saturday or Sunday that is a
working day) for the years it has data for. Local overrides (``[calendar] holidays`` and
``workdays`` in the settings) win over the library: they correct a year the library does
not know yet, or a local holiday.

Outside the years the library knows, Monday to Friday are working days; that fallback is
logged once per calendar instance and year. Answers are cached per date: the scheduler
asks about the same few dates many times in a pass.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable

import chinese_calendar

log = logging.getLogger("srz_tracker.timing.workdays")

# How far on_or_before / on_or_after search before giving up (only reachable with
# absurd overrides such as a whole year of holidays).
_MAX_SEARCH_DAYS = 3 * 366


def _as_date(d: dt.date) -> dt.date:
    return d.date() if isinstance(d, dt.datetime) else d


class WorkdayCalendar:
    """Working days per the statutory calendar; ``holidays`` / ``workdays`` override it."""

    def __init__(self, holidays: Iterable[dt.date] = (), workdays: Iterable[dt.date] = ()) -> None:
        self._holidays = frozenset(_as_date(d) for d in holidays)
        self._workdays = frozenset(_as_date(d) for d in workdays)
        both = self._holidays & self._workdays
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"dates both in holiday and workday overrides: {listed}")
        self._override_years = frozenset(d.year for d in self._holidays | self._workdays)
        self._cache: dict[dt.date, bool] = {}
        self._library_years: dict[int, bool] = {}
        self._warned_years: set[int] = set()
        self._lock = threading.Lock()

    # -- single days -----------------------------------------------------------------

    def is_workday(self, d: dt.date) -> bool:
        d = _as_date(d)
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        if d in self._workdays:
            answer = True
        elif d in self._holidays:
            answer = False
        else:
            try:
                answer = bool(chinese_calendar.is_workday(d))
            except NotImplementedError:
                self._warn_fallback(d.year)
                answer = d.weekday() < 5
        self._cache[d] = answer
        return answer

    def _warn_fallback(self, year: int) -> None:
        with self._lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
        log.warning(
            "the Chinese statutory holiday calendar has no data for %d: treating Monday to "
            "Friday as working days for that year (add [calendar] holidays/workdays "
            "overrides or upgrade chinesecalendar to correct this)",
            year,
        )

    # -- moving to a working day -------------------------------------------------------

    def on_or_before(self, d: dt.date) -> dt.date:
        """``d`` if it is a working day, else the previous one (where reminders go)."""
        d = _as_date(d)
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_workday(d):
                return d
            d -= dt.timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days before {d}")

    def on_or_after(self, d: dt.date) -> dt.date:
        """``d`` if it is a working day, else the next one (where escalations go)."""
        d = _as_date(d)
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_workday(d):
                return d
            d += dt.timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days after {d}")

    def first_workday_of_week(self, d: dt.date) -> dt.date:
        """The first working day of ``d``'s ISO week (Monday..Sunday); the Monday if none."""
        d = _as_date(d)
        monday = d - dt.timedelta(days=d.weekday())
        for i in range(7):
            day = monday + dt.timedelta(days=i)
            if self.is_workday(day):
                return day
        return monday

    # -- coverage ----------------------------------------------------------------------

    def year_known(self, year: int) -> bool:
        """True when the library has data for ``year`` or overrides exist for it."""
        if year in self._override_years:
            return True
        known = self._library_years.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(dt.date(year, 7, 1))
                known = True
            except NotImplementedError:
                known = False
            self._library_years[year] = known
        return known

    def unknown_years(self, years: Iterable[int]) -> list[int]:
        """The years among ``years`` for which the Monday-Friday fallback would apply."""
        return sorted({y for y in years if not self.year_known(y)})
