"""Planning notifications into the outbox.

One row per (task, due date, step, recipient); the unique ``dedupe_key`` makes a second
pass at the same ``now`` add nothing. Only tasks whose ``next_step_at`` has come are
looked at, so a pass costs what is due, not what is stored. After downtime only the
latest step per task is planned; each older one is written as one ``skipped`` row for
the task and step (recipient "-"), not one per recipient it would have had.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, literal, select, tuple_
from sqlalchemy.orm import Session, joinedload

from srz_tracker.clock import local_date
from srz_tracker.directory.contacts import Recipient, Recipients
from srz_tracker.kinds import NotificationStatus, TaskStatus
from srz_tracker.notify.rows import notification_values, task_step_key
from srz_tracker.store.models import Notification, Obligation, Plan, Task
from srz_tracker.timing.steps import Policy, Step, TaskTiming, decide, steps_for
from srz_tracker.timing.workdays import WorkdayCalendar

log = logging.getLogger(__name__)

BATCH = 500
INSERT_ROWS = 2000  # outbox rows per multi-row INSERT


@dataclass
class PlanCounts:
    tasks: int = 0
    planned: int = 0
    skipped: int = 0
    no_recipients: int = 0
    weekly: int = 0
    years_closed: int = 0  # plan years this pass closed (notify.closing)


def task_timing(task: Task) -> TaskTiming:
    cp = task.obligation.checkpoint
    cp_due = None
    if cp:
        month, day = (int(x) for x in cp["due"].split("-"))
        cp_due = dt.date(task.due_on.year, month, day)
        if cp_due >= task.due_on:
            cp_due = None
    return TaskTiming(
        task.due_on, task.required_count, task.done_count, cp_due, int(cp["count"]) if cp else 0
    )


class PolicyBook:
    """Effective policy per obligation: defaults < plan < obligation < settings hour."""

    def __init__(self, send_hour: int | None) -> None:
        self.send_hour = send_hour
        self._cache: dict[int, Policy] = {}

    def for_obligation(self, obligation: Obligation, plan: Plan) -> Policy:
        if obligation.id not in self._cache:
            self._cache[obligation.id] = Policy.merge(
                plan.document.get("notifications"), obligation.policy, send_hour=self.send_hour
            )
        return self._cache[obligation.id]


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def task_steps(
    task: Task, policies: PolicyBook, calendar: WorkdayCalendar, until: dt.date
) -> list[Step]:
    plan = task.obligation.plan
    policy = policies.for_obligation(task.obligation, plan)
    return steps_for(task_timing(task), policy, calendar, _zone(plan.timezone), until=until)


def planned_labels(session: Session, tasks: Iterable[Task]) -> dict[int, set[str]]:
    """Step labels that already have rows, per task, for the task's current due date."""
    by_task: dict[int, set[str]] = {}
    due = {t.id: t.due_on.isoformat() for t in tasks}
    if not due:
        return by_task
    rows = session.execute(
        select(Notification.task_id, Notification.dedupe_key).where(
            Notification.task_id.in_(list(due))
        )
    )
    for task_id, key in rows:
        _t, due_text, label, _email = key.split(":", 3)
        if due_text == due[task_id]:
            by_task.setdefault(task_id, set()).add(label)
    return by_task


def _row_values(
    task: Task,
    step: Step,
    recipients: list[Recipient],
    status: NotificationStatus,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    return [
        notification_values(
            dedupe_key=task_step_key(task.id, task.due_on, step.label, r.email),
            kind=step.kind,
            step=step.label,
            task_id=task.id,
            city_id=task.city_id,
            recipient_email=r.email,
            recipient_name=r.name,
            recipient_field=r.field,
            role=r.role,
            scheduled_at=step.send_at,
            status=status,
            now=now,
        )
        for r in recipients
    ]


def outbox_rows(
    task: Task,
    step: Step,
    recipients: list[Recipient],
    status: NotificationStatus,
    now: dt.datetime,
) -> list[Notification]:
    return [Notification(**v) for v in _row_values(task, step, recipients, status, now)]


def plan_notifications(
    session: Session, now: dt.datetime, calendar: WorkdayCalendar, send_hour: int | None = None
) -> PlanCounts:
    """Write the outbox rows that ``now`` calls for. Idempotent for a given ``now``."""
    counts = PlanCounts()
    policies = PolicyBook(send_hour)
    contacts: Recipients | None = None
    last: tuple[dt.datetime, int] | None = None
    while True:
        # Keyset pages in (next_step_at, id) order: a pass over many due tasks never holds
        # them all in memory, and the index on next_step_at alone finds what is due. No
        # status condition here: SQLite (no statistics) would then read every open task
        # of the history through the status index. Closed tasks carry NULL; see below.
        stmt = (
            select(Task)
            .where(Task.next_step_at <= now)
            .options(joinedload(Task.obligation).joinedload(Obligation.plan))
            .order_by(Task.next_step_at, Task.id)
            .limit(BATCH)
        )
        if last is not None:
            after = tuple_(literal(last[0], Task.next_step_at.type), literal(last[1]))
            stmt = stmt.where(tuple_(Task.next_step_at, Task.id) > after)
        tasks = session.scalars(stmt).unique().all()
        if not tasks:
            break
        last = (tasks[-1].next_step_at, tasks[-1].id)  # type: ignore[assignment]
        tasks = [t for t in tasks if _still_open(t)]
        if not tasks:
            continue
        contacts = contacts or Recipients.load(session)
        planned = planned_labels(session, tasks)
        # Rows go in with one multi-row INSERT per page: after downtime there can be many
        # skipped rows, and one ORM object each would make the pass crawl.
        values: list[dict[str, Any]] = []
        for task in tasks:
            counts.tasks += 1
            today = local_date(now, task.obligation.plan.timezone)
            steps = task_steps(task, policies, calendar, until=today + dt.timedelta(days=60))
            policy = policies.for_obligation(task.obligation, task.obligation.plan)
            decision = decide(steps, planned.get(task.id, set()), now, policy.final_fresh)
            for old in decision.skipped:
                # History, not mail: one row per task and step records that it was not
                # sent (and keeps it from being planned again), whoever it was for.
                values += _row_values(task, old, [_NOBODY], NotificationStatus.SKIPPED, now)
                counts.skipped += 1
            if decision.send is not None:
                step = decision.send
                recipients = contacts.for_step(
                    step.to_role, step.cc_role, task.city_id, task.institution_id
                )
                if recipients:
                    rows = _row_values(task, step, recipients, NotificationStatus.PENDING, now)
                    counts.planned += len(rows)
                else:
                    log.warning(
                        "task %s step %s: nobody to send to (no contacts, no office)",
                        task.id,
                        step.label,
                    )
                    rows = _row_values(task, step, [_NOBODY], NotificationStatus.SKIPPED, now)
                    rows[0]["last_error"] = "no recipients"
                    counts.no_recipients += 1
                values += rows
            task.next_step_at = decision.next_at
            if len(values) >= INSERT_ROWS:
                # A page of tasks loaded late brings a skipped row per missed step each:
                # they must not be held in memory all at once.
                session.execute(insert(Notification), values)
                values = []
        session.flush()
        if values:
            session.execute(insert(Notification), values)
    return counts


def _still_open(task: Task) -> bool:
    """Closing a task clears its next_step_at; one that was not cleared is cleared now."""
    if task.status == TaskStatus.OPEN:
        return True
    task.next_step_at = None
    return False


# Stands for "nobody" on a skipped row (a step never sent, or one with no recipients at
# all); its role "none" is deliberately no ContactRole.
_NOBODY = Recipient(email="-", name=None, role="none", field="to")
