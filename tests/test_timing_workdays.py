from __future__ import annotations

import logging
from datetime import date

import pytest

from srz_tracker.text import cn_date, cn_date_short, days_phrase, sanitize_header
from srz_tracker.timing.workdays import WorkdayCalendar


@pytest.fixture
def cal() -> WorkdayCalendar:
    return WorkdayCalendar()


def test_national_day_and_make_up_day(cal: WorkdayCalendar) -> None:
    assert not cal.is_workday(date(2023, 10, 2))  # 国庆节
    assert cal.is_workday(date(2023, 10, 7))  # Saturday 调休 make-up working day
    assert not cal.is_workday(date(2023, 12, 30))  # ordinary Saturday
    assert cal.is_workday(date(2023, 12, 29))  # Friday


def test_moving_to_a_workday(cal: WorkdayCalendar) -> None:
    assert cal.on_or_before(date(2023, 10, 3)) == date(2023, 9, 28)
    assert cal.on_or_after(date(2023, 10, 1)) == date(2023, 10, 7)
    assert cal.on_or_before(date(2023, 12, 29)) == date(2023, 12, 29)
    assert cal.on_or_after(date(2023, 12, 30)) == date(2024, 1, 2)  # 元旦 on Monday


def test_first_workday_of_week(cal: WorkdayCalendar) -> None:
    # Week of National Day 2023: Mon 2 .. Fri 6 are holidays, Sat 7 is a make-up day.
    assert cal.first_workday_of_week(date(2023, 10, 4)) == date(2023, 10, 7)
    assert cal.first_workday_of_week(date(2023, 12, 20)) == date(2023, 12, 18)
    # Spring Festival week 2023 (Jan 23-27 holidays); Sat 28 and Sun 29 are make-up days.
    assert cal.first_workday_of_week(date(2023, 1, 25)) == date(2023, 1, 28)
    # A week with no working day at all: the Monday.
    week = [date(2023, 12, 18 + i) for i in range(7)]
    assert WorkdayCalendar(holidays=week).first_workday_of_week(week[3]) == week[0]


def test_overrides_win() -> None:
    cal = WorkdayCalendar(holidays=[date(2023, 12, 29)], workdays=[date(2023, 12, 30)])
    assert not cal.is_workday(date(2023, 12, 29))
    assert cal.is_workday(date(2023, 12, 30))
    assert cal.on_or_before(date(2023, 12, 31)) == date(2023, 12, 30)
    assert cal.on_or_before(date(2023, 12, 29)) == date(2023, 12, 28)


def test_conflicting_overrides_rejected() -> None:
    with pytest.raises(ValueError):
        WorkdayCalendar(holidays=[date(2023, 1, 2)], workdays=[date(2023, 1, 2)])


def test_unknown_year_falls_back_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkdayCalendar()
    with caplog.at_level(logging.WARNING, logger="srz_tracker.timing.workdays"):
        assert cal.is_workday(date(2099, 1, 1))  # Thursday
        assert not cal.is_workday(date(2099, 1, 3))  # Saturday
        assert cal.on_or_after(date(2099, 1, 3)) == date(2099, 1, 5)
        assert cal.first_workday_of_week(date(2099, 6, 10)) == date(2099, 6, 8)
    records = [r for r in caplog.records if r.name == "srz_tracker.timing.workdays"]
    assert len(records) == 1
    assert "2099" in records[0].getMessage()
    # A second instance warns again (once per instance), another year too.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="srz_tracker.timing.workdays"):
        WorkdayCalendar().is_workday(date(2099, 1, 1))
        cal.is_workday(date(2098, 1, 1))
        cal.is_workday(date(2098, 1, 2))
    assert len([r for r in caplog.records if r.name == "srz_tracker.timing.workdays"]) == 2


def test_year_known() -> None:
    cal = WorkdayCalendar(workdays=[date(2099, 1, 3)])
    assert cal.year_known(2023)
    assert cal.year_known(2099)  # overrides exist
    assert not cal.year_known(2098)
    assert cal.unknown_years([2023, 2098, 2097, 2098, 2099]) == [2097, 2098]


def test_cached_answers_are_fast(cal: WorkdayCalendar) -> None:
    import time

    d = date(2023, 10, 3)
    cal.on_or_before(d)
    start = time.perf_counter()
    for _ in range(20_000):
        cal.on_or_before(d)
    assert time.perf_counter() - start < 1.0


def test_text_formatting() -> None:
    assert cn_date(date(2023, 12, 30)) == "2023年12月30日（星期六）"
    assert cn_date(date(2023, 10, 2)) == "2023年10月2日（星期一）"
    assert cn_date(date(2023, 10, 8)) == "2023年10月8日（星期日）"
    assert cn_date_short(date(2023, 12, 30)) == "2023年12月30日"
    assert days_phrase(5) == "还剩 5 天"
    assert days_phrase(0) == "今天到期"
    assert days_phrase(-3) == "已逾期 3 天"
    assert sanitize_header("主题\r\nBcc: evil@example.org") == "主题 Bcc: evil@example.org"
    assert sanitize_header("a\tb\x00c\u2028d\n") == "a b c d"


def test_cn_datetime_shows_beijing_time() -> None:
    from datetime import UTC, datetime

    from srz_tracker.text import cn_datetime

    assert cn_datetime(datetime(2023, 12, 22, 1, 0, tzinfo=UTC)) == "2023年12月22日 09:00"
    assert cn_datetime(datetime(2023, 12, 22, 1, 0)) == "2023年12月22日 09:00"  # naive = UTC
    assert cn_datetime(datetime(2023, 12, 31, 20, 30, tzinfo=UTC)) == "2024年1月1日 04:30"
