"""The audit trail: every change the office makes (and the ones the plan makes for it)
adds one ``AuditEvent`` row in the same transaction as the change itself.

One writer for all of them, so that each row gets its time, actor and action the same way
and a new kind of change cannot forget one. What a row says lives in ``detail``; its keys
are part of what ``srz log`` shows and must stay stable per action.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from srz_tracker.store.models import AuditEvent


def record(
    session: Session,
    now: dt.datetime,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
    *,
    task_id: int | None = None,
) -> AuditEvent:
    """Add one audit event to ``session`` (not flushed: it goes in with the change).

    ``detail`` is a dict rather than keyword arguments because some of its keys
    (``from``) are Python keywords.
    """
    event = AuditEvent(at=now, actor=actor, action=action, task_id=task_id, detail=detail)
    session.add(event)
    return event
