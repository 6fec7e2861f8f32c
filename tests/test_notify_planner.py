"""notify/planner.py on its own: the outbox rows ``plan_notifications`` writes at a fixed
``now`` for the small plan of tests/fixtures/small_plan.py (tasks made 2023-06-01).

Its only task due before December is the half-year course due Friday 06-30: R14 on
06-16, R7 on Wednesday 06-21 (06-22..24 is the Dragon Boat holiday), R0 on 06-30, E1 on
Monday 07-03 (to the leader, the contacts in copy), E7 on 07-07 to the office; each at
09:00 in Beijing, 01:00 UTC. Real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from srz_tracker.notify.planner import PlanCounts, plan_notifications
from srz_tracker.notify.rows import task_step_key as dedupe_key
from srz_tracker.store import db
from srz_tracker.store.models import Notification, Task
from srz_tracker.timing.steps import NEEDS_PLANNING
from srz_tracker.timing.workdays import WorkdayCalendar
from tests.fixtures.small_plan import LZ_CATL_ONLY, NN_DUAL, NN_PLAIN, SmallPlan

BEIJING = ZoneInfo("Asia/Shanghai")
H1 = dt.date(2023, 6, 30)


def at(text: str) -> dt.datetime:
    """A Beijing wall-clock time as the aware instant the planner is given."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def plan(world: SmallPlan, now: dt.datetime) -> PlanCounts:
    with db.write_session(world.engine) as session:
        return plan_notifications(session, now, WorkdayCalendar())


def rows(world: SmallPlan, **where: Any) -> set[tuple[Any, ...]]:
    """(dedupe_key, status, kind, step, recipient, to/cc, scheduled_at, next_attempt_at)."""
    with db.read_session(world.engine) as session:
        stmt = select(
            Notification.dedupe_key,
            Notification.status,
            Notification.kind,
            Notification.step,
            Notification.recipient_email,
            Notification.recipient_field,
            Notification.scheduled_at,
            Notification.next_attempt_at,
        ).filter_by(**where)
        return {tuple(r) for r in session.execute(stmt)}


def course_ids(world: SmallPlan) -> dict[str, int]:
    tasks = world.tasks()
    return {
        name: tasks[("course", name, "2023-H1")].id for name in (NN_PLAIN, NN_DUAL, LZ_CATL_ONLY)
    }


def test_the_first_pass_plans_the_due_step_once_per_recipient(small_tasks: SmallPlan) -> None:
    now = at("2023-06-16T09:30")
    counts = plan(small_tasks, now)
    # Every task was waiting to be planned; only the course's R14 is due.
    assert counts == PlanCounts(tasks=12, planned=4, skipped=0, no_recipients=0)
    ids = course_ids(small_tasks)
    sent_at = utc("2023-06-16T01:00")

    def row(name: str, email: str) -> tuple[Any, ...]:
        key = dedupe_key(ids[name], H1, "R14", email)
        return (key, "pending", "reminder", "R14", email, "to", sent_at, now)

    # The institution's own contact and its city's contacts; 柳州市 has no leader, which a
    # reminder does not need.
    assert rows(small_tasks) == {
        row(NN_PLAIN, "nn-a@example.org"),
        row(NN_PLAIN, "nn-contact@example.org"),
        row(NN_DUAL, "nn-contact@example.org"),
        row(LZ_CATL_ONLY, "lz-contact@example.org"),
    }
    assert dedupe_key(ids[NN_PLAIN], H1, "R14", "nn-a@example.org") == (
        f"t{ids[NN_PLAIN]}:2023-06-30:R14:nn-a@example.org"
    )


def test_each_task_is_looked_at_again_at_its_next_step(small_tasks: SmallPlan) -> None:
    plan(small_tasks, at("2023-06-16T09:30"))
    # The first step of each task still ahead, at 09:00 in Beijing on a workday.
    expected = {
        ("course", "2023-H1"): utc("2023-06-21T01:00"),  # R7, after R14 went out
        ("course", "2023-H2"): utc("2023-12-01T01:00"),  # R14 of 12-15
        ("pairing", "2023"): utc("2023-11-24T01:00"),  # R14 of 12-08
        ("region-review", "2023"): utc("2023-12-06T01:00"),  # R14 of 12-20
        ("city-report", "2023"): utc("2023-12-15T01:00"),  # R14 of 12-29
        ("liuzhou-visit", "once"): utc("2023-12-08T01:00"),  # R14 of 12-22
    }
    tasks = small_tasks.tasks()
    assert {key: expected[(key[0], key[2])] for key in tasks} == {
        key: task.next_step_at for key, task in tasks.items()
    }


