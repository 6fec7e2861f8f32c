"""The send guard, and one pass of the daemon run under it.

No sending without the lease: every message goes through a guard that refuses to start
an SMTP transaction once the lease could have lapsed (locally: ``lease - lease/3`` after
the last successful renewal, see ``LeaseKeeper.may_send``), or once a stop has waited
long enough. A guard refusal aborts the delivery between two messages; the rows it
claimed go back to ``pending``.

A pass that fails because the database went away cannot give its claims back then:
``Claims`` remembers that it owes them, and they are handed back on the first contact
with the database after the outage (the daemon's probe, or else the next pass before it
claims anything), not ``CLAIM_TTL`` later. The message
that was on the wire when the database went may so go out once more, with the same
Message-ID; nothing else repeats.
"""

from __future__ import annotations

import math
import threading
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


class Claims:
    """What this holder claimed and did not send, and whether some of it is owed: a give
    back that failed (the database was away) leaves rows ``sending`` until it succeeds."""

    def __init__(self, engine: Engine, holder: str) -> None:
        self.engine = engine
        self.holder = holder
        self._owed = threading.Event()

    @property
    def owed(self) -> bool:
        return self._owed.is_set()

    def give_back(self) -> bool:
        """Put what ``holder`` claimed and did not send back to ``pending``; False (and
        owed) when the database could not be reached."""
        recovering = self._owed.is_set()
        try:
            count = release_claims(self.engine, holder=self.holder)
        except Exception as exc:
            if not recovering:
                log.warning(
                    "could not requeue claimed rows (%s); they go back to pending as soon "
                    "as the database answers (this daemon's probe, or the next lease holder)",
                    describe_error(exc),
                )
            self._owed.set()
            return False
        self._owed.clear()
        if count and recovering:
            log.warning(
                "requeued %d notification row(s) left 'sending' by the failed pass after "
                "the database came back (same Message-ID; a message that was on the wire "
                "may go out once more)",
                count,
            )
        elif count:
            log.info("requeued %d claimed notification row(s) for the next pass", count)
        return True

    def settle(self) -> bool:
        """Before a pass claims anything: give back what an earlier one could not.
        False while the database is still away."""
        return self.give_back() if self._owed.is_set() else True


def guarded_pass(
    engine: Engine,
    settings: Settings,
    claims: Claims,
    guard: SendGuard,
    transport_factory: Callable[[], Transport],
    calendar: WorkdayCalendar,
    mode: str,
) -> bool:
    """One pass (plan + deliver) whose every message asks ``guard`` first; records the
    pass and its counts (or its error) on the lease row. False when it was aborted or
    failed: its claims are back to ``pending`` then, or owed until the database is back
    (``claims``); nor does a pass start while an earlier one's claims are still owed."""
    holder = claims.holder
    if not claims.settle():
        log.warning("the database is still unreachable: no pass this time")
        return False
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
        claims.give_back()
        return False
    except Exception as exc:
        seconds = time.perf_counter() - started
        if isinstance(exc, OperationalError | SrzError):
            log.error("pass failed after %.2f s: %s", seconds, describe_error(exc))
        else:
            log.exception("pass failed after %.2f s: %s", seconds, describe_error(exc))
        claims.give_back()
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
