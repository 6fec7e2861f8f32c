"""Turning obligations into tasks: one per (obligation, subject, period).

Materializing is idempotent: it creates what is missing, marks ``not_applicable`` the
open tasks whose certification condition no longer holds, and reopens the
``not_applicable`` ones whose condition holds again. A done task is never touched, and
nothing of a closed plan year is (its tasks are final: no new ones, none reopened).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from srz_tracker.clock import local_date
from srz_tracker.kinds import CertKind, CertStatus, PlanYearState, TaskStatus
from srz_tracker.store import audit
from srz_tracker.store.models import City, Institution, Obligation, Plan, Task
from srz_tracker.tasks.subjects import Subject, all_subjects
from srz_tracker.timing.steps import NEEDS_PLANNING


@dataclass
class MaterializeResult:
    created: int = 0
    not_applicable: int = 0
    reopened: int = 0

    def __add__(self, other: MaterializeResult) -> MaterializeResult:
        return MaterializeResult(
            self.created + other.created,
            self.not_applicable + other.not_applicable,
            self.reopened + other.reopened,
        )


def _month_day(year: int, text: str) -> dt.date:
    month, day = (int(x) for x in text.split("-"))
    return dt.date(year, month, day)


def periods(obligation: Obligation, year: int, plan_year: int) -> Iterator[tuple[str, dt.date]]:
    """(period label, due date) pairs the obligation has in ``year``."""
    rec = obligation.recurrence
    kind = rec["type"]
    if kind == "once":
        if year == plan_year:
            yield "once", _month_day(year, rec["due"][0])
    elif kind == "yearly":
        yield str(year), _month_day(year, rec["due"][0])
    elif kind == "twice_yearly":
        yield f"{year}-H1", _month_day(year, rec["due"][0])
        yield f"{year}-H2", _month_day(year, rec["due"][1])
    elif kind == "rrule":
        from dateutil.rrule import rrulestr

        rule = rrulestr(rec["rrule"], dtstart=dt.datetime(year, 1, 1))
        for occurrence in rule.between(
            dt.datetime(year, 1, 1), dt.datetime(year, 12, 31, 23, 59), inc=True
        ):
            yield occurrence.date().isoformat(), occurrence.date()


def period_start(period: str, plan_year: int) -> dt.date:
    """The first day of a task's period, as ``periods`` labels it: ``2023`` and
    ``2023-H1`` start on January 1, ``2023-H2`` on July 1, an rrule occurrence
    (``2023-05-10``) with its year, ``once`` with the plan's year."""
    if period == "once":
        return dt.date(plan_year, 1, 1)
    year = int(period[:4])
    return dt.date(year, 7, 1) if period.endswith("-H2") else dt.date(year, 1, 1)


def is_dual_certified(institution: Institution, on: dt.date) -> bool:
    """Both certificates valid on ``on``: certified by then and not yet expired."""
    kinds = {
        c.kind
        for c in institution.certifications
        if c.status == CertStatus.CERTIFIED
        and (c.certified_on is None or c.certified_on <= on)
        and (c.expires_on is None or c.expires_on >= on)
    }
    return {CertKind.CATL, CertKind.CMA} <= kinds


def condition_holds(condition: str | None, subject: Subject, on: dt.date) -> bool:
    if condition is None or subject.institution is None:
        return True
    certified = is_dual_certified(subject.institution, on)
    return certified if condition == "dual_certified" else not certified


def materialize(session: Session, now: dt.datetime, actor: str = "system") -> MaterializeResult:
    """Bring the tasks of every loaded plan in line with the directory at ``now``."""
    result = MaterializeResult()
    plans = session.scalars(
        select(Plan).options(selectinload(Plan.obligations), selectinload(Plan.plan_years))
    ).all()
    subjects = all_subjects(session)
    for plan in plans:
        closed = {y.year for y in plan.plan_years if y.state == PlanYearState.CLOSED}
        years = sorted(set(plan.document.get("years", [plan.year])) - closed)
        # The condition is judged on the certification records as they stand today.
        today = local_date(now, plan.timezone)
        existing = {
            (t.obligation_id, t.subject_key, t.period): t
            for t in session.scalars(
                select(Task).join(Obligation).where(Obligation.plan_id == plan.id)
            )
        }
        city_names = {cid: name for cid, name in session.execute(select(City.id, City.name))}
        retired = set(plan.document.get("retired", []))
        for obligation in plan.obligations:
            limited_to = set(obligation.cities or ())
            for subject in subjects.get(obligation.scope, []):
                if limited_to and city_names.get(subject.city_id or -1) not in limited_to:
                    continue
                if obligation.key in retired:
                    holds, why = False, "obligation removed from the plan file"
                else:
                    holds = condition_holds(obligation.condition, subject, today)
                    why = f"condition {obligation.condition} no longer holds"
                for year in years:
                    for period, due in periods(obligation, year, plan.year):
                        task = existing.get((obligation.id, subject.key, period))
                        result += _reconcile(
                            session,
                            obligation,
                            subject,
                            period,
                            due,
                            task,
                            holds,
                            now,
                            actor,
                            why,
                        )
    return result


def _reconcile(
    session: Session,
    obligation: Obligation,
    subject: Subject,
    period: str,
    due: dt.date,
    task: Task | None,
    holds: bool,
    now: dt.datetime,
    actor: str,
    why: str = "",
) -> MaterializeResult:
    if task is None:
        if not holds:
            return MaterializeResult()
        session.add(
            Task(
                obligation_id=obligation.id,
                subject_type=subject.type,
                subject_key=subject.key,
                city_id=subject.city_id,
                institution_id=subject.institution_id,
                period=period,
                due_on=due,
                original_due_on=due,
                status=TaskStatus.OPEN,
                required_count=obligation.required_count,
                done_count=0,
                next_step_at=NEEDS_PLANNING,
                created_at=now,
                updated_at=now,
            )
        )
        return MaterializeResult(created=1)
    if task.status == TaskStatus.OPEN and not holds:
        task.status = TaskStatus.NOT_APPLICABLE
        task.updated_at = now
        task.next_step_at = None
        audit.record(session, now, actor, "not_applicable", {"reason": why}, task_id=task.id)
        from srz_tracker.tasks.ops import cancel_pending

        cancel_pending(session, task.id)
        return MaterializeResult(not_applicable=1)
    if task.status == TaskStatus.NOT_APPLICABLE and holds:
        task.status = TaskStatus.OPEN
        task.updated_at = now
        task.next_step_at = NEEDS_PLANNING
        reason = f"condition {obligation.condition} holds again"
        audit.record(session, now, actor, "reopen", {"reason": reason}, task_id=task.id)
        return MaterializeResult(reopened=1)
    if (
        task.status == TaskStatus.OPEN
        and task.due_on == task.original_due_on
        and task.original_due_on != due
    ):
        # The plan file moved the date; an extension, if any, stays the user's choice.
        task.due_on = task.original_due_on = due
        task.updated_at = now
        task.next_step_at = NEEDS_PLANNING
    return MaterializeResult()
