"""Who a signed link may show what: the rules behind the web pages.

A link is signed for an address; it opens only what that address is, today, in the
directory for. An address is "for" a task when the task's emails go to it: the
institution's contacts and leaders, the city's, and the region office (which receives
the last escalation of every task, and the region's own tasks). So removing somebody
from the directory (``srz org import`` with the row gone) closes their links too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from srz_tracker.directory.contacts import contacts_with_email
from srz_tracker.kinds import Scope, TaskStatus
from srz_tracker.store.models import City, Obligation, Task

LIST_LIMIT = 300


@dataclass(frozen=True)
class Audience:
    """What one address is in the directory."""

    email: str
    name: str | None
    office: bool
    city_ids: frozenset[int]  # cities whose contact or leader it is
    institution_ids: frozenset[int]

    @classmethod
    def of(cls, session: Session, email: str) -> Audience:
        contacts = contacts_with_email(session, email)
        return cls(
            email=email.lower(),
            name=next((c.name for c in contacts if c.name), None),
            office=any(c.scope == Scope.REGION for c in contacts),
            city_ids=frozenset(
                c.city_id for c in contacts if c.scope == Scope.CITY and c.city_id is not None
            ),
            institution_ids=frozenset(
                c.institution_id
                for c in contacts
                if c.scope == Scope.INSTITUTION and c.institution_id is not None
            ),
        )

    @property
    def known(self) -> bool:
        return self.office or bool(self.city_ids) or bool(self.institution_ids)

    def may_open_task(self, task: Task) -> bool:
        if self.office:
            return True
        if task.institution_id is not None and task.institution_id in self.institution_ids:
            return True
        return task.city_id is not None and task.city_id in self.city_ids

    def may_open_city(self, city_id: int) -> bool:
        return self.office or city_id in self.city_ids


def _with_details(stmt):  # type: ignore[no-untyped-def]
    return stmt.options(
        joinedload(Task.obligation).joinedload(Obligation.plan),
        joinedload(Task.city),
        joinedload(Task.institution),
    )


def tasks_for(session: Session, audience: Audience, today: dt.date) -> list[Task]:
    """Everything an address is responsible for or copied on: open tasks of any year
    and this year's closed ones, open ones first, by due date. The office's list is the
    region's own tasks (it sees every other task through the escalations' links)."""
    subjects = []
    if audience.institution_ids:
        subjects.append(Task.institution_id.in_(audience.institution_ids))
    if audience.city_ids:
        subjects.append(Task.city_id.in_(audience.city_ids))
    if audience.office:
        subjects.append(Task.subject_type == Scope.REGION)
    if not subjects:
        return []
    stmt = _with_details(
        select(Task).where(
            or_(*subjects),
            or_(
                Task.status == TaskStatus.OPEN,
                Task.due_on.between(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)),
            ),
        )
    )
    tasks = session.scalars(stmt.order_by(Task.due_on, Task.id).limit(LIST_LIMIT)).unique().all()
    return sorted(tasks, key=lambda t: (t.status != TaskStatus.OPEN, t.due_on, t.id))


def city_tasks(session: Session, city_id: int, today: dt.date) -> list[Task]:
    """A city's page: its open tasks of any year and this year's others."""
    stmt = _with_details(
        select(Task).where(
            Task.city_id == city_id,
            or_(
                Task.status == TaskStatus.OPEN,
                Task.due_on.between(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)),
            ),
        )
    )
    return list(session.scalars(stmt.order_by(Task.due_on, Task.id)).unique().all())


def city_name(session: Session, city_id: int) -> str | None:
    return session.scalar(select(City.name).where(City.id == city_id))
