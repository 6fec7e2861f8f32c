"""Gathering what the records say about each city in the report year: task counts
(one grouped query), institutions with their certifications and the two tasks the
quality indicator looks at, expenses, incidents and the satisfaction indicator; and
which plan and year a report is about. ``reports.py`` turns these facts into rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from srz_tracker.kinds import TaskStatus
from srz_tracker.report.rules import Period, QualityCounts, TaskCounts
from srz_tracker.store.models import (
    CityTarget,
    Expense,
    Incident,
    Indicator,
    Institution,
    Obligation,
    Plan,
    Task,
)
from srz_tracker.tasks.materialize import is_dual_certified

PROFICIENCY, APPLICATION = "proficiency-test", "certification-application"


@dataclass
class CityFacts:
    """What the records say about one city in the report year."""

    name: str
    allocation: Decimal | None = None
    target_institutions: int | None = None
    tasks: TaskCounts | None = None
    quality: QualityCounts | None = None
    participating: int = 0
    institutions: int = 0
    dual_certified: int = 0
    spent: Decimal = Decimal(0)
    incidents: int = 0
    satisfaction: float | None = None


def _year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def task_counts(session: Session, plan_id: int, p: Period) -> dict[int | None, TaskCounts]:
    """Per city id; None holds the region's own tasks."""
    is_done = Task.status == TaskStatus.DONE
    is_due = Task.due_on <= p.today
    # Left open when its year closed: final and not done, overdue whatever its date.
    at_close = Task.status == TaskStatus.OVERDUE_AT_CLOSE

    def count(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    first, last = _year_bounds(p.year)
    stmt = (
        select(
            Task.city_id,
            func.count(Task.id),
            count(is_due),
            count(and_(is_due, is_done)),
            count(is_done),
            count(and_(is_done, Task.completed_on <= Task.due_on)),
            count(and_(is_done, Task.completed_on > Task.due_on)),
            count(or_(and_(Task.status == TaskStatus.OPEN, Task.due_on < p.today), at_close)),
        )
        .join(Obligation, Task.obligation_id == Obligation.id)
        .where(
            Obligation.plan_id == plan_id,
            Task.original_due_on >= first,
            Task.original_due_on <= last,
            Task.status.in_((TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.OVERDUE_AT_CLOSE)),
        )
        .group_by(Task.city_id)
    )
    return {row[0]: TaskCounts(*(int(v) for v in row[1:])) for row in session.execute(stmt)}


def institution_facts(
    session: Session, plan_id: int, p: Period, facts: dict[int, CityFacts]
) -> None:
    """Participating institutions, dual-certified counts and the quality indicator."""
    first, last = _year_bounds(p.year)
    tasks = {
        (inst_id, key): (status, completed_on)
        for inst_id, key, status, completed_on in session.execute(
            select(Task.institution_id, Obligation.key, Task.status, Task.completed_on)
            .join(Obligation, Task.obligation_id == Obligation.id)
            .where(
                Obligation.plan_id == plan_id,
                Obligation.key.in_((PROFICIENCY, APPLICATION)),
                Task.institution_id.is_not(None),
                Task.original_due_on >= first,
                Task.original_due_on <= last,
            )
        )
    }
    institutions = session.scalars(
        select(Institution).options(selectinload(Institution.certifications))
    )
    for inst in institutions:
        f = facts.get(inst.city_id)
        if f is None:
            continue
        certified = is_dual_certified(inst, p.reference)
        f.institutions += 1
        f.dual_certified += certified
        if not inst.participating:
            continue
        f.participating += 1
        key = PROFICIENCY if certified else APPLICATION
        status, completed_on = tasks.get((inst.id, key), ("", None))
        if status == TaskStatus.WAIVED:
            continue
        q = f.quality = f.quality or QualityCounts()
        if certified:
            q.certified += 1
            q.passed += status == TaskStatus.DONE
        else:
            q.not_certified += 1
            q.applied += (
                status == TaskStatus.DONE
                and completed_on is not None
                and completed_on <= p.application_deadline
            )


def money_facts(session: Session, p: Period, facts: dict[int, CityFacts]) -> None:
    first, last = _year_bounds(p.year)
    for city_id, total in session.execute(
        select(Expense.city_id, func.sum(Expense.amount_wan))
        .where(Expense.year == p.year)
        .group_by(Expense.city_id)
    ):
        if city_id in facts:
            facts[city_id].spent = Decimal(total or 0).quantize(Decimal("0.01"))
    for city_id, n in session.execute(
        select(Incident.city_id, func.count(Incident.id))
        .where(Incident.occurred_on >= first, Incident.occurred_on <= last)
        .group_by(Incident.city_id)
    ):
        if city_id in facts:
            facts[city_id].incidents = int(n)
    for city_id, value in session.execute(
        select(Indicator.city_id, Indicator.value).where(
            Indicator.year == p.year, Indicator.name == "satisfaction"
        )
    ):
        if city_id in facts:
            facts[city_id].satisfaction = float(value)


def pick_plan(session: Session, year: int) -> Plan | None:
    """The plan whose performance table covers ``year`` (the latest loaded if several),
    else the latest plan with tasks in ``year``, else the latest plan."""
    newest_first = (Plan.loaded_at.desc(), Plan.id.desc())
    with_table = session.scalar(
        select(Plan)
        .join(CityTarget, CityTarget.plan_id == Plan.id)
        .where(CityTarget.year == year)
        .order_by(*newest_first)
        .limit(1)
    )
    if with_table is not None:
        return with_table
    plans = session.scalars(select(Plan).order_by(*newest_first)).all()
    for plan in plans:
        if year in plan.document.get("years", [plan.year]):
            return plan
    return plans[0] if plans else None


def year_is_final(session: Session, plan: Plan, year: int) -> bool:
    """Whether the plan's ``year`` is closed, its figures final. Plan years cannot be
    closed yet (issue 10, item 1 brings ``srz plan close``): until then none is, and a
    city that recorded no spending is 进行中, never 达标 by default."""
    return False


def default_year(session: Session, today: dt.date) -> int:
    """The latest year, not after today's, that has tasks; else today's year."""
    last = session.scalar(
        select(func.max(Task.original_due_on)).where(
            Task.original_due_on <= dt.date(today.year, 12, 31)
        )
    )
    return last.year if last else today.year
