"""``notify.delivery.deliver`` on its own: claim, send, mark, against a real SMTP server on
loopback and the outbox the planner writes for the bundled demo at one instant. Runs on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import TracebackType

import pytest
from sqlalchemy import Engine, select

from srz_tracker.clock import parse_now
from srz_tracker.config import Settings, load_settings
from srz_tracker.mail.render import Renderer
from srz_tracker.mail.transports import OutgoingEmail, SendResult, Transport, make_transport
from srz_tracker.notify.delivery import (
    CLAIM_TTL,
    DeliveryCounts,
    backoff,
    deliver,
    release_claims,
)
from srz_tracker.notify.passes import make_calendar
from srz_tracker.notify.planner import plan_notifications
from srz_tracker.store import db
from srz_tracker.store.models import Notification
from tests.smtp_server import SmtpTestServer

NOW = parse_now("2023-12-20T09:30")
HOLDER = "test-host:1"
OFFICE = "office@gx-agri.example.org"
# At NOW this leader is on exactly one outbox row (the escalation of one task).
LONE_LEADER = "leader@qinzhou.example.org"


def settings_for(db_url: str, server: SmtpTestServer) -> Settings:
    return load_settings(
        db_url=db_url,
        environ={
            "SRZ_SMTP_HOST": server.host,
            "SRZ_SMTP_PORT": str(server.port),
            "SRZ_SMTP_SECURITY": "none",
            "SRZ_MAIL_FROM": "srz@gx-agri.example.org",
        },
    )


@pytest.fixture
def planned(demo_db_url: str, smtp_server: SmtpTestServer) -> tuple[Engine, Settings]:
    """The demo's outbox at NOW, planned and not yet delivered."""
    settings = settings_for(demo_db_url, smtp_server)
    engine = db.get_engine(demo_db_url)
    with db.write_session(engine) as session:
        counts = plan_notifications(session, NOW, make_calendar(settings), settings.send_hour)
    assert counts.planned > 10
    return engine, settings


def run(
    engine: Engine,
    settings: Settings,
    now: dt.datetime,
    factory: Callable[[], Transport] | None = None,
) -> DeliveryCounts:
    return deliver(
        engine,
        now,
        factory or (lambda: make_transport(settings)),
        Renderer(settings.templates_dir),
        HOLDER,
        settings.mail_from,
    )


def outbox(engine: Engine) -> list[Notification]:
    """Every row but the ``skipped`` ones (steps missed before the demo's first pass)."""
    with db.read_session(engine) as session:
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.status != "skipped")
                .order_by(Notification.id)
            )
        )


def received_ids(server: SmtpTestServer) -> list[str]:
    return [m.message["Message-ID"] for m in server.messages]


def test_transport_error_keeps_claimed_rows_pending_with_back_off(
    planned: tuple[Engine, Settings], smtp_server: SmtpTestServer
) -> None:
    engine, settings = planned
    smtp_server.stop()
    counts = run(engine, settings, NOW)
    rows = outbox(engine)
    assert (counts.messages, counts.sent, counts.failed) == (0, 0, 0)
    assert counts.retrying == len(rows)
    assert all(r.status == "pending" and r.claimed_until is None for r in rows)
    assert all(r.next_attempt_at == NOW + backoff(1) for r in rows)
    # The pass stopped at its first message: only that one counts an attempt.
    tried = [r for r in rows if r.attempts == 1]
    assert tried and len({r.message_id for r in tried}) == 1
    assert all(r.attempts == 0 for r in rows if r not in tried)
    assert all(r.last_error and not r.last_error.startswith("not attempted") for r in tried)
    assert all((r.last_error or "").startswith("not attempted: ") for r in rows if r.attempts == 0)
    # Every message got its Message-ID at the claim and keeps it for the retry.
    ids = {r.id: r.message_id for r in rows}
    assert all(ids.values())

    smtp_server.start()
    early = run(engine, settings, NOW)
    assert early.messages == 0 and not smtp_server.messages
    later = run(engine, settings, NOW + backoff(1))
    assert later.sent == len(rows) and later.failed == 0
    after = outbox(engine)
    assert all(r.status == "sent" and r.message_id == ids[r.id] for r in after)
    assert sorted(received_ids(smtp_server)) == sorted(set(ids.values()))


def test_temporary_refusal_of_the_message_ends_the_pass(
    planned: tuple[Engine, Settings], smtp_server: SmtpTestServer
) -> None:
    engine, settings = planned
    smtp_server.fail_data_with = 451
    counts = run(engine, settings, NOW)
    rows = outbox(engine)
    assert smtp_server.connections == 1 and not smtp_server.messages
    assert counts.retrying == len(rows) and counts.failed == 0
    assert len({r.message_id for r in rows if r.attempts == 1}) == 1
    assert all(r.status == "pending" for r in rows)


