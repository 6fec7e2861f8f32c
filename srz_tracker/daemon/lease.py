"""The sender lease: one row that says which process may plan and send, until when.

Taken and renewed with a conditional UPDATE, so that of several processes on one SQLite
file or one PostgreSQL database exactly one holds it. Lease times come from the real
clock even when a pass runs at a simulated ``--now``: the lease is about which process
is alive, not about plan time. The same row carries the heartbeat for ``srz status``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from srz_tracker.clock import utcnow
from srz_tracker.errors import SrzError
from srz_tracker.store.db import read_session, write_session
from srz_tracker.store.models import DaemonLease

LEASE_NAME = "sender"
DEFAULT_TTL = dt.timedelta(seconds=60)


class LeaseBusy(SrzError):
    exit_code = 1


def new_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


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
