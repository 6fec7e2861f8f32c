"""The sender lease: one row that says which process may plan and send, until when, and
this process's hold on it (``LeaseKeeper``).

Taken and renewed with a conditional UPDATE, so that of several processes on one SQLite
file or one PostgreSQL database exactly one holds it. Lease times come from the real
clock even when a pass runs at a simulated ``--now``: the lease is about which process
is alive, not about plan time. The same row carries the heartbeat for ``srz status``.

The holder that takes the lease over hands the previous holder's ``sending`` rows back
to ``pending`` at once (same Message-ID): the lease proves the previous holder is dead
or has stopped sending.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from srz_tracker.clock import utcnow
from srz_tracker.daemon.logs import describe_error, log, quiet
from srz_tracker.errors import SrzError
from srz_tracker.notify.delivery import release_claims
from srz_tracker.notify.passes import new_holder_id
from srz_tracker.store.db import read_session, write_session
from srz_tracker.store.models import DaemonLease

LEASE_NAME = "sender"
DEFAULT_TTL = dt.timedelta(seconds=60)


class LeaseBusy(SrzError):
    exit_code = 1


def try_acquire(
    engine: Engine,
    holder: str,
    ttl: dt.timedelta = DEFAULT_TTL,
    interval_seconds: int | None = None,
) -> bool:
    """Take or renew the lease; True when ``holder`` holds it afterwards."""
    now = utcnow()
    values: dict[str, Any] = {
        "holder": holder,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "expires_at": now + ttl,
        "heartbeat_at": now,
    }
    if interval_seconds is not None:
        values["interval_seconds"] = interval_seconds
    try:
        with write_session(engine) as session:
            current = session.get(DaemonLease, LEASE_NAME)
            if current is None:
                session.add(DaemonLease(name=LEASE_NAME, acquired_at=now, **values))
                return True
            renewing = current.holder == holder
            result = session.execute(
                update(DaemonLease)
                .where(
                    DaemonLease.name == LEASE_NAME,
                    or_(
                        DaemonLease.holder == holder,
                        DaemonLease.holder.is_(None),
                        DaemonLease.expires_at.is_(None),
                        DaemonLease.expires_at < now,
                    ),
                )
                .values(**values, **({} if renewing else {"acquired_at": now}))
                .execution_options(synchronize_session=False)
            )
            return (result.rowcount or 0) == 1
    except IntegrityError:
        return False  # another process inserted the row first


def release(engine: Engine, holder: str) -> None:
    """End the lease now; the heartbeat equal to the expiry marks a clean release."""
    now = utcnow()
    with write_session(engine) as session:
        session.execute(
            update(DaemonLease)
            .where(DaemonLease.name == LEASE_NAME, DaemonLease.holder == holder)
            .values(expires_at=now, heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )


def record_pass(engine: Engine, holder: str, counts: dict[str, Any], seconds: float) -> None:
    now = utcnow()
    with write_session(engine) as session:
        session.execute(
            update(DaemonLease)
            .where(DaemonLease.name == LEASE_NAME, DaemonLease.holder == holder)
            .values(
                last_pass_at=now,
                last_pass_seconds=seconds,
                last_pass_counts=counts,
                heartbeat_at=now,
            )
            .execution_options(synchronize_session=False)
        )


def current_lease(engine: Engine) -> DaemonLease | None:
    with read_session(engine) as session:
        return session.scalar(select(DaemonLease).where(DaemonLease.name == LEASE_NAME))


@contextlib.contextmanager
def held_lease(
    engine: Engine, now: dt.datetime | None = None, ttl: dt.timedelta = dt.timedelta(minutes=10)
) -> Iterator[str]:
    """Hold the lease for one command's pass (``srz remind``), or refuse."""
    holder = new_holder_id()
    if not try_acquire(engine, holder, ttl):
        lease = current_lease(engine)
        who = f"{lease.holder}（主机 {lease.host}，进程 {lease.pid}）" if lease else "另一进程"
        raise LeaseBusy(
            f"守护进程 {who} 正在负责发送提醒；无需手动执行 srz remind。"
            "如该进程已停止，请在租约过期后重试"
        )
    try:
        yield holder
    finally:
        release(engine, holder)


def _nothing(*_args: Any) -> None:
    return None


class LeaseKeeper:
    """This process's hold on the lease: taken, renewed, lost, released.

    ``may_send`` is the local view the send guard trusts: true until ``lease - lease/3``
    after the last successful renewal, so that no message starts when the row may have
    lapsed already (clock steps, a slow database). ``lock`` serialises renewals, the
    release and the daemon's "is a pass running" bookkeeping.

    ``wake_pass`` (no argument) runs a pass now, after the lease was taken by a heartbeat;
    ``retry_at`` (an aware instant) tries again the moment another holder's lease lapses.
    The daemon points both at its scheduler.
    """

    def __init__(
        self,
        engine: Engine,
        holder: str,
        ttl: dt.timedelta,
        interval_seconds: int,
        stopping: threading.Event,
        wake_pass: Callable[[], None] = _nothing,
        retry_at: Callable[[dt.datetime], None] = _nothing,
    ) -> None:
        self.engine = engine
        self.holder = holder
        self.ttl = ttl
        self.interval_seconds = interval_seconds
        self.stopping = stopping
        self.wake_pass = wake_pass
        self.retry_at = retry_at
        self.lock = threading.RLock()
        self.holding = False
        self.released = False
        self._valid_until = 0.0  # monotonic: no new message after this
        self._standby_note: str | None = None

    def may_send(self) -> bool:
        return self.holding and time.monotonic() < self._valid_until

    def renew(self, wake_pass: bool = False) -> bool:
        """Take or renew the lease (and write the heartbeat); True when it is held."""
        acquired = False
        previous: str | None = None
        expired: dt.datetime | None = None
        with self.lock:
            if self.released or (self.stopping.is_set() and not self.holding):
                return False
            started = time.monotonic()
            before = None if self.holding else quiet(lambda: current_lease(self.engine))
            try:
                ok = try_acquire(self.engine, self.holder, self.ttl, self.interval_seconds)
            except Exception as exc:  # the database is away: keep what we know, it lapses
                log.warning("could not renew the lease: %s", describe_error(exc))
                return self.may_send()
            if ok:
                margin = self.ttl.total_seconds() / 3
                self._valid_until = started + self.ttl.total_seconds() - margin
                if not self.holding:
                    self.holding = acquired = True
                    self._standby_note = None
                    previous = before.holder if before is not None else None
                    expired = before.expires_at if before is not None else None
            else:
                self._valid_until = 0.0
                if self.holding:
                    log.warning("lost the lease: another daemon holds it now; standing by")
                self.holding = False
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
        if wake_pass:
            self.wake_pass()

    def _standby(self) -> None:
        current = quiet(lambda: current_lease(self.engine))
        if current is None:
            return
        note = f"{current.holder} (host {current.host}, pid {current.pid})"
        if note != self._standby_note:
            self._standby_note = note
            until = current.expires_at.isoformat(timespec="seconds") if current.expires_at else "?"
            log.info("standing by: the lease is held by %s until %s", note, until)
        if current.expires_at:
            # Try again the moment it lapses, not up to one heartbeat later.
            self.retry_at(max(current.expires_at, utcnow()) + dt.timedelta(milliseconds=50))

    def release(self) -> None:
        with self.lock:
            self.released = True
            if not self.holding:
                return
            self.holding = False
            self._valid_until = 0.0
            try:
                release(self.engine, self.holder)
                log.info("released the lease")
            except Exception as exc:
                log.warning("could not release the lease (it lapses): %s", describe_error(exc))
