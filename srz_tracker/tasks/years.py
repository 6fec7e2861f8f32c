"""Plan years: which year a task belongs to, how the loaded years stand, and closing one.

A task's plan year is the year of its period (``2023``, ``2023-H1``, ``2023-05-31`` →
2023; a ``once`` task belongs to its plan's own year). Closing a year makes its open
tasks final (``overdue_at_close``: kept, audited, counted as not done), clears their
next step and cancels their pending outbox rows, in one transaction; nothing is planned
or sent for them afterwards. The closing summary to the office is ``notify.closing``'s.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from srz_tracker.clock import local_date
from srz_tracker.errors import NotFound, UsageError
from srz_tracker.kinds import NotificationStatus, PlanYearState, TaskStatus
from srz_tracker.store import audit
from srz_tracker.store.models import AuditEvent, Notification, Obligation, Plan, PlanYear, Task

CHUNK = 500  # ids per UPDATE ... WHERE id IN (...)
STATE_LABELS = {PlanYearState.OPEN: "进行中", PlanYearState.CLOSED: "已结束"}


def task_year(period: str, plan_year: int) -> int:
    head = period[:4]
    return int(head) if head.isdigit() else plan_year


def in_year(plan: Plan, year: int) -> ColumnElement[bool]:
    """The condition on ``Task.period`` for the tasks of ``year`` (with Obligation joined
    and limited to ``plan``)."""
    cond: ColumnElement[bool] = Task.period.startswith(str(year))
    if year == plan.year:
        cond = or_(cond, Task.period == "once")
    return cond


def find_year(session: Session, plan_key: str, year: int | None) -> PlanYear:
    """The plan year ``srz plan close PLAN [--year Y]`` means; without a year, the only
    open one."""
    plan = session.scalar(select(Plan).where(Plan.key == plan_key))
    if plan is None:
        keys = "、".join(session.scalars(select(Plan.key).order_by(Plan.id)))
        raise NotFound(f"未知的方案 {plan_key!r}（已导入：{keys or '无，请先 srz plan load'}）")
    rows = list(session.scalars(select(PlanYear).where(PlanYear.plan_id == plan.id)))
    loaded = "、".join(str(r.year) for r in sorted(rows, key=lambda r: r.year))
    if year is not None:
        for row in rows:
            if row.year == year:
                return row
        raise NotFound(f"方案 {plan_key} 没有 {year} 年度（已加载：{loaded or '无'}）")
    still_open = [r for r in rows if r.state == PlanYearState.OPEN]
    if len(still_open) == 1:
        return still_open[0]
    if not still_open:
        raise UsageError(f"方案 {plan_key} 的年度（{loaded}）均已结束")
    years = "、".join(str(r.year) for r in sorted(still_open, key=lambda r: r.year))
    raise UsageError(f"方案 {plan_key} 有多个进行中的年度（{years}），请用 --year 指定")


@dataclass
class Closed:
    plan_key: str
    year: int
    tasks: int  # open tasks made final
    cancelled: int  # pending outbox rows cancelled


def close_year(
    session: Session, plan_year: PlanYear, now: dt.datetime, actor: str, how: str
) -> Closed:
    """Close an open year. ``how``: "hand" (srz plan close) or "date" (its closing date
    passed). Refuses a year already closed, and, by hand, a year not yet over."""
    plan = plan_year.plan
    if plan_year.state == PlanYearState.CLOSED:
        raise UsageError(f"方案 {plan.key} 的 {plan_year.year} 年度已经结束")
    today = local_date(now, plan.timezone)
    if how == "hand" and today <= dt.date(plan_year.year, 12, 31):
        raise UsageError(
            f"{plan_year.year} 年度尚未过完（今天是 {today.isoformat()}），"
            f"{plan_year.year + 1} 年 1 月 1 日起才能结束"
        )
    ids = list(
        session.scalars(
            select(Task.id)
            .join(Obligation, Task.obligation_id == Obligation.id)
            .where(
                Obligation.plan_id == plan.id,
                Task.status == TaskStatus.OPEN,
                in_year(plan, plan_year.year),
            )
            .order_by(Task.id)
        )
    )
    cancelled = 0
    detail = {"plan": plan.key, "year": plan_year.year, "how": how}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        session.execute(
            update(Task)
            .where(Task.id.in_(chunk), Task.status == TaskStatus.OPEN)
            .values(status=TaskStatus.OVERDUE_AT_CLOSE, next_step_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        result = session.execute(
            update(Notification)
            .where(
                Notification.task_id.in_(chunk),
                Notification.status == NotificationStatus.PENDING,
            )
            .values(status=NotificationStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        )
        cancelled += result.rowcount or 0
        # One multi-row INSERT per chunk: a nationwide year leaves thousands open.
        session.execute(
            insert(AuditEvent),
            [
                {
                    "at": now,
                    "actor": actor,
                    "action": TaskStatus.OVERDUE_AT_CLOSE.value,
                    "task_id": task_id,
                    "detail": detail,
                }
                for task_id in chunk
            ],
        )
    plan_year.state = PlanYearState.CLOSED
    plan_year.closed_at, plan_year.closed_by = now, actor
    audit.record(
        session, now, actor, "close_year", {**detail, "tasks": len(ids), "cancelled": cancelled}
    )
    session.flush()
    session.expire_all()  # the tasks changed behind the ORM's back
    return Closed(plan.key, plan_year.year, len(ids), cancelled)


def year_rows(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Every loaded plan year with its state, task counts and closing date, as
    ``srz plan list`` shows them."""
    out = []
    for plan in session.scalars(select(Plan).order_by(Plan.id)):
        today = local_date(now, plan.timezone)
        counts: dict[int, dict[str, int]] = {}
        overdue = case((Task.due_on < today, 1), else_=0)
        for period, status, late, n in session.execute(
            select(Task.period, Task.status, overdue, func.count(Task.id))
            .join(Obligation, Task.obligation_id == Obligation.id)
            .where(Obligation.plan_id == plan.id)
            .group_by(Task.period, Task.status, overdue)
        ):
            c = counts.setdefault(task_year(period, plan.year), dict.fromkeys(_COUNTED, 0))
            c["tasks"] += n
            if status == TaskStatus.OPEN:
                c["open"] += n
                c["overdue"] += n if late else 0
            elif status in _COUNTED:
                c[status] += n
        for row in sorted(plan.plan_years, key=lambda r: r.year):
            c = counts.get(row.year, dict.fromkeys(_COUNTED, 0))
            out.append(
                {
                    "plan": plan.key,
                    "year": row.year,
                    "state": row.state,
                    "state_label": STATE_LABELS.get(row.state, row.state),
                    "closes_on": row.closes_on.isoformat() if row.closes_on else None,
                    "closed_at": row.closed_at.isoformat() if row.closed_at else None,
                    "closed_by": row.closed_by,
                    **c,
                }
            )
    return out


