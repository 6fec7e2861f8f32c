"""notify/weekly.py on its own: ``plan_weekly`` at fixed instants, on the small plan of
tests/fixtures/small_plan.py (city contacts nn-contact@ and lz-contact@; a leader and an
institution contact who get no summary). ISO week 2023-W40 is the National Day week:
Monday 10-02 to Friday 10-06 are holidays and Saturday 10-07 is its first workday.
Real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from srz_tracker.notify.weekly import plan_weekly
from srz_tracker.store import db
from srz_tracker.store.models import Contact, Notification
from srz_tracker.timing.workdays import WorkdayCalendar
from tests.fixtures.small_plan import SmallPlan

BEIJING = ZoneInfo("Asia/Shanghai")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def weekly(world_url: str, now: dt.datetime, send_hour: int | None = None) -> int:
    with db.write_session(db.get_engine(world_url)) as session:
        return plan_weekly(session, now, WorkdayCalendar(), send_hour)


def rows(world: SmallPlan) -> set[tuple[Any, ...]]:
    with db.read_session(world.engine) as session:
        stmt = select(
            Notification.dedupe_key,
            Notification.kind,
            Notification.step,
            Notification.task_id,
            Notification.city_id,
            Notification.recipient_email,
            Notification.status,
            Notification.scheduled_at,
            Notification.next_attempt_at,
            Notification.payload,
        )
        return {(*r[:-1], r[-1]["week"]) for r in session.execute(stmt)}


def expected(world: SmallPlan, week: str, send_at: dt.datetime, now: dt.datetime) -> set:
    nn, lz = world.cities["南宁市"], world.cities["柳州市"]
    return {
        (
            f"weekly:{city}:{week}:{email}",
            "weekly_summary",
            week,
            None,  # no task: the summary is about the city
            city,
            email,
            "pending",
            send_at,
            now,
            week,
        )
        for city, email in ((nn, "nn-contact@example.org"), (lz, "lz-contact@example.org"))
    }


def test_nothing_before_the_first_workdays_send_hour(small_plan: SmallPlan) -> None:
    for now in ("2023-10-02T10:00", "2023-10-06T18:00", "2023-10-07T08:59"):
        assert weekly(small_plan.url, at(now)) == 0, now
    assert rows(small_plan) == set()
    send_at = at("2023-10-07T09:00")
    assert weekly(small_plan.url, send_at) == 2
    assert rows(small_plan) == expected(small_plan, "2023-W40", utc("2023-10-07T01:00"), send_at)


def test_one_row_per_city_contact_per_week(small_plan: SmallPlan) -> None:
    first = at("2023-10-07T09:30")
    assert weekly(small_plan.url, first) == 2
    # Later passes of the same week add nothing: Sunday 10-08 is still week 40.
    for now in ("2023-10-07T09:30", "2023-10-07T17:00", "2023-10-08T09:30"):
        assert weekly(small_plan.url, at(now)) == 0, now
    monday = at("2023-10-09T09:30")
    assert weekly(small_plan.url, monday) == 2
    assert rows(small_plan) == expected(
        small_plan, "2023-W40", utc("2023-10-07T01:00"), first
    ) | expected(small_plan, "2023-W41", utc("2023-10-09T01:00"), monday)


def test_a_pass_later_in_the_week_still_plans_it(small_plan: SmallPlan) -> None:
    thursday = at("2023-10-12T15:00")  # nobody ran a pass on Monday
    assert weekly(small_plan.url, thursday) == 2
    assert rows(small_plan) == expected(small_plan, "2023-W41", utc("2023-10-09T01:00"), thursday)


def test_the_send_hour_setting_wins_over_the_plans(small_plan: SmallPlan) -> None:
    assert weekly(small_plan.url, at("2023-10-09T07:30"), send_hour=8) == 0
    now = at("2023-10-09T08:00")
    assert weekly(small_plan.url, now, send_hour=8) == 2
    assert rows(small_plan) == expected(small_plan, "2023-W41", utc("2023-10-09T00:00"), now)


def test_only_active_city_contacts(small_plan: SmallPlan) -> None:
    with db.write_session(small_plan.engine) as session:
        session.execute(
            update(Contact).where(Contact.email == "lz-contact@example.org").values(active=False)
        )
    assert weekly(small_plan.url, at("2023-10-09T09:30")) == 1
    assert {r[5] for r in rows(small_plan)} == {"nn-contact@example.org"}


def test_no_plan_no_summary(db_url: str) -> None:
    assert weekly(db_url, at("2023-10-09T09:30")) == 0
