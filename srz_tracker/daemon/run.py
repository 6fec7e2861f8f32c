"""The background daemon (``srz run``): APScheduler 3.x wiring, the sender lease, signals.

Jobs (in-memory job store; every durable fact lives in the project's own tables):

- ``srz-pass`` every ``interval`` seconds, first run at start-up: renew the lease, and if
  it is held, read the clock once and run one pass (plan + deliver), then record the pass
  and its counts on the lease row for ``srz status``.
- ``srz-heartbeat`` every ``min(interval, lease/3)`` seconds: take or renew the lease and
  write the heartbeat. It runs beside a long pass, so the lease never lapses while a
  slow SMTP server is being waited for. A standby (lease held by someone else) also
  schedules one extra attempt for the very moment the current lease expires, so that it
  takes over within the lease time of the active daemon's death.

No sending without the lease: every message goes through a guard that refuses to start
an SMTP transaction once the lease could have lapsed (locally: ``lease - lease/3`` after
the last successful renewal), or once a stop has waited long enough. A guard refusal
aborts the delivery between two messages; the rows it claimed go back to ``pending``.

The holder that takes the lease over hands the previous holder's ``sending`` rows back
to ``pending`` at once (same Message-ID): the lease proves the previous holder is dead
or has stopped sending.

SIGTERM / SIGINT: no new pass starts; the pass in flight goes on, starting no new message
after ``stop_grace`` seconds, and every wait inside it is bounded (SMTP socket timeout,
database busy timeout). Then claims and the lease are released and the process exits 0.
If the pass is still stuck after ``stop_grace + 3 x SMTP timeout + 30 s`` the process
exits 1 without releasing the lease (it then lapses by itself).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from srz_tracker.clock import utcnow
from srz_tracker.config import Settings
from srz_tracker.daemon import lease as lease_mod
from srz_tracker.errors import SrzError
from srz_tracker.mail.mime import OutgoingEmail
from srz_tracker.mail.transports import SendResult, Transport, make_transport
from srz_tracker.notify.delivery import release_claims
from srz_tracker.notify.passes import make_calendar, run_pass

log = logging.getLogger("srz_tracker.daemon.run")

PASS_JOB = "srz-pass"
HEARTBEAT_JOB = "srz-heartbeat"
TAKEOVER_JOB = "srz-takeover"
DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_STOP_GRACE = 30.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PassAborted(Exception):
    """Raised by the send guard between two messages; the pass stops there."""


class LeaseLost(PassAborted):
    pass


class StopRequested(PassAborted):
    pass


def describe_error(exc: BaseException) -> str:
    """One line with the cause, for the log (never a password: URLs are not printed)."""
    if isinstance(exc, OperationalError):
        return f"database error: {str(exc.orig).strip() or type(exc.orig).__name__}"
    text = str(exc).strip()
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause).strip() and str(cause).strip() not in text:
        text = f"{text} (caused by {type(cause).__name__}: {str(cause).strip()})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def setup_logging(level: int = logging.INFO) -> None:
    """Timestamped lines on stderr (journald keeps them under systemd)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every run of every job at INFO, SQLAlchemy every statement at INFO
    # once its logger is enabled (as --verbose would do); their warnings are kept.
    for noisy in ("apscheduler", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _GuardedTransport:
    """The real transport, asking the daemon before every message."""

    def __init__(self, inner: Transport, guard: Callable[[], None]) -> None:
        self.inner = inner
        self.guard = guard
        self.description = inner.description

    def __enter__(self) -> _GuardedTransport:
        self.inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.inner.__exit__(exc_type, exc, tb)

    def send(self, email: OutgoingEmail) -> SendResult:
        self.guard()
        return self.inner.send(email)


class Daemon:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        interval: float,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        stop_grace: float = DEFAULT_STOP_GRACE,
        holder: str | None = None,
        transport_factory: Callable[[], Transport] | None = None,
    ) -> None:
        if interval <= 0 or lease_seconds <= 0:
            raise ValueError("interval and lease must be positive")
        self.engine = engine
        self.settings = settings
        self.interval = interval
        self.lease_ttl = dt.timedelta(seconds=lease_seconds)
        self.heartbeat_seconds = min(interval, lease_seconds / 3)
        self.stop_grace = stop_grace
        self.holder = holder or lease_mod.new_holder_id()
        self.transport_factory = transport_factory or (lambda: make_transport(settings))
        self.calendar = make_calendar(settings)  # one instance: its warnings are logged once
        self.passes = 0
        self.scheduler: Any = None
        self.stopping = threading.Event()
        self._lease_lock = threading.RLock()
        self._holding = False
        self._released = False
        self._valid_until = 0.0  # monotonic: no new message after this
        self._grace_deadline = math.inf  # monotonic: no new message after this either
        self._standby_note: str | None = None
        self._idle = threading.Event()  # set while no pass runs
        self._idle.set()
        self._mode = "daemon"

    # -- the lease ---------------------------------------------------------------------

    @property
    def interval_record(self) -> int:
        """The interval as the lease row stores it (whole seconds, at least 1)."""
        return max(1, math.ceil(self.interval))

    def may_send(self) -> bool:
        return self._holding and time.monotonic() < self._valid_until

    def renew(self, wake_pass: bool = False) -> bool:
        """Take or renew the lease (and write the heartbeat); True when it is held."""
        acquired = False
        previous: str | None = None
        expired: dt.datetime | None = None
        with self._lease_lock:
            if self._released or (self.stopping.is_set() and not self._holding):
                return False
            started = time.monotonic()
            before = None if self._holding else _quiet(lambda: lease_mod.current_lease(self.engine))
            try:
                ok = lease_mod.try_acquire(
                    self.engine, self.holder, self.lease_ttl, self.interval_record
                )
            except Exception as exc:  # the database is away: keep what we know, it lapses
                log.warning("could not renew the lease: %s", describe_error(exc))
                return self.may_send()
            if ok:
                margin = self.lease_ttl.total_seconds() / 3
                self._valid_until = started + self.lease_ttl.total_seconds() - margin
                if not self._holding:
                    self._holding = acquired = True
                    self._standby_note = None
                    previous = before.holder if before is not None else None
                    expired = before.expires_at if before is not None else None
            else:
                self._valid_until = 0.0
                if self._holding:
                    log.warning("lost the lease: another daemon holds it now; standing by")
                self._holding = False
                self._standby()
        if acquired:
            self._took_over(previous, expired, wake_pass)
        return ok

    def _took_over(
        self, previous: str | None, expired: dt.datetime | None, wake_pass: bool
    ) -> None:
        if previous and previous != self.holder:
            log.info(
                "acquired the lease as %s, taking over from %s (its lease ran until %s)",
                self.holder,
                previous,
                expired.isoformat(timespec="seconds") if expired else "?",
            )
        else:
            log.info("acquired the lease as %s", self.holder)
        try:
            count = release_claims(self.engine, other_than=self.holder)
        except Exception as exc:
            log.warning("could not requeue the previous holder's claims: %s", describe_error(exc))
            count = 0
        if count:
            log.warning(
                "requeued %d notification row(s) left 'sending' by the previous holder "
                "(same Message-ID; a message that was on the wire may go out once more)",
                count,
            )
        if wake_pass and self.scheduler is not None and not self.stopping.is_set():
            _quiet(lambda: self.scheduler.modify_job(PASS_JOB, next_run_time=_aware_now()))

    def _standby(self) -> None:
        current = _quiet(lambda: lease_mod.current_lease(self.engine))
        if current is None:
            return
        note = f"{current.holder} (host {current.host}, pid {current.pid})"
        if note != self._standby_note:
            self._standby_note = note
            until = current.expires_at.isoformat(timespec="seconds") if current.expires_at else "?"
            log.info("standing by: the lease is held by %s until %s", note, until)
        if self.scheduler is not None and current.expires_at and not self.stopping.is_set():
            # Try again the moment it lapses, not up to one heartbeat later.
            at = max(current.expires_at, utcnow()) + dt.timedelta(milliseconds=50)
            _quiet(
                lambda: self.scheduler.add_job(
                    self._takeover_job,
                    "date",
                    run_date=at,
                    id=TAKEOVER_JOB,
                    replace_existing=True,
                    misfire_grace_time=None,
                )
            )

    def release(self) -> None:
        with self._lease_lock:
            self._released = True
            if not self._holding:
                return
            self._holding = False
            self._valid_until = 0.0
            try:
                lease_mod.release(self.engine, self.holder)
                log.info("released the lease")
            except Exception as exc:
                log.warning("could not release the lease (it lapses): %s", describe_error(exc))

    # -- the pass ----------------------------------------------------------------------

    def _guard(self) -> None:
        if not self.may_send():
            raise LeaseLost("the lease may have lapsed: not starting another message")
        if time.monotonic() > self._grace_deadline:
            raise StopRequested("stopping: not starting another message")

    def run_one_pass(self) -> bool:
        """One pass if the lease is held; False when standing by or stopping."""
        with self._lease_lock:  # _finish takes this lock before it looks at _idle
            if self.stopping.is_set() or self._released:
                return False
            self._idle.clear()
        try:
            return self.renew() and self._pass()
        finally:
            self._idle.set()

    def _pass(self) -> bool:
        now = utcnow()  # the clock, read once for the whole pass
        started = time.perf_counter()
        try:
            result = run_pass(
                self.engine,
                self.settings,
                now,
                transport_factory=lambda: _GuardedTransport(self.transport_factory(), self._guard),
                holder=self.holder,
                calendar=self.calendar,
                # the week's summaries go out from the first workday's pass
                weekly=self.settings.weekly_summary,
            )
        except PassAborted as exc:
            log.warning("pass aborted: %s", exc)
            self._give_back_claims()
            return False
        except Exception as exc:
            seconds = time.perf_counter() - started
            if isinstance(exc, OperationalError | SrzError):
                log.error("pass failed after %.2f s: %s", seconds, describe_error(exc))
            else:
                log.exception("pass failed after %.2f s: %s", seconds, describe_error(exc))
            self._give_back_claims()
            counts = {"mode": self._mode, "error": describe_error(exc)[:500]}
            _quiet(lambda: lease_mod.record_pass(self.engine, self.holder, counts, seconds))
            return False
        self.passes += 1
        counts = {"mode": self._mode, **result.as_dict()}
        try:
            lease_mod.record_pass(self.engine, self.holder, counts, result.seconds)
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

    def _give_back_claims(self) -> None:
        try:
            count = release_claims(self.engine, holder=self.holder)
        except Exception as exc:
            log.warning("could not requeue claimed rows: %s", describe_error(exc))
            return
        if count:
            log.info("requeued %d claimed notification row(s) for the next pass", count)

    # -- scheduler jobs ------------------------------------------------------------------

    def _pass_job(self) -> None:
        try:
            self.run_one_pass()
        except Exception:  # never let a job error reach APScheduler silently
            log.exception("unexpected error in the pass job")

    def _heartbeat_job(self) -> None:
        try:
            self.renew(wake_pass=True)
        except Exception:
            log.exception("unexpected error in the heartbeat job")

    _takeover_job = _heartbeat_job

    # -- running -----------------------------------------------------------------------

    def log_start(self, once: bool = False) -> None:
        described = ", ".join(f"{k}={v}" for k, v in self.settings.describe().items())
        log.info(
            "srz run starting%s: holder %s, interval %ss, lease %ss, heartbeat %ss; %s",
            " (once)" if once else "",
            self.holder,
            _num(self.interval),
            _num(self.lease_ttl.total_seconds()),
            _num(self.heartbeat_seconds),
            described,
        )

    def run_once(self) -> int:
        """One pass under the lease (for cron); 0 unless the pass failed."""
        self._mode = "once"
        self.log_start(once=True)
        try:
            if not self.renew():
                log.info("another daemon holds the lease: nothing to do")
                return 0
            ok = self.run_one_pass()
        finally:
            self.release()
        log.info("srz run --once finished")
        return 0 if ok else 1

    def run_forever(self) -> int:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.log_start()
        scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=3)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=dt.UTC,
        )
        self.scheduler = scheduler
        now = _aware_now()
        scheduler.add_job(
            self._heartbeat_job,
            "interval",
            seconds=self.heartbeat_seconds,
            id=HEARTBEAT_JOB,
            next_run_time=now + dt.timedelta(seconds=self.heartbeat_seconds),
        )
        scheduler.add_job(
            self._pass_job, "interval", seconds=self.interval, id=PASS_JOB, next_run_time=now
        )
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        try:
            if not self.stopping.is_set():
                scheduler.start()  # blocks until a signal shuts the scheduler down
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._finish()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stopping.is_set():
            log.warning("%s again: no further message will be started", name)
            self._grace_deadline = 0.0
            return
        log.info("%s received: stopping after the pass in flight", name)
        self._grace_deadline = time.monotonic() + self.stop_grace
        self.stopping.set()
        # Not from inside the handler: the main thread may be in the scheduler's loop.
        threading.Thread(target=self._shutdown_scheduler, name="srz-stop", daemon=True).start()

    def _shutdown_scheduler(self) -> None:
        # A signal between "not stopping" and start() finds the scheduler not yet
        # running: wait for it to run, then stop it.
        deadline = time.monotonic() + 10
        while not self.scheduler.running and time.monotonic() < deadline:
            time.sleep(0.02)
        _quiet(lambda: self.scheduler.shutdown(wait=False))

    # Beyond the grace and the SMTP timeouts: database busy waits and the like.
    hard_stop_slack = 30.0

    @property
    def hard_stop_seconds(self) -> float:
        return self.stop_grace + 3 * self.settings.smtp.timeout_seconds + self.hard_stop_slack

    def _finish(self) -> int:
        deadline = time.monotonic() + self.hard_stop_seconds
        with self._lease_lock:
            pass  # a pass that saw "not stopping" has marked itself running by now
        if not self._idle.is_set():
            log.info("waiting for the pass in flight to end")
        # Keep the lease alive while the last pass drains.
        while not self._idle.wait(min(self.heartbeat_seconds, 1.0)):
            if time.monotonic() > deadline:
                log.error(
                    "the pass in flight did not end within %.0f s; exiting without releasing "
                    "the lease (it lapses in %s s)",
                    self.hard_stop_seconds,
                    _num(self.lease_ttl.total_seconds()),
                )
                logging.shutdown()
                os._exit(1)
            if self._holding:
                self.renew()
        if self._holding:
            self._give_back_claims()
        self.release()
        log.info("srz run stopped after %d pass(es)", self.passes)
        return 0


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _aware_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _num(value: float) -> str:
    return f"{value:g}"


def _quiet(fn: Callable[[], Any]) -> Any:
    """Run a best-effort side call; log and swallow its error."""
    try:
        return fn()
    except Exception as exc:
        log.debug("ignored: %s", describe_error(exc))
        return None
