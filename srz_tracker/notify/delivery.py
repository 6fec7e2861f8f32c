"""Delivering the outbox: claim, send, mark. At least once, never twice by design.

1. :func:`claim_messages`: one short transaction claims due rows (``sending``, a claim
   token, a claim expiry) and gives every message its deterministic Message-ID, stored
   on its rows.
2. :meth:`_Pass.send`: each message is rendered (its own short transaction, which cancels
   rows whose task closed meanwhile) and handed to the transport with no transaction open.
3. One short transaction per message records what the server said: rows sent; a 5xx
   for one recipient fails that row only and queues a ``delivery_failure`` notice to the
   office; a 4xx for one recipient backs that row off; a 5xx to the message itself
   (after DATA, or to MAIL FROM) fails the message's rows with the server's answer,
   kept for ``srz outbox retry --message``, and tells the office once for the message
   (``notify.notices``); a 4xx or a connection error backs them off and ends the pass,
   the rest going back to ``pending`` unattempted (the server is unwell).
A crash between 2 and 3 leaves that one message's rows ``sending``; once the claim
expires they are claimed again and go out with the same Message-ID. Nothing else repeats.
An exception other than :class:`DeliveryError` from the transport (the daemon's lease
guard refusing the next message) ends the pass as it is; the daemon then gives the
claimed rows back with :func:`release_claims`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from srz_tracker.directory.contacts import Recipients
from srz_tracker.errors import DeliveryError
from srz_tracker.kinds import NotificationKind, NotificationStatus, TaskStatus
from srz_tracker.links import LinkSigner
from srz_tracker.mail.context import MessagePlan, group_rows, load_tasks
from srz_tracker.mail.outcome import MessageRejected
from srz_tracker.mail.render import Renderer
from srz_tracker.mail.transports import OutgoingEmail, SendResult, Transport
from srz_tracker.notify import notices
from srz_tracker.notify.compose import RenderFailed, compose
from srz_tracker.store.db import write_session
from srz_tracker.store.models import Contact, Notification, Task

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
        and_(
            Notification.status == NotificationStatus.PENDING, Notification.next_attempt_at <= now
        ),
        and_(Notification.status == NotificationStatus.SENDING, Notification.claimed_until < now),
    )


def claim(session: Session, now: dt.datetime, holder: str, limit: int = CLAIM_LIMIT) -> str:
    """Claim due rows; returns the claim token that marks them."""
    # A task closed after planning is never emailed about (belt and braces: closing a
    # task already cancels its pending rows in the same transaction).
    # Correlated per pending row: an IN (closed tasks) list would read every closed
    # task of the history on every pass.
    closed = (
        select(Task.id)
        .where(Task.id == Notification.task_id, Task.status != TaskStatus.OPEN)
        .exists()
    )
    session.execute(
        update(Notification)
        .where(Notification.status == NotificationStatus.PENDING, closed)
        .values(status=NotificationStatus.CANCELLED)
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
            .values(
                status=NotificationStatus.SENDING, claimed_by=token, claimed_until=now + CLAIM_TTL
            )
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
                Notification.status == NotificationStatus.SENDING,
                mine if holder is not None else or_(Notification.claimed_by.is_(None), ~mine),
            )
            .values(status=NotificationStatus.PENDING, claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0


def _mail_domain(mail_from: str) -> str:
    return mail_from.rsplit("@", 1)[-1] if "@" in mail_from else "srz-tracker.local"


def _rows(session: Session, ids: list[int]) -> list[Notification]:
    if not ids:
        return []
    return list(session.scalars(select(Notification).where(Notification.id.in_(ids))))


def claim_messages(engine: Engine, now: dt.datetime, holder: str, domain: str) -> list[list[int]]:
    """Step 1: claim what is due; returns the row ids of each message, in send order."""
    with write_session(engine) as session:
        token = claim(session, now, holder)
        rows = session.scalars(
            select(Notification)
            .where(
                Notification.claimed_by == token, Notification.status == NotificationStatus.SENDING
            )
            .order_by(Notification.id)
        ).all()
        plans = group_rows(list(rows), domain)  # sets message_id on the fresh rows
        session.flush()
        return [[r.id for r in p.rows] for p in plans]


def deliver(
    engine: Engine,
    now: dt.datetime,
    transport_factory: Callable[[], Transport],
    renderer: Renderer,
    holder: str,
    mail_from: str,
    on_message: Callable[[OutgoingEmail], None] | None = None,
    links: LinkSigner | None = None,
    max_items: int | None = None,
) -> DeliveryCounts:
    """One delivery pass at ``now``; ``on_message`` is told of each message that went out;
    ``links`` signs the web pages' links the emails carry (None: no links); ``max_items``:
    items a digest lists in full (else the plan's ``digest_max_items``)."""
    counts = DeliveryCounts()
    messages = claim_messages(engine, now, holder, _mail_domain(mail_from))
    if not messages:
        return counts
    run = _Pass(engine, now, renderer, counts, on_message, links)
    run.max_items = max_items
    with contextlib.ExitStack() as stack:
        transport: Transport | None = None
        for index, ids in enumerate(messages):
            email = run.prepare(ids)
            if email is None:
                continue
            if transport is None:
                # Opened for the first message that goes out: a pass whose rows were all
                # cancelled never touches the server.
                transport = stack.enter_context(transport_factory())
            if not run.send(transport, email, ids, later=messages[index + 1 :]):
                break
    return counts


class _Pass:
    """Steps 2 and 3 for each claimed message of one pass, adding up ``counts``."""

    def __init__(
        self,
        engine: Engine,
        now: dt.datetime,
        renderer: Renderer,
        counts: DeliveryCounts,
        on_message: Callable[[OutgoingEmail], None] | None,
        links: LinkSigner | None = None,
    ) -> None:
        self.engine, self.now, self.renderer = engine, now, renderer
        self.counts, self.on_message, self.links = counts, on_message, links
        self.max_items: int | None = None

    # step 2 ----------------------------------------------------------------------------

    def prepare(self, ids: list[int]) -> OutgoingEmail | None:
        """Render one message; rows whose task closed meanwhile are cancelled, not sent."""
        with write_session(self.engine) as session:
            rows = _rows(session, ids)
            tasks = load_tasks(session, {r.task_id for r in rows if r.task_id})
            live = []
            for row in rows:
                if row.task_id is not None and (
                    row.task_id not in tasks or tasks[row.task_id].status != TaskStatus.OPEN
                ):
                    row.status, row.claimed_until = NotificationStatus.CANCELLED, None
                    self.counts.cancelled += 1
                else:
                    live.append(row)
            if not live:
                return None
            plan = MessagePlan(live[0].message_id or "", live)
            try:
                composed = compose(
                    session, plan, tasks, self.now, self.renderer, self.max_items, self.links
                )
            except RenderFailed as exc:  # a template bug must not stop the pass or lose rows
                log.exception("rendering %s failed", exc.kind)
                self._fail(session, live, f"template error: {exc}", exc.kind)
                return None
            rendered = composed.rendered
            if not plan.to:
                self._fail(session, live, "no To recipient", rendered.subject)
                return None
            return OutgoingEmail(
                message_id=plan.message_id,
                to=plan.to,
                cc=plan.cc,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                date=self.now,  # the pass's time, so that --now and replays date the mail alike
                attachments=composed.attachments,
            )

    def send(
        self, transport: Transport, email: OutgoingEmail, ids: list[int], later: list[list[int]]
    ) -> bool:
        """Send one message (no transaction open) and record the outcome; False when the
        pass must stop here, ``later`` (the messages not tried yet) backed off."""
        try:
            result = transport.send(email)
        except MessageRejected as exc:
            # About this message only: the next one may well be taken.
            with write_session(self.engine) as session:
                self._rejected(session, _rows(session, ids), exc, email.subject)
            log.warning("%s refused as a whole: %s", email.message_id, exc)
            return True
        except DeliveryError as exc:
            with write_session(self.engine) as session:
                if exc.permanent:
                    self._fail(session, _rows(session, ids), str(exc), email.subject)
                else:
                    rest = _rows(session, [i for message in later for i in message])
                    self._server_unwell(session, _rows(session, ids), rest, exc, email.subject)
            log.warning(
                "delivery of %s failed (%s): %s",
                email.message_id,
                "permanent" if exc.permanent else "will retry",
                exc,
            )
            return exc.permanent
        with write_session(self.engine) as session:
            self._delivered(session, _rows(session, ids), result, email.subject)
        self.counts.messages += 1
        if self.on_message:
            self.on_message(email)
        return True

    # step 3 ----------------------------------------------------------------------------

    def _delivered(
        self, session: Session, rows: list[Notification], result: SendResult, subject: str
    ) -> None:
        """The server took the message; it may still have refused some recipients."""
        refused = {a.lower(): v for a, v in result.refused.items()}
        for row in rows:
            if row.recipient_email not in refused:
                row.status, row.sent_at, row.claimed_until = NotificationStatus.SENT, self.now, None
                row.attempts += 1
                self.counts.sent += 1
                continue
            code, text = refused[row.recipient_email]
            error = f"{code} {text}"
            if code >= 500:
                self._fail(session, [row], error, subject)
            else:
                # 4xx for this recipient only: retry it alone, same Message-ID.
                self._fail(session, self._back_off([row], error, attempted=True), error, subject)

    def _server_unwell(
        self,
        session: Session,
        rows: list[Notification],
        rest: list[Notification],
        exc: DeliveryError,
        subject: str,
    ) -> None:
        """A 4xx or connection error for the whole message: back it off (failing rows out
        of attempts) and leave the rest of the pass for the next one."""
        gone = self._back_off(rows, str(exc), attempted=True)
        self._fail(session, gone, f"{exc} (gave up after {MAX_ATTEMPTS} attempts)", subject)
        self._back_off(rest, f"not attempted: {exc}", attempted=False)

    def _back_off(
        self, rows: list[Notification], error: str, attempted: bool
    ) -> list[Notification]:
        """Back off; returns the rows that ran out of attempts (left for the caller to
        fail). Rows not ``attempted`` keep their count, so they never run out here."""
        exhausted = []
        for row in rows:
            if attempted:
                row.attempts += 1
                if row.attempts >= MAX_ATTEMPTS:
                    exhausted.append(row)
                    continue
            row.status, row.last_error, row.claimed_until = (
                NotificationStatus.PENDING,
                error[:2000],
                None,
            )
            row.next_attempt_at = self.now + backoff(max(row.attempts, 1))
            self.counts.retrying += 1
        return exhausted

    def _rejected(
        self, session: Session, rows: list[Notification], exc: MessageRejected, subject: str
    ) -> None:
        """The server refused the message itself: no recipient is at fault, so no row is
        failed as one recipient's; all of them wait, ``failed`` with the server's answer,
        for the office (told once) to fix the cause and send them again."""
        if not rows:
            return
        error = notices.rejection_error(exc.code, exc.answer, min(r.id for r in rows))
        for row in rows:
            row.status, row.last_error, row.claimed_until = (
                NotificationStatus.FAILED,
                error[:2000],
                None,
            )
            self.counts.failed += 1
        notices.message_rejected(session, rows, error, subject, self.now)

    def _fail(self, session: Session, rows: list[Notification], error: str, subject: str) -> None:
        office: list[Contact] | None = None
        for row in rows:
            row.status, row.last_error, row.claimed_until = (
                NotificationStatus.FAILED,
                error[:2000],
                None,
            )
            self.counts.failed += 1
            if row.kind != NotificationKind.DELIVERY_FAILURE:  # a notice is not noticed again
                if office is None:
                    office = Recipients.load(session).office()
                notices.recipient_failed(session, office, row, error, subject, self.now)