# Count keys of a year's row: all tasks, open ones (and of them overdue), and each final
# status.
_COUNTED = (
    "tasks",
    "open",
    "overdue",
    TaskStatus.DONE.value,
    TaskStatus.OVERDUE_AT_CLOSE.value,
    TaskStatus.WAIVED.value,
    TaskStatus.NOT_APPLICABLE.value,
)


def any_open_year(session: Session) -> bool:
    """Whether some loaded plan year is still open (else there is nothing to summarise:
    every task left is history)."""
    return (
        session.scalar(select(PlanYear.id).where(PlanYear.state == PlanYearState.OPEN).limit(1))
        is not None
    )


def ended_years_warning(session: Session, now: dt.datetime) -> str | None:
    """A warning when every loaded plan year is closed or over: nothing current is
    tracked, and the office should load this year."""
    rows = session.execute(
        select(
            Plan.key.label("plan_key"),
            Plan.source_path,
            Plan.timezone,
            PlanYear.year,
            PlanYear.state,
        )
        .join(PlanYear, PlanYear.plan_id == Plan.id)
        .order_by(Plan.id, PlanYear.year)
    ).all()
    if not rows:
        return None
    this_year = local_date(now, rows[-1].timezone).year
    if any(r.state == PlanYearState.OPEN and r.year >= this_year for r in rows):
        return None
    years = "、".join(
        f"{r.plan_key} {r.year} 年度（"
        f"{'已结束' if r.state == PlanYearState.CLOSED else '年度已过，尚待结束'}）"
        for r in rows
    )
    return (
        f"所有已加载的方案年度均已结束：{years}；不会再有关于本年度的提醒。"
        f"请用 srz plan load {rows[-1].source_path} --year {this_year} 加载本年度"
    )
