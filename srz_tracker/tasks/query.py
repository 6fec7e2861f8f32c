"""Reading tasks for people: filters, and one flat row per task in the shape that
``srz tasks --format json`` promises."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased, selectinload

from srz_tracker.errors import NotFound
from srz_tracker.kinds import CertKind, CertStatus, TaskStatus
from srz_tracker.store.models import AuditEvent, City, Institution, Obligation, Plan, Task
from srz_tracker.tasks.materialize import is_dual_certified


@dataclass(frozen=True)
class TaskFilter:
    city: str | None = None
    institution: str | None = None
    obligation: str | None = None
    status: str = "all"  # a TaskStatus, "overdue" (open and past due) or "all"
    due_before: dt.date | None = None
    limit: int | None = None


def resolve_city(session: Session, name: str) -> City:
    city = session.scalar(select(City).where(City.name == name.strip()))
    if city is None:
        names = "、".join(session.scalars(select(City.name).order_by(City.id)))
        raise NotFound(f"未知的市 {name!r}（已有：{names or '无，请先 srz plan load'}）")
    return city


def latest_plan(session: Session) -> Plan | None:
    return session.scalar(select(Plan).order_by(Plan.id.desc()).limit(1))


def plan_timezone(session: Session) -> str:
    tz = session.scalar(select(Plan.timezone).order_by(Plan.id).limit(1))
    return tz or "Asia/Shanghai"


def _query(session: Session, f: TaskFilter, today: dt.date) -> Select[Any]:
    city = aliased(City)
    stmt = (
        select(Task, Obligation.key, Obligation.title, city.name, Institution.name)
        .join(Obligation, Task.obligation_id == Obligation.id)
        .outerjoin(city, Task.city_id == city.id)
        .outerjoin(Institution, Task.institution_id == Institution.id)
    )
    if f.city:
        city_id = session.scalar(select(City.id).where(City.name == f.city))
        if city_id is None:
            names = "、".join(session.scalars(select(City.name).order_by(City.id)))
            raise NotFound(f"未知的市 {f.city!r}（已有：{names or '无，请先 srz plan load'}）")
        stmt = stmt.where(Task.city_id == city_id)
    if f.institution:
        inst_id = session.scalar(select(Institution.id).where(Institution.name == f.institution))
        if inst_id is None:
            raise NotFound(f"未知的机构 {f.institution!r}（用 srz org list 查看）")
        stmt = stmt.where(Task.institution_id == inst_id)
    if f.obligation:
        if session.scalar(select(Obligation.id).where(Obligation.key == f.obligation)) is None:
            raise NotFound(f"未知的义务 {f.obligation!r}（用 srz plan show 查看义务 id）")
        stmt = stmt.where(Obligation.key == f.obligation)
    if f.status == "overdue":
        stmt = stmt.where(Task.status == TaskStatus.OPEN, Task.due_on < today)
    elif f.status != "all":
        stmt = stmt.where(Task.status == f.status)
    if f.due_before:
        stmt = stmt.where(Task.due_on < f.due_before)
    stmt = stmt.order_by(Task.due_on, Task.id)
    if f.limit:
        stmt = stmt.limit(f.limit)
    return stmt


def task_key(obligation_key: str, city: str | None, institution: str | None, period: str) -> str:
    return f"{obligation_key}:{institution or city or '自治区'}:{period}"


def list_tasks(session: Session, f: TaskFilter, now: dt.datetime) -> list[dict[str, Any]]:
    from srz_tracker.clock import local_date

    today = local_date(now, plan_timezone(session))
    from srz_tracker.tasks.requests import pending_requests

    rows = []
    for task, ob_key, title, city_name, inst_name in session.execute(_query(session, f, today)):
        rows.append(task_row(task, ob_key, title, city_name, inst_name, today))
    # Extension requests from the web pages, waiting for the office (srz extend).
    pending = pending_requests(session)
    for row in rows:
        request = pending.get(row["id"]) if row["status"] == "open" else None
        row["extension_request"] = (
            {"to": request.to_due_on.isoformat(), "reason": request.reason} if request else None
        )
    return rows


def task_row(
    task: Task,
    ob_key: str,
    title: str,
    city_name: str | None,
    inst_name: str | None,
    today: dt.date,
) -> dict[str, Any]:
    return {
        "id": task.id,
        "key": task_key(ob_key, city_name, inst_name, task.period),
        "obligation": ob_key,
        "title": title,
        "city": city_name,
        "institution": inst_name,
        "period": task.period,
        "due_on": task.due_on.isoformat(),
        "status": task.status,
        "overdue": task.status == TaskStatus.OPEN and task.due_on < today,
        "progress": f"{task.done_count}/{task.required_count}",
        "completed_on": task.completed_on.isoformat() if task.completed_on else None,
    }


def audit_log(
    session: Session, task_id: int | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if task_id is not None:
        stmt = stmt.where(AuditEvent.task_id == task_id)
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "task_id": e.task_id,
            "detail": e.detail,
        }
        for e in reversed(session.scalars(stmt).all())
    ]


def overview(session: Session, now: dt.datetime, year: int | None = None) -> list[dict[str, Any]]:
    """Per city (and the region): how many tasks are open, overdue, done, and what is next.
    ``year``: only the tasks of that year (their original due date falls in it)."""
    from sqlalchemy import case, func

    from srz_tracker.clock import local_date

    today = local_date(now, plan_timezone(session))
    is_open = Task.status == TaskStatus.OPEN
    stmt = (
        select(
            City.name,
            func.count(Task.id),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((is_open & (Task.due_on < today), 1), else_=0)),
            func.sum(case((Task.status == TaskStatus.DONE, 1), else_=0)),
            func.min(case((is_open & (Task.due_on >= today), Task.due_on), else_=None)),
        )
        .select_from(Task)
        .outerjoin(City, Task.city_id == City.id)
        .group_by(City.id, City.name)
        # The region row (no city) first on every database.
        .order_by(City.id.is_not(None), City.id)
    )
    if year is not None:
        stmt = stmt.where(Task.original_due_on.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    return [
        {
            "city": name or "自治区",
            "total": total,
            "open": int(open_ or 0),
            "overdue": int(overdue or 0),
            "done": int(done or 0),
            "next_due": next_due.isoformat() if next_due else None,
        }
        for name, total, open_, overdue, done, next_due in session.execute(stmt)
    ]


def year_counts(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Per year of the tasks (the year of their original due date): how many there are,
    open, overdue at ``now`` and done; oldest year first."""
    from sqlalchemy import case, extract, func

    from srz_tracker.clock import local_date

    today = local_date(now, plan_timezone(session))
    is_open = Task.status == "open"
    year = extract("year", Task.original_due_on)
    stmt = (
        select(
            year,
            func.count(Task.id),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((is_open & (Task.due_on < today), 1), else_=0)),
            func.sum(case((Task.status == "done", 1), else_=0)),
        )
        .group_by(year)
        .order_by(year)
    )
    return [
        {
            "year": int(y),
            "total": total,
            "open": int(open_ or 0),
            "overdue": int(overdue or 0),
            "done": int(done or 0),
        }
        for y, total, open_, overdue, done in session.execute(stmt)
    ]


def institution_rows(session: Session, city: str | None, today: dt.date) -> list[dict[str, Any]]:
    """Institutions with their certification statuses, as ``srz org list`` shows them."""
    stmt = (
        select(Institution)
        .join(City)
        .options(selectinload(Institution.certifications), selectinload(Institution.city))
        .order_by(City.id, Institution.id)
    )
    if city:
        stmt = stmt.where(City.name == city)
    rows = []
    for inst in session.scalars(stmt):
        certs = {c.kind: c.status for c in inst.certifications}
        rows.append(
            {
                "city": inst.city.name,
                "county": inst.county,
                "name": inst.name,
                "CATL": certs.get(CertKind.CATL, CertStatus.NONE),
                "CMA": certs.get(CertKind.CMA, CertStatus.NONE),
                "dual_certified": is_dual_certified(inst, today),
            }
        )
    return rows
