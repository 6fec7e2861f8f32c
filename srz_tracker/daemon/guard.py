"""The send guard, and one pass of the daemon run under it.

No sending without the lease: every message goes through a guard that refuses to start
an SMTP transaction once the lease could have lapsed (locally: ``lease - lease/3`` after
the last successful renewal, see ``LeaseKeeper.may_send``), or once a stop has waited
long enough. A guard refusal aborts the delivery between two messages; the rows it
claimed go back to ``pending``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from srz_tracker.clock import utcnow
from srz_tracker.config import Settings
from srz_tracker.daemon import lease as lease_mod
from srz_tracker.daemon.logs import describe_error, log, quiet
from srz_tracker.errors import SrzError
from srz_tracker.mail.mime import OutgoingEmail
from srz_tracker.mail.transports import SendResult, Transport
from srz_tracker.notify.delivery import release_claims
from srz_tracker.notify.passes import run_pass
from srz_tracker.timing.workdays import WorkdayCalendar


class PassAborted(Exception):
    """Raised by the send guard between two messages; the pass stops there."""


class LeaseLost(PassAborted):
    pass


class StopRequested(PassAborted):
    pass


class SendGuard:
    """Called before every message; raises ``PassAborted`` when none may start."""

    def __init__(self, may_send: Callable[[], bool]) -> None:
        self.may_send = may_send
        self.deadline = math.inf  # monotonic: no new message after this either

    def stop_after(self, seconds: float) -> None:
        """A stop was asked for: messages may start for ``seconds`` more."""
        self.deadline = time.monotonic() + seconds

    def stop_now(self) -> None:
        self.deadline = 0.0

    def __call__(self) -> None:
        if not self.may_send():
            raise LeaseLost("the lease may have lapsed: not starting another message")
        if time.monotonic() > self.deadline:
            raise StopRequested("stopping: not starting another message")


class GuardedTransport(Transport):
    """The real transport, asking the guard before every message."""

    def __init__(self, inner: Transport, guard: Callable[[], None]) -> None:
        self.inner = inner
        self.guard = guard
        self.description = inner.description

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send(self, email: OutgoingEmail) -> SendResult:
        self.guard()
        return self.inner.send(email)


def guarded_pass(
    engine: Engine,
    settings: Settings,
    holder: str,
    guard: SendGuard,
    transport_factory: Callable[[], Transport],
    calendar: WorkdayCalendar,
    mode: str,
) -> bool:
    """One pass (plan + deliver) whose every message asks ``guard`` first; records the
    pass and its counts (or its error) on the lease row. False when it was aborted or
    failed: its claims are back to ``pending`` then."""
    now = utcnow()  # the clock, read once for the whole pass
    started = time.perf_counter()
    try:
        result = run_pass(
            engine,
            settings,
            now,
            transport_factory=lambda: GuardedTransport(transport_factory(), guard),
            holder=holder,
            calendar=calendar,
            # the week's summaries go out from the first workday's pass
            weekly=settings.weekly_summary,
        )
    except PassAborted as exc:
        log.warning("pass aborted: %s", exc)
        give_back_claims(engine, holder)
        return False
    except Exception as exc:
        seconds = time.perf_counter() - started
        if isinstance(exc, OperationalError | SrzError):
            log.error("pass failed after %.2f s: %s", seconds, describe_error(exc))
        else:
            log.exception("pass failed after %.2f s: %s", seconds, describe_error(exc))
        give_back_claims(engine, holder)
        failed = {"mode": mode, "error": describe_error(exc)[:500]}
        quiet(lambda: lease_mod.record_pass(engine, holder, failed, seconds))
        return False
    counts = {"mode": mode, **result.as_dict()}
    try:
        lease_mod.record_pass(engine, holder, counts, result.seconds)
    except Exception as exc:
        log.warning("could not record the pass: %s", describe_error(exc))
    log.info(
        "pass: %d task(s) due, planned %d, skipped %d, no recipients %d; "
        "sent %d message(s) (%d row(s)), failed %d, retrying %d, cancelled %d; %.2f s",
        counts["tasks"],
        counts["planned"],
        counts["skipped"],
        counts["no_recipients"],
        counts["messages"],
        counts["sent"],
        counts["failed"],
        counts["retrying"],
        counts["cancelled"],
        result.seconds,
    )
    return True


def give_back_claims(engine: Engine, holder: str) -> None:
    """Put what ``holder`` claimed and did not send back to ``pending`` for the next pass."""
    try:
        count = release_claims(engine, holder=holder)
    except Exception as exc:
        log.warning("could not requeue claimed rows: %s", describe_error(exc))
        return
    if count:
        log.info("requeued %d claimed notification row(s) for the next pass", count)
