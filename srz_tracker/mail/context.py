"""From outbox rows to emails: which rows travel together, and what the templates see.

Grouping, per pass:
- reminders, due-today, checkpoint and office escalations, and delivery-failure notices:
  one email per recipient address, holding all of its items (a digest when more than one);
- escalations to leaders: one email per city, leaders in To and contacts in Cc;
- weekly summaries and plan-year closing summaries: one email per row.
Rows already given a Message-ID (claimed by a pass that died) travel with the rows that
share it, so a repeated message keeps its Message-ID.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from srz_tracker.clock import local_date
from srz_tracker.kinds import ContactRole, NotificationKind, TaskStatus
from srz_tracker.labels import step_label
from srz_tracker.links import LinkSigner
from srz_tracker.mail.links_context import email_links, fresh_link_context
from srz_tracker.store.models import City, Notification, Obligation, Plan, Task
from srz_tracker.tasks.query import latest_plan, task_key
from srz_tracker.text import week_display, week_label

# Order of items in a digest and of kinds when choosing a template.
_SEVERITY = {
    NotificationKind.ESCALATION_OFFICE: 0,
    NotificationKind.ESCALATION_LEADER: 1,
    NotificationKind.DUE_TODAY: 2,
    NotificationKind.CHECKPOINT: 3,
    NotificationKind.REMINDER: 4,
}


@dataclass
class MessagePlan:
    message_id: str
    rows: list[Notification] = field(default_factory=list)

    @property
    def to(self) -> list[tuple[str, str | None]]:
        return _unique(
            [(r.recipient_email, r.recipient_name) for r in self.rows if r.recipient_field == "to"]
        )

    @property
    def cc(self) -> list[tuple[str, str | None]]:
        to = {a for a, _ in self.to}
        return [
            (a, n)
            for a, n in _unique(
                [
                    (r.recipient_email, r.recipient_name)
                    for r in self.rows
                    if r.recipient_field == "cc"
                ]
            )
            if a not in to
        ]


def _unique(pairs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    seen: dict[str, str | None] = {}
    for address, name in pairs:
        seen.setdefault(address, name)
    return list(seen.items())


def group_key(row: Notification) -> tuple[Any, ...]:
    if row.kind == NotificationKind.ESCALATION_LEADER:
        return ("leaders", row.city_id, row.scheduled_at.date())
    if row.kind in (
        NotificationKind.WEEKLY_SUMMARY,
        NotificationKind.FRESH_LINK,
        NotificationKind.YEAR_CLOSED,
    ):
        return (str(row.kind), row.id)  # an email of its own
    return ("recipient", row.recipient_email)


def make_message_id(rows: list[Notification], domain: str) -> str:
    digest = hashlib.sha256(
        ",".join(str(r.id) for r in sorted(rows, key=lambda r: r.id)).encode()
    ).hexdigest()[:20]
    return f"<srz.{min(r.id for r in rows)}.{digest}@{domain}>"


def group_rows(rows: list[Notification], domain: str) -> list[MessagePlan]:
    """Assign each row to a message; rows with a Message-ID keep it."""
    plans: dict[str, MessagePlan] = {}
    fresh: dict[tuple[Any, ...], list[Notification]] = defaultdict(list)
    for row in rows:
        if row.message_id:
            plans.setdefault(row.message_id, MessagePlan(row.message_id)).rows.append(row)
        else:
            fresh[group_key(row)].append(row)
    for group in fresh.values():
        mid = make_message_id(group, domain)
        for row in group:
            row.message_id = mid
        plans[mid] = MessagePlan(mid, group)
    return sorted(plans.values(), key=lambda p: min(r.id for r in p.rows))


def _item(task: Task, row: Notification, today: dt.date) -> dict[str, Any]:
    ob = task.obligation
    city = task.city.name if task.city else None
    inst = task.institution.name if task.institution else None
    cp = ob.checkpoint
    return {
        "kind": row.kind,
        "task_id": task.id,
        "task_key": task_key(ob.key, city, inst, task.period),
        "title": ob.title,
        "clause": ob.clause,
        "quote": ob.quote,
        "subject_label": " ".join(
            x for x in (city, task.institution.county if task.institution else None, inst) if x
        )
        or "自治区",
        "city": city,
        "institution": inst,
        "period": task.period,
        "due_on": task.due_on,
        "days_left": (task.due_on - today).days,
        "actor": ob.actor or "",
        "required_count": task.required_count,
        "done_count": task.done_count,
        "checkpoint": (
            {
                "due_on": dt.date(task.due_on.year, *map(int, cp["due"].split("-"))),
                "count": int(cp["count"]),
            }
            if cp
            else None
        ),
        "evidence": ob.evidence,
        "done_command": f"srz done {task.id}",
        "step": row.step,
        # What the reader sees; the code (R3, E1092) is the office's, in the CLI.
        "step_text": step_label(row.step),
    }


def load_tasks(session: Session, task_ids: set[int]) -> dict[int, Task]:
    if not task_ids:
        return {}
    tasks = (
        session.scalars(
            select(Task)
            .where(Task.id.in_(task_ids))
            .options(
                joinedload(Task.obligation).joinedload(Obligation.plan),
                joinedload(Task.city),
                joinedload(Task.institution),
            )
        )
        .unique()
        .all()
    )
    return {t.id: t for t in tasks}


DIGEST_MAX_ITEMS = 30  # items a digest lists in full unless the plan or settings say


def digest_limit(plan_doc: dict[str, Any], override: int | None = None) -> int:
    """Items listed in full: the settings' ``digest_max_items``, else the plan's."""
    if override is not None:
        return override
    return int(plan_doc.get("notifications", {}).get("digest_max_items") or DIGEST_MAX_ITEMS)


def urgency(item: dict[str, Any]) -> tuple[int, int, int, int]:
    """Most urgent first: due today, then overdue by age (oldest first), then upcoming
    (soonest first)."""
    days = item["days_left"]
    group = 0 if days == 0 else (1 if days < 0 else 2)
    return group, days, _SEVERITY.get(item["kind"], 9), item["task_id"]


def attachment_name(today: dt.date) -> str:
    """The workbook a capped message carries: the whole list."""
    return f"待办事项清单（{today.year}年{today.month}月{today.day}日）.xlsx"


def build_context(
    plan: MessagePlan,
    tasks: dict[int, Task],
    plan_doc: dict[str, Any],
    now: dt.datetime,
    links: LinkSigner | None = None,
    max_items: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The template kind and its context for one message. A digest lists at most
    ``digest_limit`` items, the most urgent; ``all_items`` holds every one, ``more`` how
    many were left out (they travel as an attachment, see ``mail.attachments``)."""
    head = plan_doc.get("plan", {})
    tz = head.get("timezone", "Asia/Shanghai")
    today = local_date(now, tz)
    first_to = plan.to[0] if plan.to else (plan.rows[0].recipient_email, None)
    role_row = next((r for r in plan.rows if r.recipient_email == first_to[0]), plan.rows[0])
    items: dict[tuple[int, str], dict[str, Any]] = {}
    failures = []
    for row in plan.rows:
        if row.kind == NotificationKind.DELIVERY_FAILURE:
            failures.append({**(row.payload or {}).get("failure", {}), "failed_at": row.created_at})
        elif row.task_id in tasks and (row.task_id, row.step) not in items:
            items[(row.task_id, row.step)] = _item(tasks[row.task_id], row, today)
    ordered = sorted(
        items.values(), key=lambda i: (_SEVERITY.get(i["kind"], 9), i["days_left"], i["task_id"])
    )
    if not ordered and failures:
        kind: str = NotificationKind.DELIVERY_FAILURE
    elif len(ordered) == 1 and not failures:
        kind = ordered[0]["kind"]
    else:
        kind = "digest"  # a template of its own, no row kind
    shown = ordered
    limit = digest_limit(plan_doc, max_items)
    if kind == "digest" and len(ordered) > limit:
        keep = {id(i) for i in sorted(ordered, key=urgency)[:limit]}
        shown = [i for i in ordered if id(i) in keep]
    context = {
        "kind": kind,
        "plan": {
            "title": head.get("title", ""),
            "short_title": head.get("short_title") or head.get("title", ""),
            "contact_line": head.get("contact_line", ""),
            "office": head.get("office", ""),
        },
        "recipient": {
            "name": first_to[1],
            "email": first_to[0],
            "role": (role_row.payload or {}).get("role", ContactRole.CONTACT),
        },
        "items": shown,
        "all_items": ordered,
        "more": len(ordered) - len(shown),
        "attachment_name": attachment_name(today) if len(shown) < len(ordered) else None,
        "failures": failures,
        "cc_names": [name or address for address, name in plan.cc],
        "generated_at": now,
    }
    if links is not None:
        ids = [i["task_id"] for i in ordered] + [f.get("task_id") for f in failures]
        context["links"] = email_links(links, first_to[0], now, ids)
    return kind, context


