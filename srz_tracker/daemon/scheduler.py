"""The daemon's APScheduler 3.x wiring: one BlockingScheduler, in-memory job store (every
durable fact lives in the project's own tables).

- ``srz-pass`` every ``interval`` seconds, first run at start-up: renew the lease, and if
  it is held, read the clock once and run one pass (plan + deliver, and the week's
  summaries on the first workday when ``weekly_summary`` is on), then record the pass
  and its counts on the lease row for ``srz status``.
- ``srz-heartbeat`` every ``min(interval, lease/3)`` seconds: take or renew the lease and
  write the heartbeat. It runs beside a long pass, so the lease never lapses while a
  slow SMTP server is being waited for.
- ``srz-takeover``, once, for a standby (lease held by someone else): the heartbeat's
  work at the very moment the current lease expires, so that it takes over within the
  lease time of the active daemon's death.

At most one instance of each job at a time (a pass that outlasts the interval makes the
scheduler skip that run: passes never pile up); late runs are coalesced into one and
never dropped as misfired.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from srz_tracker.daemon.logs import log, quiet

PASS_JOB = "srz-pass"
HEARTBEAT_JOB = "srz-heartbeat"
TAKEOVER_JOB = "srz-takeover"


def aware_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def logged(job: Callable[[], Any], name: str) -> Callable[[], None]:
    """``job`` for APScheduler: an error is logged with its traceback, never swallowed by
    the scheduler's own logger (kept at WARNING) nor allowed to end the job."""

    def run() -> None:
        try:
            job()
        except Exception:
            log.exception("unexpected error in the %s job", name)

    return run


class Jobs:
    """The scheduler and the daemon's jobs on it; built stopped, ``start`` blocks."""

    def __init__(
        self,
        interval: float,
        heartbeat_seconds: float,
        pass_job: Callable[[], Any],
        heartbeat_job: Callable[[], Any],
    ) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.scheduler: Any = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=3)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=dt.UTC,
        )
        self.heartbeat_job = logged(heartbeat_job, "heartbeat")
        now = aware_now()
        self.scheduler.add_job(
            self.heartbeat_job,
            "interval",
            seconds=heartbeat_seconds,
            id=HEARTBEAT_JOB,
            next_run_time=now + dt.timedelta(seconds=heartbeat_seconds),
        )
        self.scheduler.add_job(
            logged(pass_job, "pass"), "interval", seconds=interval, id=PASS_JOB, next_run_time=now
        )

    def start(self) -> None:
        """Run the jobs; returns once ``shutdown`` stopped the scheduler."""
        self.scheduler.start()

    def wake_pass(self) -> None:
        """Run the pass job now rather than at its next interval."""
        quiet(lambda: self.scheduler.modify_job(PASS_JOB, next_run_time=aware_now()))

    def takeover_at(self, at: dt.datetime) -> None:
        """Run the heartbeat's work once at ``at`` (replacing an earlier such run)."""
        quiet(
            lambda: self.scheduler.add_job(
                self.heartbeat_job,
                "date",
                run_date=at,
                id=TAKEOVER_JOB,
                replace_existing=True,
                misfire_grace_time=None,
            )
        )

    def shutdown(self) -> None:
        """Stop the scheduler without waiting for the jobs in flight; from any thread."""
        # A stop between "not stopping" and start() finds the scheduler not yet
        # running: wait for it to run, then stop it.
        deadline = time.monotonic() + 10
        while not self.scheduler.running and time.monotonic() < deadline:
            time.sleep(0.02)
        quiet(lambda: self.scheduler.shutdown(wait=False))
