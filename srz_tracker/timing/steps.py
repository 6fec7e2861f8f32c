"""Which reminder or escalation step applies to a task, and when: pure functions of the
task, its policy, the workday calendar and ``now``.

A step is identified by a short label that is stable for a given due date:
``R30`` .. ``R0`` (N days before the due date), ``C14`` .. ``C0`` (before a counted
task's checkpoint, only while progress is behind), ``E1``, ``E7``, ``E14`` ... (N days
after). Reminders that fall on a day off move to the previous workday, escalations to
the next one; each goes out at the send hour in the plan's timezone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from srz_tracker.kinds import ContactRole, NotificationKind
from srz_tracker.timing.workdays import WorkdayCalendar

# Open tasks whose steps have not been computed yet carry this in ``next_step_at``: the
# next pass picks them up at once. Closed tasks carry NULL.
NEEDS_PLANNING = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# How far the "every N days to the office" escalations are unrolled at most.
MAX_OVERDUE_DAYS = 3 * 366
# How long a task's last step stays worth sending when a pass comes late (see decide)
# if the policy has no repeat interval to go by.
FINAL_STEP_FRESH = dt.timedelta(days=7)

DEFAULT_POLICY: dict[str, Any] = {
    "send_hour": 9,
    "reminders": [30, 14, 7, 3, 1, 0],
    "escalations": [
        {"after": 1, "to": ContactRole.LEADER, "cc": ContactRole.CONTACT},
        {"after": 7, "to": ContactRole.OFFICE},
    ],
    "repeat_every": 7,
    # Like an on-call escalation chain's repeat limit: after this many repeats the task is
    # left to the weekly summary and the report instead of mailing the office for ever.
    "repeat_max": 4,
}


@dataclass(frozen=True)
class Policy:
    send_hour: int
    reminders: tuple[int, ...]
    escalations: tuple[dict[str, Any], ...]
    repeat_every: int | None
    repeat_max: int = 4

    @classmethod
    def merge(cls, *layers: dict[str, Any] | None, send_hour: int | None = None) -> Policy:
        merged = dict(DEFAULT_POLICY)
        for layer in layers:
            for key, value in (layer or {}).items():
                if value is not None:
                    merged[key] = value
        return cls(
            send_hour=send_hour if send_hour is not None else int(merged["send_hour"]),
            reminders=tuple(sorted(set(merged["reminders"]), reverse=True)),
            escalations=tuple(sorted(merged["escalations"], key=lambda e: e["after"])),
            repeat_every=merged.get("repeat_every"),
            repeat_max=int(merged["repeat_max"]),
        )

    @property
    def final_fresh(self) -> dt.timedelta:
        """How long the last step stays current: as long as a repeat would have taken
        to come (so a chain cut short by ``until`` is never taken for an ended one)."""
        return dt.timedelta(days=self.repeat_every) if self.repeat_every else FINAL_STEP_FRESH


@dataclass(frozen=True)
class Step:
    label: str
    kind: NotificationKind  # one of STEP_KINDS
    on: dt.date  # the workday it is sent on
    send_at: dt.datetime  # UTC
    to_role: str  # a ContactRole; plain text when it comes from the plan policy
    cc_role: str | None = None
    nominal: dt.date | None = None  # the day before moving to a workday


@dataclass(frozen=True)
class TaskTiming:
    """What the scheduler needs of a task."""

    due_on: dt.date
    required_count: int = 1
    done_count: int = 0
    checkpoint_due: dt.date | None = None
    checkpoint_count: int = 0


def _at(day: dt.date, hour: int, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=tz).astimezone(dt.UTC)


def _escalation_kind(role: str) -> NotificationKind:
    if role == ContactRole.OFFICE:
        return NotificationKind.ESCALATION_OFFICE
    return NotificationKind.ESCALATION_LEADER


def steps_for(
    timing: TaskTiming,
    policy: Policy,
    calendar: WorkdayCalendar,
    tz: ZoneInfo,
    until: dt.date | None = None,
) -> list[Step]:
    """Every step of the task in send order, escalations unrolled up to ``until`` and
    repeated at most ``policy.repeat_max`` times after the last configured one."""
    steps: list[Step] = []
    due = timing.due_on
    for days in policy.reminders:
        day = calendar.on_or_before(due - dt.timedelta(days=days))
        kind = NotificationKind.DUE_TODAY if day == due else NotificationKind.REMINDER
        steps.append(
            Step(
                f"R{days}",
                kind,
                day,
                _at(day, policy.send_hour, tz),
                ContactRole.CONTACT,
                nominal=due - dt.timedelta(days=days),
            )
        )
    if timing.checkpoint_due and timing.done_count < timing.checkpoint_count:
        for days in policy.reminders:
            cp = timing.checkpoint_due - dt.timedelta(days=days)
            if cp >= timing.checkpoint_due - dt.timedelta(days=30):
                day = calendar.on_or_before(cp)
                steps.append(
                    Step(
                        f"C{days}",
                        NotificationKind.CHECKPOINT,
                        day,
                        _at(day, policy.send_hour, tz),
                        ContactRole.CONTACT,
                    )
                )
    last_after = 0
    last_role: str = ContactRole.OFFICE
    for esc in policy.escalations:
        day = calendar.on_or_after(due + dt.timedelta(days=esc["after"]))
        steps.append(
            Step(
                f"E{esc['after']}",
                _escalation_kind(esc["to"]),
                day,
                _at(day, policy.send_hour, tz),
                esc["to"],
                esc.get("cc"),
            )
        )
        last_after, last_role = esc["after"], esc["to"]
    if policy.repeat_every and policy.escalations:
        limit = until or due + dt.timedelta(days=MAX_OVERDUE_DAYS)
        after = last_after + policy.repeat_every
        repeats = 0
        while (
            repeats < policy.repeat_max
            and due + dt.timedelta(days=after) <= limit
            and after <= MAX_OVERDUE_DAYS
        ):
            day = calendar.on_or_after(due + dt.timedelta(days=after))
            steps.append(
                Step(
                    f"E{after}",
                    _escalation_kind(last_role),
                    day,
                    _at(day, policy.send_hour, tz),
                    last_role,
                )
            )
            after += policy.repeat_every
            repeats += 1
    steps.sort(key=lambda s: (s.send_at, s.kind == NotificationKind.CHECKPOINT, s.nominal or s.on))
    # Two nominal days can land on one workday (R1 and R0 before a weekend): keep the later
    # step only, so nobody gets two reminders about one task on one morning.
    deduped: dict[dt.date, Step] = {}
    for step in steps:
        if step.kind == NotificationKind.CHECKPOINT and step.on in deduped:
            continue
        deduped[step.on] = step  # the nearest to the due date wins
    return sorted(deduped.values(), key=lambda s: s.send_at)


@dataclass(frozen=True)
class Decision:
    send: Step | None  # the step to plan now, if any
    skipped: tuple[Step, ...]  # older steps never planned: recorded as skipped
    next_at: dt.datetime | None  # when to look at the task again


def decide(
    steps: list[Step],
    planned: set[str],
    now: dt.datetime,
    final_fresh: dt.timedelta | None = None,
) -> Decision:
    """Given the task's steps and the labels that already have outbox rows, which step
    goes out now: the latest one due; older unplanned ones are skipped, not sent.

    The latest step stands until the next one comes; the task's last step has no next
    one, so it is current for ``final_fresh`` only (None: for ever). Later (a plan loaded
    long after the chain ended, or a long downtime) it is history: skipped like the
    others."""
    decision = _latest(steps, planned, now)
    last = decision.send
    if (
        final_fresh is not None
        and last is not None
        and last is steps[-1]
        and now - last.send_at > final_fresh
    ):
        return Decision(None, (*decision.skipped, last), decision.next_at)
    return decision


def _latest(steps: list[Step], planned: set[str], now: dt.datetime) -> Decision:
    latest_planned = max((s.send_at for s in steps if s.label in planned), default=None)
    due = [s for s in steps if s.send_at <= now and s.label not in planned]
    future = [s for s in steps if s.send_at > now]
    next_at = future[0].send_at if future else None
    if latest_planned is not None:
        # Anything older than what was already planned can no longer be the one to send.
        stale = [s for s in due if s.send_at <= latest_planned]
        fresh = [s for s in due if s.send_at > latest_planned]
        if not fresh:
            return Decision(None, tuple(stale), next_at)
        return Decision(fresh[-1], (*stale, *fresh[:-1]), next_at)
    if not due:
        return Decision(None, (), next_at)
    return Decision(due[-1], tuple(due[:-1]), next_at)
