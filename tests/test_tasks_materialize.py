"""tasks/materialize.py on its own, on the small plan and directory of
tests/fixtures/small_plan.py: one task per (obligation, subject, period), conditional
obligations only where the condition holds on the day, and running it again changes
nothing. Real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from srz_tracker.directory import store as directory_store
from srz_tracker.plan import store as plan_store
from srz_tracker.plan.schema import load_plan_file
from srz_tracker.store import db
from srz_tracker.store.models import AuditEvent, Obligation, Task
from srz_tracker.tasks.materialize import MaterializeResult, materialize, periods
from srz_tracker.timing.steps import NEEDS_PLANNING
from tests.fixtures.small_plan import (
    LZ_CATL_ONLY,
    MATERIALIZED_AT,
    NN_DUAL,
    NN_PLAIN,
    PLAN_FILE,
    SmallPlan,
)

LATER = dt.datetime(2023, 6, 2, 2, 0, tzinfo=dt.UTC)
CITY_OF = {NN_PLAIN: "南宁市", NN_DUAL: "南宁市", LZ_CATL_ONLY: "柳州市"}

# (obligation, subject, period) -> due date, worked out from tests/data/small-plan.yaml.
EXPECTED_2023 = {
    ("region-review", "自治区", "2023"): dt.date(2023, 12, 20),
    ("city-report", "南宁市", "2023"): dt.date(2023, 12, 29),
    ("city-report", "柳州市", "2023"): dt.date(2023, 12, 29),
    ("course", NN_PLAIN, "2023-H1"): dt.date(2023, 6, 30),
    ("course", NN_PLAIN, "2023-H2"): dt.date(2023, 12, 15),
    ("course", NN_DUAL, "2023-H1"): dt.date(2023, 6, 30),
    ("course", NN_DUAL, "2023-H2"): dt.date(2023, 12, 15),
    ("course", LZ_CATL_ONLY, "2023-H1"): dt.date(2023, 6, 30),
    ("course", LZ_CATL_ONLY, "2023-H2"): dt.date(2023, 12, 15),
    # Not for 南宁市乙县质检站 (dual certified); 柳州市's CMA only counts from 2024-03-01.
    ("pairing", NN_PLAIN, "2023"): dt.date(2023, 12, 8),
    ("pairing", LZ_CATL_ONLY, "2023"): dt.date(2023, 12, 8),
    # Limited to 柳州市, and once: the plan's year only.
    ("liuzhou-visit", "柳州市", "once"): dt.date(2023, 12, 22),
}


def run(world: SmallPlan, now: dt.datetime = MATERIALIZED_AT) -> MaterializeResult:
    with db.write_session(world.engine) as session:
        return materialize(session, now, "测试")


def snapshot(world: SmallPlan) -> dict[int, tuple[Any, ...]]:
    """Every column of every task, by id: equal snapshots mean nothing was written."""
    with db.read_session(world.engine) as session:
        rows = session.execute(select(*Task.__table__.columns).order_by(Task.id)).all()
    return {row.id: tuple(row) for row in rows}


def audit_count(world: SmallPlan) -> int:
    with db.read_session(world.engine) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_one_task_per_obligation_subject_and_period(small_plan: SmallPlan) -> None:
    assert run(small_plan) == MaterializeResult(created=12)
    tasks = small_plan.tasks()
    assert {key: t.due_on for key, t in tasks.items()} == EXPECTED_2023
    for (_obligation, subject, _period), task in tasks.items():
        assert (task.status, task.done_count, task.required_count) == ("open", 0, 1)
        assert task.original_due_on == task.due_on
        assert task.next_step_at == NEEDS_PLANNING  # the next pass plans it at once
        assert task.created_at == task.updated_at == MATERIALIZED_AT
        if subject in small_plan.institutions:
            assert task.subject_type == "institution"
            assert task.institution_id == small_plan.institutions[subject]
            assert task.city_id == small_plan.cities[CITY_OF[subject]]
        elif subject in small_plan.cities:
            assert task.subject_type == "city" and task.institution_id is None
            assert task.city_id == small_plan.cities[subject]
        else:
            assert (task.subject_type, task.subject_key, task.city_id) == ("region", "region", None)


def test_the_condition_is_judged_on_the_certificates_valid_on_the_day(
    small_plan: SmallPlan,
) -> None:
    run(small_plan)
    pairing = small_plan.tasks()[("pairing", LZ_CATL_ONLY, "2023")]
    # From 2024-03-01 柳州市甲县质检站 holds both certificates: no more pairing for it.
    march = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)
    assert run(small_plan, march) == MaterializeResult(not_applicable=1)
    after = small_plan.tasks()[("pairing", LZ_CATL_ONLY, "2023")]
    assert (after.id, after.status, after.next_step_at) == (pairing.id, "not_applicable", None)
    assert after.updated_at == march
    with db.read_session(small_plan.engine) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.task_id == pairing.id)).one()
    assert (event.action, event.actor) == ("not_applicable", "测试")
    assert event.detail == {"reason": "condition not_dual_certified no longer holds"}
    assert small_plan.tasks()[("pairing", NN_PLAIN, "2023")].status == "open"


def test_a_certification_change_moves_the_conditional_task_and_back(
    small_plan: SmallPlan,
) -> None:
    run(small_plan)
    before = small_plan.tasks()[("pairing", NN_PLAIN, "2023")]
    for kind in ("CATL", "CMA"):
        with db.write_session(small_plan.engine) as session:
            directory_store.set_certification(
                session, NN_PLAIN, kind, "certified", dt.date(2023, 6, 1), None, LATER, "测试"
            )
    assert run(small_plan, LATER) == MaterializeResult(not_applicable=1)
    assert small_plan.tasks()[("pairing", NN_PLAIN, "2023")].status == "not_applicable"
    with db.write_session(small_plan.engine) as session:
        directory_store.set_certification(
            session, NN_PLAIN, "CMA", "expired", dt.date(2023, 6, 2), None, LATER, "测试"
        )
    assert run(small_plan, LATER) == MaterializeResult(reopened=1)
    again = small_plan.tasks()[("pairing", NN_PLAIN, "2023")]
    assert (again.id, again.status, again.next_step_at) == (before.id, "open", NEEDS_PLANNING)
    assert len(small_plan.tasks()) == 12


def test_a_done_task_is_never_touched(small_plan: SmallPlan) -> None:
    run(small_plan)
    task_id = small_plan.tasks()[("pairing", NN_PLAIN, "2023")].id
    with db.write_session(small_plan.engine) as session:
        task = session.get(Task, task_id)
        assert task is not None
        task.status, task.next_step_at = "done", None
        for kind in ("CATL", "CMA"):
            directory_store.set_certification(
                session, NN_PLAIN, kind, "certified", dt.date(2023, 6, 1), None, LATER, "测试"
            )
    before = snapshot(small_plan)
    assert run(small_plan, LATER) == MaterializeResult()
    assert snapshot(small_plan) == before


def test_running_it_again_changes_nothing(small_tasks: SmallPlan) -> None:
    before, events = snapshot(small_tasks), audit_count(small_tasks)
    assert run(small_tasks, LATER) == MaterializeResult()
    assert run(small_tasks, LATER) == MaterializeResult()
    assert snapshot(small_tasks) == before
    assert audit_count(small_tasks) == events


def test_reloading_the_same_plan_changes_no_task(small_tasks: SmallPlan) -> None:
    before = snapshot(small_tasks)
    with db.write_session(small_tasks.engine) as session:
        plan_store.store_plan(session, load_plan_file(PLAN_FILE), LATER, "测试")
        assert materialize(session, LATER, "测试") == MaterializeResult()
    assert snapshot(small_tasks) == before


def test_another_year_adds_its_periods_once(small_tasks: SmallPlan) -> None:
    spec = load_plan_file(PLAN_FILE)
    created = []
    for _ in range(2):
        with db.write_session(small_tasks.engine) as session:
            plan_store.store_plan(session, spec, LATER, "测试", years=[2024])
            created.append(materialize(session, LATER, "测试").created)
    assert created == [11, 0]
    tasks = small_tasks.tasks()
    new = {key: t.due_on for key, t in tasks.items() if key[2].startswith("2024")}
    # Every recurring obligation again, for 2024; the once-only visit is not repeated.
    assert new == {
        (ob, subject, period.replace("2023", "2024")): due.replace(year=2024)
        for (ob, subject, period), due in EXPECTED_2023.items()
        if period != "once"
    }
    assert len(tasks) == 12 + 11


def test_a_date_moved_in_the_file_moves_open_tasks_but_not_extended_ones(
    small_tasks: SmallPlan, tmp_path: Any
) -> None:
    tasks = small_tasks.tasks()
    nanning, liuzhou = (
        tasks[("city-report", "南宁市", "2023")],
        tasks[("city-report", "柳州市", "2023")],
    )
    with db.write_session(small_tasks.engine) as session:
        extended = session.get(Task, liuzhou.id)
        assert extended is not None
        extended.due_on = dt.date(2024, 1, 31)  # what ``srz extend`` leaves
    edited = tmp_path / "plan.yaml"
    edited.write_text(
        PLAN_FILE.read_text(encoding="utf-8").replace('due: "12-29"', 'due: "12-27"'),
        encoding="utf-8",
    )
    with db.write_session(small_tasks.engine) as session:
        plan_store.store_plan(session, load_plan_file(edited), LATER, "测试")
        materialize(session, LATER, "测试")
    after = small_tasks.tasks()
    moved = after[("city-report", "南宁市", "2023")]
    assert (moved.id, moved.due_on, moved.original_due_on) == (
        nanning.id,
        dt.date(2023, 12, 27),
        dt.date(2023, 12, 27),
    )
    assert (moved.next_step_at, moved.updated_at) == (NEEDS_PLANNING, LATER)
    kept = after[("city-report", "柳州市", "2023")]
    assert (kept.due_on, kept.original_due_on) == (dt.date(2024, 1, 31), dt.date(2023, 12, 29))


def test_periods_of_each_recurrence() -> None:
    def of(recurrence: dict[str, Any], year: int) -> list[tuple[str, dt.date]]:
        return list(periods(Obligation(recurrence=recurrence), year, plan_year=2023))

    assert of({"type": "once", "due": ["06-30"]}, 2023) == [("once", dt.date(2023, 6, 30))]
    assert of({"type": "once", "due": ["06-30"]}, 2024) == []
    assert of({"type": "yearly", "due": ["02-28"]}, 2024) == [("2024", dt.date(2024, 2, 28))]
    assert of({"type": "twice_yearly", "due": ["06-30", "12-15"]}, 2023) == [
        ("2023-H1", dt.date(2023, 6, 30)),
        ("2023-H2", dt.date(2023, 12, 15)),
    ]
    quarterly = of({"type": "rrule", "rrule": "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=-1"}, 2023)
    assert quarterly == [
        ("2023-01-31", dt.date(2023, 1, 31)),
        ("2023-04-30", dt.date(2023, 4, 30)),
        ("2023-07-31", dt.date(2023, 7, 31)),
        ("2023-10-31", dt.date(2023, 10, 31)),
    ]
