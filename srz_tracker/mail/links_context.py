"""The links an email carries (``links`` in the template context) and the context of the
``fresh_link`` email.

``links`` is present only when the web server's address is configured, so that without
it every email renders exactly as before::

    "links": {
        "tasks": {task_id: url},   # each task the email names → its page, for the recipient
        "mine": url,               # "我的事项": everything the recipient is responsible for
        "city": url | None,        # the city's page (weekly summary)
    }

Links are signed for the email's first To address, at send time (``now``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.clock import local_date
from srz_tracker.kinds import ContactRole, LinkPurpose, NotificationKind
from srz_tracker.links import LinkSigner
from srz_tracker.store.models import City, Notification, Plan, Task


def email_links(
    signer: LinkSigner,
    email: str,
    now: dt.datetime,
    task_ids: Iterable[int | None],
    city_id: int | None = None,
) -> dict[str, Any]:
    return {
        "tasks": {t: signer.task_url(t, email, now) for t in task_ids if t is not None},
        "mine": signer.mine_url(email, now),
        "city": signer.city_url(city_id, email, now) if city_id is not None else None,
    }


def plan_head(session: Session) -> dict[str, Any]:
    doc = session.scalar(select(Plan.document).order_by(Plan.id.desc()).limit(1)) or {}
    head = doc.get("plan", {})
    return {
        "title": head.get("title", ""),
        "short_title": head.get("short_title") or head.get("title", ""),
        "contact_line": head.get("contact_line", ""),
        "office": head.get("office", ""),
        "timezone": head.get("timezone", "Asia/Shanghai"),
    }


def fresh_link_context(
    session: Session, row: Notification, now: dt.datetime, signer: LinkSigner | None
) -> dict[str, Any]:
    """A new link for what an expired one opened, to the same address."""
    payload = row.payload or {}
    purpose = LinkPurpose(payload.get("purpose", LinkPurpose.MINE))
    target = payload.get("target")
    head = plan_head(session)
    what = "我的事项"
    if purpose == LinkPurpose.TASK and target is not None:
        task = session.get(Task, target)
        what = f"事项“{task.obligation.title}”" if task else "事项"
    elif purpose == LinkPurpose.CITY and target is not None:
        what = f"{session.scalar(select(City.name).where(City.id == target)) or ''}事项一览"
    url = signer.url(purpose, target, row.recipient_email, now) if signer else None
    expires = now + signer.lifetime if signer else None
    plan = {k: v for k, v in head.items() if k != "timezone"}
    return {
        "kind": NotificationKind.FRESH_LINK,
        "plan": plan,
        "recipient": {
            "name": row.recipient_name,
            "email": row.recipient_email,
            "role": (row.payload or {}).get("role", ContactRole.CONTACT),
        },
        "what": what,
        "url": url,
        "expires_on": local_date(expires, head["timezone"]) if expires else None,
        "generated_at": now,
    }
