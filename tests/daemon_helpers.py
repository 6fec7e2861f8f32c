"""Helpers for the end-to-end daemon tests: the real ``srz run`` as a subprocess, an SMTP
server that can be slow or mute, a database with tasks due today, and polling with a
deadline instead of fixed sleeps.

Tasks due around today: the bundled plan is for 2023, but the daemon reads the real
clock. ``prepare_database`` loads the bundled plan and the sample directory (``srz demo``)
and switches every task off (``next_step_at`` NULL, nothing to look at); ``make_due``
then gives one obligation's tasks today's date (Asia/Shanghai) as due date and a
``next_step_at`` in the past. With ``SRZ_SEND_HOUR=0`` the due-today step of a working
day is due from midnight, and on a holiday the reminder moves to an earlier working day,
so one step per task is due whatever the real date; the older ones are recorded as
skipped. ``city-hands-on-training`` and ``city-summary-report`` are city obligations: 12
tasks each, one email per city contact, so 12 messages per obligation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from srz_tracker.store import db
from srz_tracker.store.models import DaemonLease, Notification, Obligation, PlanYear, Task
from tests.smtp_server import SmtpTestServer, _Handler
from tests.srz_cli_helpers import demo

SRZ = str(Path(sys.executable).with_name("srz"))
MAIL_FROM = "srz-tracker@example.org"
CITY_OBLIGATIONS = ("city-hands-on-training", "city-summary-report")


# -- polling ---------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


# -- SMTP servers that misbehave in time -----------------------------------------------


class _SlowHandler(_Handler):
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        # The message is stored; the client waits for the answer. A client killed now
        # never learns that the message went out: the "in flight" message.
        delay = self.owner.data_delay  # type: ignore[attr-defined]
        if delay and reply.startswith("250"):
            await asyncio.sleep(delay)
        return reply


class SlowSmtpServer(SmtpTestServer):
    """``SmtpTestServer`` whose answer to each message's data comes ``data_delay`` late."""

    handler_class = _SlowHandler

    def __init__(self, data_delay: float = 0.0) -> None:
        super().__init__()
        self.data_delay = data_delay

    def message_ids(self) -> list[str]:
        with self._lock:
            return [str(m.message["Message-ID"]) for m in self.messages]


class MuteSmtpServer:
    """Accepts TCP connections (the kernel does, from the backlog) and never greets: an
    SMTP server that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.host, self.port = self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()


# -- the database ----------------------------------------------------------------------


def local_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def prepare_database(db_url: str) -> None:
    """Bundled plan + sample directory, every task switched off, and the 2023 plan year
    kept open at the real clock (it would close by its date, 2024-03-31, and take the
    tasks that ``make_due`` brings to today with it)."""
    demo(db_url)
    with db.write_session(db.get_engine(db_url)) as session:
        session.execute(update(Task).values(next_step_at=None))
        session.execute(update(PlanYear).values(closes_on=None))


def make_due(db_url: str, obligation: str = CITY_OBLIGATIONS[0]) -> list[int]:
    """Give one obligation's open tasks today's date as due date; returns their ids."""
    today = local_today()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with db.write_session(db.get_engine(db_url)) as session:
        ids = list(
            session.scalars(
                select(Task.id)
                .join(Obligation, Task.obligation_id == Obligation.id)
                .where(Obligation.key == obligation, Task.status == "open")
                .order_by(Task.id)
            )
        )
        session.execute(
            update(Task)
            .where(Task.id.in_(ids))
            .values(due_on=today, original_due_on=today, next_step_at=past)
        )
    return ids


def open_task_ids(db_url: str) -> list[int]:
    with db.get_engine(db_url).connect() as conn:
        return list(
            conn.scalars(select(Task.id).where(Task.status == "open").order_by(Task.id.desc()))
        )


def notifications(db_url: str, pending_only: bool = False) -> list[dict[str, Any]]:
    """Outbox rows that carry mail (skipped rows left out)."""
    with db.get_engine(db_url).connect() as conn:
        rows = conn.execute(
            select(
                Notification.id,
                Notification.task_id,
                Notification.status,
                Notification.message_id,
                Notification.claimed_by,
                Notification.last_error,
            ).where(Notification.status != "skipped")
        ).all()
    return [r._asdict() for r in rows]


def statuses(db_url: str) -> Counter[str]:
    return Counter(r["status"] for r in notifications(db_url))


def lease(db_url: str) -> dict[str, Any] | None:
    with db.get_engine(db_url).connect() as conn:
        row = conn.execute(select(DaemonLease).where(DaemonLease.name == "sender")).first()
    return row._asdict() if row else None


def expire_backoff(db_url: str) -> None:
    """Pretend the retry backoff (minutes) has passed: pending rows are due now."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with db.write_session(db.get_engine(db_url)) as session:
        session.execute(
            update(Notification)
            .where(Notification.status == "pending")
            .values(next_attempt_at=past)
        )


# -- the daemon and the CLI as processes -----------------------------------------------


def srz_env(tmp_path: Path, smtp: Any | None = None, **extra: str) -> dict[str, str]:
    """A clean environment: no config file or database from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRZ_")}
    env.update(
        {
            "SRZ_SEND_HOUR": "0",
            # These tests count reminder emails; the weekly summary has its own test.
            "SRZ_WEEKLY_SUMMARY": "0",
            "SRZ_MAILDIR": str(tmp_path / "maildir"),
            "SRZ_MAIL_FROM": MAIL_FROM,
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "SRZ_USER": "测试员",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if smtp is not None:
        env.update(
            {
                "SRZ_SMTP_HOST": smtp.host,
                "SRZ_SMTP_PORT": str(smtp.port),
                "SRZ_SMTP_SECURITY": "none",
            }
        )
    env.update(extra)
    return env


class DaemonProcess:
    """``srz --db URL run ...`` in its own process; its log goes to a file."""

    def __init__(self, db_url: str, tmp_path: Path, env: dict[str, str], *args: str) -> None:
        index = len(list(tmp_path.glob("daemon-*.log")))
        self.log_path = tmp_path / f"daemon-{index}.log"
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [SRZ, "--db", db_url, "run", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> None:
        def seen() -> bool:
            if needle in self.log():
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            return False

        wait_until(seen, timeout, f"{needle!r} in the daemon log")

    def running(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"daemon still running after {timeout:g} s:\n{self.log()}"
            ) from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


def srz_run(
    db_url: str, env: dict[str, str], cwd: Path, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SRZ, "--db", db_url, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def status_json(db_url: str, env: dict[str, str], cwd: Path) -> tuple[int, dict[str, Any]]:
    result = srz_run(db_url, env, cwd, "status", "--format", "json")
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


# ``srz done`` racing the daemon: see the script for why it is one process per chunk.
DONE_DRIVER = Path(__file__).resolve().parent / "scripts" / "done_driver.py"


def start_done_drivers(
    db_url: str, env: dict[str, str], cwd: Path, task_ids: list[int], processes: int
) -> list[subprocess.Popen[str]]:
    chunks = [task_ids[i::processes] for i in range(processes)]
    return [
        subprocess.Popen(
            [sys.executable, str(DONE_DRIVER), db_url, *map(str, chunk)],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for chunk in chunks
        if chunk
    ]


def driver_results(procs: list[subprocess.Popen[str]], timeout: float) -> list[dict[str, Any]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        results += [json.loads(line) for line in out.splitlines() if line.strip()]
    return results
