"""Delivering the outbox: claim, send, mark. At least once, never twice by design.

1. One short transaction claims due rows (``sending``, a claim token, a claim expiry)
   and gives every message its deterministic Message-ID, stored on its rows.
2. Each message is rendered and handed to the transport with no transaction open.
3. One short transaction per message marks its rows sent, failed or backed off.
A crash between 2 and 3 leaves that one message's rows ``sending``; once the claim
expires they are claimed again and go out with the same Message-ID. Nothing else repeats.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from srz_tracker.errors import DeliveryError
from srz_tracker.mail.context import MessagePlan, group_rows, load_tasks, message_context
from srz_tracker.mail.mime import OutgoingEmail
from srz_tracker.mail.render import Renderer
from srz_tracker.mail.transports import Transport
from srz_tracker.store.db import write_session
from srz_tracker.store.models import Notification, Task

log = logging.getLogger(__name__)

CLAIM_TTL = dt.timedelta(minutes=10)
BACKOFF_BASE = dt.timedelta(minutes=2)
BACKOFF_CAP = dt.timedelta(hours=6)
MAX_ATTEMPTS = 12
CLAIM_LIMIT = 2000


@dataclass
class DeliveryCounts:
    messages: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    cancelled: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def backoff(attempts: int) -> dt.timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _claimable(now: dt.datetime) -> Any:
    return or_(
        and_(Notification.status == "pending", Notification.next_attempt_at <= now),
        and_(Notification.status == "sending", Notification.claimed_until < now),
    )


def claim(session: Session, now: dt.datetime, holder: str, limit: int = CLAIM_LIMIT) -> str:
    """Claim due rows; returns the claim token that marks them."""
    # A task closed after planning is never emailed about (belt and braces: closing a
    # task already cancels its pending rows in the same transaction).
    # Correlated per pending row: an IN (closed tasks) list would read every closed
    # task of the history on every pass.
    closed = select(Task.id).where(Task.id == Notification.task_id, Task.status != "open").exists()
    session.execute(
        update(Notification)
        .where(Notification.status == "pending", closed)
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    ids = session.scalars(
        select(Notification.id).where(_claimable(now)).order_by(Notification.id).limit(limit)
    ).all()
    token = f"{holder}:{uuid.uuid4().hex[:12]}"
    if ids:
        session.execute(
            update(Notification)
            .where(Notification.id.in_(ids), _claimable(now))
            .values(status="sending", claimed_by=token, claimed_until=now + CLAIM_TTL)
            .execution_options(synchronize_session=False)
        )
    return token


def release_claims(
    engine: Engine, holder: str | None = None, *, other_than: str | None = None
) -> int:
    """Put ``sending`` rows back to ``pending`` at once, keeping their Message-ID and not
    counting an attempt; returns how many.

    ``holder``: rows claimed by that holder (a daemon stopping, or aborting a pass, gives
    back what it claimed and did not send). ``other_than``: rows claimed by anybody else:
    only for the holder that has just taken the sender lease, which proves that the
    previous holder is dead or has given up, so its claims need not wait for CLAIM_TTL.
    A message that was on the wire when its sender died goes out again, with the same
    Message-ID; nothing else repeats.
    """
    if (holder is None) == (other_than is None):
        raise ValueError("give exactly one of holder and other_than")
    mine = Notification.claimed_by.startswith(f"{holder or other_than}:", autoescape=True)
    with write_session(engine) as session:
        result = session.execute(
            update(Notification)
            .where(
                Notification.status == "sending",
                mine if holder is not None else or_(Notification.claimed_by.is_(None), ~mine),
            )
            .values(status="pending", claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0


def _mail_domain(mail_from: str) -> str:
    return mail_from.rsplit("@", 1)[-1] if "@" in mail_from else "srz-tracker.local"


def _notify_office(
    session: Session, row: Notification, error: str, subject: str, now: dt.datetime
) -> None:
    from srz_tracker.directory.contacts import Recipients

    office = Recipients.load(session).office()
    if not office:
        log.error(
            "delivery to %s failed permanently and no office contact exists to tell",
            row.recipient_email,
        )
        return
    for contact in office:
        if contact.email.lower() == row.recipient_email:
            log.error("delivery to the office address %s itself failed: %s", contact.email, error)
            continue
        key = f"fail:{row.id}:{contact.email.lower()}"
        if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
            continue
        session.add(
            Notification(
                dedupe_key=key,
                kind="delivery_failure",
                step="F",
                task_id=None,
                city_id=row.city_id,
                recipient_email=contact.email.lower(),
                recipient_name=contact.name,
                recipient_field="to",
                scheduled_at=now,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                payload={
                    "role": "office",
                    "failure": {
                        "recipient_email": row.recipient_email,
                        "error": error,
                        "subject": subject,
                        "task_id": row.task_id,
                    },
                },
            )
        )


def _fail(
    session: Session,
    rows: list[Notification],
    error: str,
    subject: str,
    now: dt.datetime,
    counts: DeliveryCounts,
) -> None:
    for row in rows:
        row.status, row.last_error, row.claimed_until = "failed", error[:2000], None
        counts.failed += 1
        if row.kind != "delivery_failure":
            _notify_office(session, row, error, subject, now)


def _retry(
    rows: list[Notification], error: str, now: dt.datetime, counts: DeliveryCounts, attempted: bool
) -> list[Notification]:
    """Back off; returns rows that ran out of attempts."""
    exhausted = []
    for row in rows:
        if attempted:
            row.attempts += 1
        if row.attempts >= MAX_ATTEMPTS:
            exhausted.append(row)
            continue
        row.status, row.last_error, row.claimed_until = "pending", error[:2000], None
        row.next_attempt_at = now + backoff(max(row.attempts, 1))
        counts.retrying += 1
    return exhausted


def deliver(
    engine: Engine,
    now: dt.datetime,
    transport_factory: Callable[[], Transport],
    renderer: Renderer,
    holder: str,
    mail_from: str,
    on_message: Callable[[OutgoingEmail], None] | None = None,
) -> DeliveryCounts:
    counts = DeliveryCounts()
    domain = _mail_domain(mail_from)
    with write_session(engine) as session:
        token = claim(session, now, holder)
        rows = session.scalars(
            select(Notification)
            .where(Notification.claimed_by == token, Notification.status == "sending")
            .order_by(Notification.id)
        ).all()
        plans = group_rows(list(rows), domain)
        session.flush()
    if not plans:
        return counts
    plan_ids = [[r.id for r in p.rows] for p in plans]
    transport: Transport | None = None
    try:
        for index, ids in enumerate(plan_ids):
            with write_session(engine) as session:
                message = _prepare(session, ids, now, renderer, counts)
            if message is None:
                continue
            if transport is None:
                transport = transport_factory().__enter__()
            try:
                result = transport.send(message)
            except DeliveryError as exc:
                with write_session(engine) as session:
                    batch = _rows(session, ids)
                    if exc.permanent:
                        _fail(session, batch, str(exc), message.subject, now, counts)
                    else:
                        gone = _retry(batch, str(exc), now, counts, attempted=True)
                        _fail(
                            session,
                            gone,
                            f"{exc} (gave up after {MAX_ATTEMPTS} attempts)",
                            message.subject,
                            now,
                            counts,
                        )
                        # The server is unwell: leave the rest for the next pass.
                        rest = _rows(session, [i for ids2 in plan_ids[index + 1 :] for i in ids2])
                        _retry(rest, f"not attempted: {exc}", now, counts, attempted=False)
                log.warning(
                    "delivery of %s failed (%s): %s",
                    message.message_id,
                    "permanent" if exc.permanent else "will retry",
                    exc,
                )
                if not exc.permanent:
                    break
                continue
            with write_session(engine) as session:
                batch = _rows(session, ids)
                refused = {a.lower(): v for a, v in result.refused.items()}
                for row in batch:
                    if row.recipient_email in refused:
                        code, text = refused[row.recipient_email]
                        error = f"{code} {text}"
                        if code >= 500:
                            _fail(session, [row], error, message.subject, now, counts)
                        else:
                            # 4xx for this recipient only: retry it alone, same Message-ID.
                            gone = _retry([row], error, now, counts, attempted=True)
                            _fail(session, gone, error, message.subject, now, counts)
                    else:
                        row.status, row.sent_at, row.claimed_until = "sent", now, None
                        row.attempts += 1
                        counts.sent += 1
            counts.messages += 1
            if on_message:
                on_message(message)
    finally:
        if transport is not None:
            transport.__exit__(None, None, None)
    return counts


def _rows(session: Session, ids: list[int]) -> list[Notification]:
    if not ids:
        return []
    return list(session.scalars(select(Notification).where(Notification.id.in_(ids))))


def _prepare(
    session: Session, ids: list[int], now: dt.datetime, renderer: Renderer, counts: DeliveryCounts
) -> OutgoingEmail | None:
    """Render one message; rows whose task closed meanwhile are cancelled, not sent."""
    rows = _rows(session, ids)
    tasks = load_tasks(session, {r.task_id for r in rows if r.task_id})
    live = []
    for row in rows:
        if row.task_id is not None and (
            row.task_id not in tasks or tasks[row.task_id].status != "open"
        ):
            row.status, row.claimed_until = "cancelled", None
            counts.cancelled += 1
        else:
            live.append(row)
    if not live:
        return None
    plan = MessagePlan(live[0].message_id or "", live)
    kind, context = message_context(session, plan, tasks, now)
    try:
        rendered = renderer.render(kind, context)
    except Exception as exc:  # a template bug must not stop the pass or lose the rows
        log.exception("rendering %s failed", kind)
        _fail(session, live, f"template error: {exc}", kind, now, counts)
        return None
    if not plan.to:
        _fail(session, live, "no To recipient", rendered.subject, now, counts)
        return None
    return OutgoingEmail(
        message_id=plan.message_id,
        to=plan.to,
        cc=plan.cc,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        date=now,  # the pass's time, so that --now and replays date the mail alike
    )