def test_550_for_one_recipient_fails_that_row_only_and_tells_the_office_once(
    planned: tuple[Engine, Settings], smtp_server: SmtpTestServer
) -> None:
    engine, settings = planned
    before = len(outbox(engine))
    smtp_server.reject_recipients = {LONE_LEADER}
    counts = run(engine, settings, NOW)
    rows = outbox(engine)
    failed = [r for r in rows if r.status == "failed"]
    assert [r.recipient_email for r in failed] == [LONE_LEADER]
    assert (failed[0].last_error or "").startswith("550")
    assert counts.failed == 1 and counts.sent == before - 1
    # The others on that message got it; the server never accepted the refused address.
    copy = [m for m in smtp_server.messages if m.message["Message-ID"] == failed[0].message_id]
    assert len(copy) == 1 and copy[0].rcpt_tos and LONE_LEADER not in copy[0].rcpt_tos
    planned_rows = [r for r in rows if r.kind != "delivery_failure"]
    assert all(r.status == "sent" for r in planned_rows if r is not failed[0])

    notices = [r for r in rows if r.kind == "delivery_failure"]
    assert len(notices) == 1
    notice = notices[0]
    assert notice.dedupe_key == f"fail:{failed[0].id}:{OFFICE}"
    assert (notice.recipient_email, notice.status, notice.attempts) == (OFFICE, "pending", 0)
    assert notice.next_attempt_at == NOW and notice.task_id is None
    assert notice.payload is not None and notice.payload["role"] == "office"
    assert notice.payload["failure"]["recipient_email"] == LONE_LEADER
    assert notice.payload["failure"]["task_id"] == failed[0].task_id

    # The notice is due at once; it goes out, and only once.
    smtp_server.reset()
    again = run(engine, settings, NOW)
    assert (again.messages, again.sent) == (1, 1)
    assert LONE_LEADER in smtp_server.messages[0].message.get_body(("plain",)).get_content()
    assert run(engine, settings, NOW).messages == 0


def test_554_for_a_message_fails_its_rows_and_the_pass_goes_on(
    planned: tuple[Engine, Settings], smtp_server: SmtpTestServer
) -> None:
    engine, settings = planned
    rows = outbox(engine)
    smtp_server.fail_data_with = 554
    counts = run(engine, settings, NOW)
    assert counts.failed == len(rows) and counts.retrying == 0 and counts.messages == 0
    after = outbox(engine)
    failed = [r for r in after if r.kind != "delivery_failure"]
    assert all(r.status == "failed" and r.attempts == 0 for r in failed)
    # One notice per failed row, except rows to the office itself (nobody else to tell).
    notices = {r.dedupe_key for r in after if r.kind == "delivery_failure"}
    assert notices == {f"fail:{r.id}:{OFFICE}" for r in failed if r.recipient_email != OFFICE}


def test_second_deliver_at_the_same_now_sends_nothing(
    planned: tuple[Engine, Settings], smtp_server: SmtpTestServer
) -> None:
    engine, settings = planned
    first = run(engine, settings, NOW)
    received = len(smtp_server.messages)
    assert first.messages == received > 0 and first.failed == 0
    again = run(engine, settings, NOW)
    assert again == DeliveryCounts()
    assert len(smtp_server.messages) == received


class Stop(Exception):
    """The daemon's lease guard refusing the next message, or the process dying."""


def _nothing(sent: int) -> None:
    pass


class Wrapped:
    """The SMTP transport with hooks before and after each send (given how many went out
    so far), through the public interface only."""

    def __init__(
        self,
        inner: Transport,
        before: Callable[[int], None] = _nothing,
        after: Callable[[int], None] = _nothing,
    ) -> None:
        self.inner, self.before, self.after = inner, before, after
        self.description = inner.description
        self.sent = 0
        self.exited: type[BaseException] | str | None = "not yet"

    def __enter__(self) -> Wrapped:
        self.inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exited = exc_type
        self.inner.__exit__(exc_type, exc, tb)

    def send(self, email: OutgoingEmail) -> SendResult:
        self.before(self.sent)
        result = self.inner.send(email)
        self.sent += 1
        self.after(self.sent)
        return result


def test_guard_refusal_stops_the_pass_and_the_claims_go_back(
    planned: tuple[Engine, Settings], smtp_server: SmtpTestServer
) -> None:
    engine, settings = planned

    def guard(sent: int) -> None:
        if sent == 2:
            raise Stop("lease lost")

    transports: list[Wrapped] = []

    def factory() -> Transport:
        transports.append(Wrapped(make_transport(settings), guard))
        return transports[-1]

    with pytest.raises(Stop):
        run(engine, settings, NOW, factory)
    # One transport for the pass, closed even though the pass ended with an exception.
    assert len(transports) == 1 and transports[0].exited is Stop
    rows = outbox(engine)
    sent = [r for r in rows if r.status == "sent"]
    waiting = [r for r in rows if r.status == "sending"]
    assert len({r.message_id for r in sent}) == 2 == len(smtp_server.messages)
    assert len(sent) + len(waiting) == len(rows)
    assert all(r.claimed_by and r.claimed_by.startswith(f"{HOLDER}:") for r in waiting)

    assert release_claims(engine, HOLDER) == len(waiting)
    ids = {r.id: r.message_id for r in waiting}
    counts = run(engine, settings, NOW)
    assert counts.sent == len(waiting)
    after = {r.id: r for r in outbox(engine)}
    assert all(after[i].status == "sent" and after[i].message_id == m for i, m in ids.items())
    assert all(after[i].attempts == 1 for i in ids)


def test_crash_after_sending_repeats_that_message_with_its_message_id_after_the_claim(
    planned: tuple[Engine, Settings], smtp_server: SmtpTestServer
) -> None:
    engine, settings = planned

    def crash(sent: int) -> None:
        if sent == 1:  # the first message is on the wire, its rows not marked yet
            raise Stop("killed")

    with pytest.raises(Stop):
        run(engine, settings, NOW, lambda: Wrapped(make_transport(settings), after=crash))
    first_id = received_ids(smtp_server)
    assert len(first_id) == 1
    # The claim holds off another sender until it expires...
    assert run(engine, settings, NOW + CLAIM_TTL / 2).messages == 0
    # ...then everything still claimed goes out, the first message again with its own ID.
    smtp_server.reset()
    counts = run(engine, settings, NOW + CLAIM_TTL + dt.timedelta(seconds=1))
    assert counts.failed == 0 and counts.sent == len(outbox(engine))
    assert first_id[0] in received_ids(smtp_server)