def plan_document(session: Session, tasks: dict[int, Task]) -> dict[str, Any]:
    for task in tasks.values():
        return task.obligation.plan.document
    doc = session.scalar(select(Plan.document).order_by(Plan.id.desc()).limit(1))
    return doc or {}


def message_context(
    session: Session,
    plan: MessagePlan,
    tasks: dict[int, Task],
    now: dt.datetime,
    links: LinkSigner | None = None,
    max_items: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Template kind and context for a message of a task, the weekly summary or a fresh
    link (``notify.compose`` adds the closing summary, which needs the report);
    ``links``: the signer of the web pages' links, None when emails carry none."""
    first = plan.rows[0]
    if first.kind == NotificationKind.WEEKLY_SUMMARY:
        context = weekly_context(session, first, now, links, max_items)
        return NotificationKind.WEEKLY_SUMMARY, context
    if first.kind == NotificationKind.FRESH_LINK:
        return NotificationKind.FRESH_LINK, fresh_link_context(session, first, now, links)
    mine = {r.task_id: tasks[r.task_id] for r in plan.rows if r.task_id in tasks}
    return build_context(plan, tasks, plan_document(session, mine), now, links, max_items)


DUE_SOON_DAYS = 14
NEXT_DEADLINES = 5


def weekly_context(
    session: Session,
    row: Notification,
    now: dt.datetime,
    links: LinkSigner | None = None,
    max_items: int | None = None,
) -> dict[str, Any]:
    """What the weekly_summary templates see, computed at send time. The overdue and
    due-soon lists are shown up to ``shown_max`` items each; when more are open,
    ``attachment_name`` names the workbook holding them all (``open_items``)."""
    plan = latest_plan(session)
    doc = plan.document if plan else {}
    head = doc.get("plan", {})
    today = local_date(now, head.get("timezone", "Asia/Shanghai"))
    city = session.get(City, row.city_id) if row.city_id else None
    # Only the open tasks are loaded (any year: an overdue one from last year still
    # matters); done ones are counted in SQL, this year's only, so the cost does not grow
    # with the years of history.
    open_tasks = (
        session.scalars(
            select(Task)
            .where(Task.city_id == row.city_id, Task.status == TaskStatus.OPEN)
            .options(
                joinedload(Task.obligation).joinedload(Obligation.plan),
                joinedload(Task.city),
                joinedload(Task.institution),
            )
            .order_by(Task.due_on, Task.id)
        )
        .unique()
        .all()
    )
    year_start, year_end = dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)
    done = (
        session.scalar(
            select(func.count(Task.id)).where(
                Task.city_id == row.city_id,
                Task.status == TaskStatus.DONE,
                Task.due_on.between(year_start, year_end),
            )
        )
        or 0
    )
    # Completion so far: this year's done tasks (early ones included) against those plus
    # every open task already due.
    due_open = sum(1 for t in open_tasks if t.due_on <= today)
    relevant = done + due_open
    open_items = [_item(t, row, today) for t in open_tasks]
    for item in open_items:
        item["kind"] = NotificationKind.REMINDER
    overdue = [i for i in open_items if i["days_left"] < 0]
    due_soon = [i for i in open_items if 0 <= i["days_left"] <= DUE_SOON_DAYS]
    upcoming = [i for i in open_items if i["days_left"] >= 0]
    limit = digest_limit(doc, max_items)
    context = {
        "kind": NotificationKind.WEEKLY_SUMMARY,
        "plan": {
            "title": head.get("title", ""),
            "short_title": head.get("short_title") or head.get("title", ""),
            "contact_line": head.get("contact_line", ""),
            "office": head.get("office", ""),
        },
        "recipient": {
            "name": row.recipient_name,
            "email": row.recipient_email,
            "role": ContactRole.CONTACT,
        },
        "city": city.name if city else "",
        "week": week_display((row.payload or {}).get("week", week_label(today))),
        "open_items": open_items,
        "due_soon": due_soon,
        "overdue": overdue,
        "done": done,
        "total": relevant,
        "completion_pct": round(100.0 * done / relevant, 1) if relevant else 100.0,
        "next_deadlines": upcoming[:NEXT_DEADLINES],
        "shown_max": limit,
        "attachment_name": (
            attachment_name(today) if max(len(overdue), len(due_soon)) > limit else None
        ),
        "generated_at": now,
    }
    if links is not None:
        ids = [i["task_id"] for i in open_items]
        context["links"] = email_links(links, row.recipient_email, now, ids, row.city_id)
    return context
