"""The background daemon (``srz run``): the lease, the guarded pass, the scheduler and the
stop signals, tied together.

- ``lease``: the lease row, and ``LeaseKeeper``, this process's hold on it (taking over
  from a dead holder, standing by while another one is alive);
- ``guard``: no message starts once the lease could have lapsed or a stop has waited
  long enough; one pass under that guard;
- ``scheduler``: the APScheduler jobs (the pass, the heartbeat, a standby's takeover);
- ``signals``: SIGTERM / SIGINT, the stop grace, the cutoff for a stuck pass.

``srz run --once`` (for cron) is one pass under the lease, without the scheduler.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from srz_tracker.config import Settings
from srz_tracker.daemon.guard import SendGuard, give_back_claims, guarded_pass
from srz_tracker.daemon.lease import LeaseKeeper
from srz_tracker.daemon.logs import log, num, setup_logging
from srz_tracker.daemon.scheduler import Jobs
from srz_tracker.daemon.signals import (
    HARD_STOP_SLACK,
    Stopper,
    hard_stop_seconds,
    wait_for_pass_in_flight,
)
from srz_tracker.mail.transports import Transport, make_transport
from srz_tracker.notify.passes import make_calendar, new_holder_id

__all__ = ["DEFAULT_LEASE_SECONDS", "DEFAULT_STOP_GRACE", "Daemon", "setup_logging"]

DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_STOP_GRACE = 30.0


class Daemon:
    # Beyond the grace and the SMTP timeouts (a test shortens it on the instance).
    hard_stop_slack = HARD_STOP_SLACK

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
        self.heartbeat_seconds = min(interval, lease_seconds / 3)
        self.stop_grace = stop_grace
        self.holder = holder or new_holder_id()
        self.transport_factory = transport_factory or (lambda: make_transport(settings))
        self.calendar = make_calendar(settings)  # one instance: its warnings are logged once
        self.passes = 0
        self.jobs: Jobs | None = None
        self.stopping = threading.Event()
        self.keeper = LeaseKeeper(
            engine,
            self.holder,
            dt.timedelta(seconds=lease_seconds),
            self.interval_record,
            self.stopping,
            wake_pass=self._wake_pass,
            retry_at=self._retry_at,
        )
        self.guard = SendGuard(self.keeper.may_send)
        self._idle = threading.Event()  # set while no pass runs
        self._idle.set()
        self._mode = "daemon"

    @property
    def interval_record(self) -> int:
        """The interval as the lease row stores it (whole seconds, at least 1)."""
        return max(1, math.ceil(self.interval))

    @property
    def lease_ttl(self) -> dt.timedelta:
        return self.keeper.ttl

    @property
    def hard_stop_seconds(self) -> float:
        return hard_stop_seconds(
            self.stop_grace, self.settings.smtp.timeout_seconds, self.hard_stop_slack
        )

    # -- what the lease keeper asks of the scheduler ------------------------------------

    def _wake_pass(self) -> None:
        if self.jobs is not None and not self.stopping.is_set():
            self.jobs.wake_pass()

    def _retry_at(self, at: dt.datetime) -> None:
        if self.jobs is not None and not self.stopping.is_set():
            self.jobs.takeover_at(at)

    # -- the pass ----------------------------------------------------------------------

    def run_one_pass(self) -> bool:
        """One pass if the lease is held; False when standing by or stopping."""
        with self.keeper.lock:  # the stop takes this lock before it looks at _idle
            if self.stopping.is_set() or self.keeper.released:
                return False
            self._idle.clear()
        try:
            if not self.keeper.renew():
                return False
            ok = guarded_pass(
                self.engine,
                self.settings,
                self.holder,
                self.guard,
                self.transport_factory,
                self.calendar,
                self._mode,
            )
            if ok:
                self.passes += 1
            return ok
        finally:
            self._idle.set()

    # -- running -----------------------------------------------------------------------

    def log_start(self, once: bool = False) -> None:
        described = ", ".join(f"{k}={v}" for k, v in self.settings.describe().items())
        log.info(
            "srz run starting%s: holder %s, interval %ss, lease %ss, heartbeat %ss; %s",
            " (once)" if once else "",
            self.holder,
            num(self.interval),
            num(self.lease_ttl.total_seconds()),
            num(self.heartbeat_seconds),
            described,
        )

    def run_once(self) -> int:
        """One pass under the lease (for cron); 0 unless the pass failed."""
        self._mode = "once"
        self.log_start(once=True)
        try:
            if not self.keeper.renew():
                log.info("another daemon holds the lease: nothing to do")
                return 0
            ok = self.run_one_pass()
        finally:
            self.keeper.release()
        log.info("srz run --once finished")
        return 0 if ok else 1

    def run_forever(self) -> int:
        """Run the jobs until SIGTERM / SIGINT; 0 after a clean stop."""
        self.log_start()
        jobs = Jobs(
            self.interval,
            self.heartbeat_seconds,
            pass_job=self.run_one_pass,
            heartbeat_job=lambda: self.keeper.renew(wake_pass=True),
        )
        self.jobs = jobs
        stopper = Stopper(self.stopping, self.guard, self.stop_grace, jobs.shutdown)
        with stopper.installed():
            if not self.stopping.is_set():
                jobs.start()  # blocks until a signal shuts the scheduler down
        return self._finish()

    def _finish(self) -> int:
        wait_for_pass_in_flight(
            self._idle, self.keeper, self.heartbeat_seconds, self.hard_stop_seconds
        )
        if self.keeper.holding:
            give_back_claims(self.engine, self.holder)
        self.keeper.release()
        log.info("srz run stopped after %d pass(es)", self.passes)
        return 0
