"""Planning notifications into the outbox.

One row per (task, due date, step, recipient); the unique ``dedupe_key`` makes a second
pass at the same ``now`` add nothing. Only tasks whose ``next_step_at`` has come are
looked at, so a pass costs what is due, not what is stored. After downtime only the
latest step per task is planned; the older ones are written as ``skipped`` rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from srz_tracker.clock import local_date
from srz_tracker.models import Notification, Obligation, Plan, Task
from srz_tracker.recipients import Directory, Recipient
from srz_tracker.schedule import Policy, Step, TaskTiming, decide, steps_for
from srz_tracker.workdays import WorkdayCalendar

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class PlanCounts:
    tasks: int = 0
    planned: int = 0
    skipped: int = 0
    no_recipients: int = 0
    weekly: int = 0


def dedupe_key(task_id: int, due_on: dt.date, step: str, email: str) -> str:
    return f"t{task_id}:{due_on.isoformat()}:{step}:{email}"


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


def _planned_labels(session: Session, tasks: Iterable[Task]) -> dict[int, set[str]]:
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


def _rows(
    task: Task, step: Step, recipients: list[Recipient], status: str, now: dt.datetime
) -> list[Notification]:
    return [
        Notification(
            dedupe_key=dedupe_key(task.id, task.due_on, step.label, r.email),
            kind=step.kind,
            step=step.label,
            task_id=task.id,
            city_id=task.city_id,
            recipient_email=r.email,
            recipient_name=r.name,
            recipient_field=r.field,
            scheduled_at=step.send_at,
            status=status,
            attempts=0,
            next_attempt_at=max(step.send_at, now) if status == "pending" else step.send_at,
            payload={"role": r.role},
            created_at=now,
        )
        for r in recipients
    ]


def plan_notifications(
    session: Session, now: dt.datetime, calendar: WorkdayCalendar, send_hour: int | None = None
) -> PlanCounts:
    """Write the outbox rows that ``now`` calls for. Idempotent for a given ``now``."""
    counts = PlanCounts()
    policies = PolicyBook(send_hour)
    directory: Directory | None = None
    last_id = 0
    while True:
        # Keyset pages: a pass over many due tasks never holds them all in memory.
        tasks = (
            session.scalars(
                select(Task)
                .where(Task.next_step_at <= now, Task.status == "open", Task.id > last_id)
                .options(joinedload(Task.obligation).joinedload(Obligation.plan))
                .order_by(Task.id)
                .limit(BATCH)
            )
            .unique()
            .all()
        )
        if not tasks:
            break
        last_id = tasks[-1].id
        directory = directory or Directory.load(session)
        planned = _planned_labels(session, tasks)
        for task in tasks:
            counts.tasks += 1
            today = local_date(now, task.obligation.plan.timezone)
            steps = task_steps(task, policies, calendar, until=today + dt.timedelta(days=60))
            decision = decide(steps, planned.get(task.id, set()), now)
            for old in decision.skipped:
                recipients = directory.for_step(
                    old.to_role, old.cc_role, task.city_id, task.institution_id
                )
                rows = _rows(task, old, recipients or [_NOBODY], "skipped", now)
                session.add_all(rows)
                counts.skipped += len(rows)
            if decision.send is not None:
                step = decision.send
                recipients = directory.for_step(
                    step.to_role, step.cc_role, task.city_id, task.institution_id
                )
                if recipients:
                    rows = _rows(task, step, recipients, "pending", now)
                    counts.planned += len(rows)
                else:
                    log.warning(
                        "task %s step %s: nobody to send to (no contacts, no office)",
                        task.id,
                        step.label,
                    )
                    rows = _rows(task, step, [_NOBODY], "skipped", now)
                    rows[0].last_error = "no recipients"
                    counts.no_recipients += 1
                session.add_all(rows)
            task.next_step_at = decision.next_at
        session.flush()
    return counts


# Stands for "nobody" on a skipped row of a step that had no recipients at all.
_NOBODY = Recipient(email="-", name=None, role="none", field="to")