def test_a_second_call_adds_nothing(small_tasks: SmallPlan) -> None:
    now = at("2023-06-16T09:30")
    plan(small_tasks, now)
    first = rows(small_tasks)
    assert plan(small_tasks, now) == PlanCounts()  # nothing is due again before 06-21
    # Even when every task is looked at again, the rows already there are not repeated.
    with db.write_session(small_tasks.engine) as session:
        session.execute(update(Task).values(next_step_at=NEEDS_PLANNING))
    assert plan(small_tasks, now) == PlanCounts(tasks=12)
    assert plan(small_tasks, at("2023-06-20T17:00")) == PlanCounts()
    assert rows(small_tasks) == first


def test_after_downtime_only_the_latest_step_is_pending(small_tasks: SmallPlan) -> None:
    plan(small_tasks, at("2023-06-16T09:30"))
    now = at("2023-07-04T09:30")  # R7, R0 and E1 came and went while nobody ran a pass
    counts = plan(small_tasks, now)
    # One skipped row per task and step (issue 10), not one per recipient it would have had.
    assert counts == PlanCounts(tasks=3, planned=7, skipped=6, no_recipients=0)
    ids = course_ids(small_tasks)
    e1 = utc("2023-07-03T01:00")

    def pending(name: str, email: str, field: str) -> tuple[Any, ...]:
        key = dedupe_key(ids[name], H1, "E1", email)
        return (key, "pending", "escalation_leader", "E1", email, field, e1, now)

    assert rows(small_tasks, status="pending", step="E1") == {
        pending(NN_PLAIN, "nn-leader@example.org", "to"),
        pending(NN_PLAIN, "nn-a@example.org", "cc"),
        pending(NN_PLAIN, "nn-contact@example.org", "cc"),
        pending(NN_DUAL, "nn-leader@example.org", "to"),
        pending(NN_DUAL, "nn-contact@example.org", "cc"),
        # 柳州市 has no leader: the office is told instead.
        pending(LZ_CATL_ONLY, "office@example.org", "to"),
        pending(LZ_CATL_ONLY, "lz-contact@example.org", "cc"),
    }
    skipped = {(r[0].split(":")[0], r[3], r[4], r[6]) for r in rows(small_tasks, status="skipped")}
    r7, r0 = utc("2023-06-21T01:00"), utc("2023-06-30T01:00")
    assert skipped == {
        (f"t{ids[name]}", step, "-", when)
        for name in (NN_PLAIN, NN_DUAL, LZ_CATL_ONLY)
        for step, when in (("R7", r7), ("R0", r0))
    }
    # The R14 rows of the first pass are untouched, and the next look is E7.
    assert {r[1] for r in rows(small_tasks, step="R14")} == {"pending"}
    assert {small_tasks.tasks()[("course", n, "2023-H1")].next_step_at for n in ids} == {
        utc("2023-07-07T01:00")
    }


def test_a_first_pass_after_downtime_skips_every_older_step(small_tasks: SmallPlan) -> None:
    counts = plan(small_tasks, at("2023-07-04T09:30"))
    # The same seven E1 rows; R14, R7 and R0 skipped once for each of the three tasks.
    assert counts == PlanCounts(tasks=12, planned=7, skipped=9, no_recipients=0)
    assert {r[3] for r in rows(small_tasks, status="skipped")} == {"R14", "R7", "R0"}
    assert {r[3] for r in rows(small_tasks, status="pending")} == {"E1"}


def test_a_closed_task_gets_no_row(small_tasks: SmallPlan) -> None:
    ids = course_ids(small_tasks)
    with db.write_session(small_tasks.engine) as session:
        # Closed without clearing next_step_at: the planner clears it.
        session.execute(update(Task).where(Task.id == ids[NN_DUAL]).values(status="done"))
    counts = plan(small_tasks, at("2023-06-16T09:30"))
    assert counts == PlanCounts(tasks=11, planned=3)
    assert not rows(small_tasks, task_id=ids[NN_DUAL])
    assert small_tasks.tasks()[("course", NN_DUAL, "2023-H1")].next_step_at is None
