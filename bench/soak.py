"""Fault-injection soak: the real daemon (``srz run``) against an SMTP server that
misbehaves on purpose, with ``srz done`` racing it and SIGKILL restarts.

``python -m bench.soak [--pg URL] [--seconds 90] [--tasks 3000] [--json FILE]``

The schedule is compressed: the daemon reads the real clock, so instead of waiting for
09:00 on the next working day the soak makes waves of tasks due at once (their
``next_step_at`` set to "now"), and it advances the outbox's clock for retries (rows
backing off for minutes are made due again every few seconds), as if hours passed.

Faults, all at once: the server refuses connections for a while (stopped), answers 451
to the message at random, 550 to a few recipients for good, keeps a message and then
drops the connection without answering (the sender cannot know it arrived), and is slow
to answer DATA so that a kill lands mid-SMTP; ``srz done`` calls race the passes; the
daemon is killed with SIGKILL and restarted several times (its successor takes the lease
over when it lapses and requeues what the dead one had claimed).

At the end the server is healthy (but for the 550 recipients), the outbox is drained and
the daemon stopped with SIGTERM; then every outbox row is checked against what the
server received, by Message-ID and recipient. Printed: notifications planned, delivered
once, delivered twice (same Message-ID: after a dropped connection, or one message in
flight per kill), lost (must be 0), permanently failed (must be only the 550
recipients), "database is locked" errors (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from bench.data import MAIL_DOMAIN, build, make_due
from srz_tracker.store import db
from srz_tracker.store.models import Contact, DaemonLease, Notification, Task
from tests.smtp_server import SmtpTestServer, _Handler

ROOT = Path(__file__).resolve().parent.parent
LOCKED = "database is locked"


# -- the misbehaving server -----------------------------------------------------------


class _ChaosHandler(_Handler):
    async def handle_DATA(self, server, session, envelope):
        owner: ChaosServer = self.owner  # type: ignore[assignment]
        if owner.data_delay:
            await asyncio.sleep(owner.data_delay)
        if owner.rng.random() < owner.p_451:
            with owner._lock:
                owner.answered_451 += 1
            return "451 4.3.0 Requested action aborted: try again later"
        drop = owner.rng.random() < owner.p_drop
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        owner._store(envelope.mail_from, list(envelope.rcpt_tos), raw, session.peer)
        hook = owner.kill_hook
        if hook is not None and not drop:
            hook()  # the sender dies with the message kept and unacknowledged
            await asyncio.sleep(0.2)
        if drop:
            with owner._lock:
                owner.dropped_ids.append(str(owner.messages[-1].message["Message-ID"]))
            server.transport.close()  # kept, but the client never hears the 250
        return "250 2.0.0 OK: queued"


class ChaosServer(SmtpTestServer):
    """tests/smtp_server.py's server with faults drawn at random per message."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)
        self.p_451 = 0.0
        self.p_drop = 0.0
        self.data_delay = 0.0
        self.answered_451 = 0
        self.dropped_ids: list[str] = []
        self.outages = 0
        self.kill_hook: Any = None

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(
            _ChaosHandler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.soak.invalid",
            decode_data=False,
        )
        controller.start()
        self._controller = controller


# -- the daemon -------------------------------------------------------------------------


@dataclass
class Daemons:
    url: str
    env: dict[str, str]
    workdir: Path
    interval: float
    lease: float
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: int = 0
    kills_delivering: int = 0

    def start(self) -> None:
        log = (self.workdir / f"daemon-{len(self.procs)}.log").open("wb")
        srz = str(Path(sys.executable).with_name("srz"))
        args = [srz, "--db", self.url, "run", "--interval", str(self.interval)]
        args += ["--lease-seconds", str(self.lease), "--stop-grace", "5"]
        proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)

    @property
    def current(self) -> subprocess.Popen[bytes]:
        return self.procs[-1]

    def restart_after_kill(self, in_flight: bool) -> None:
        self.current.wait(timeout=30)
        self.kills += 1
        self.kills_delivering += in_flight
        self.start()

    def stop(self) -> int:
        self.current.send_signal(signal.SIGTERM)
        try:
            return self.current.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.current.kill()
            return -9

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("daemon-*.log"))
        )


# -- the soak --------------------------------------------------------------------------


@dataclass
class Settings:
    seconds: float = 60.0
    tasks: int = 3000
    waves: int = 8
    wave_tasks: int = 60
    kills: int = 4
    outage_seconds: float = 4.0
    p_451: float = 0.15
    p_drop: float = 0.03
    data_delay: float = 0.05
    rejected: int = 3
    done_every: float = 0.4
    interval: float = 0.5
    lease: float = 2.0
    drain_seconds: float = 120.0
    seed: int = 6


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _compress_time(engine: Any) -> int:
    """Rows backing off (minutes, hours) are due now: the clock moved on."""
    with db.write_session(engine) as session:
        result = session.execute(
            update(Notification)
            .where(Notification.status == "pending", Notification.next_attempt_at > _now())
            .values(next_attempt_at=_now() - dt.timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0


def _outbox_busy(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(Notification)
            .where(Notification.status.in_(["pending", "sending"]))
        ).scalar_one()


def _last_pass_at(engine: Any) -> dt.datetime | None:
    """When the newest finished pass started (the daemon records it after the pass)."""
    with engine.connect() as conn:
        value = conn.execute(select(func.max(DaemonLease.last_pass_at))).scalar_one()
    if isinstance(value, str):  # SQLite through Core without the column type
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def run_soak(url: str, s: Settings, workdir: Path, log: Any = print) -> dict[str, Any]:
    rng = random.Random(s.seed)
    started = time.monotonic()
    log(f"soak: building {s.tasks} tasks")
    built = build(url, s.tasks, now=_now(), seed=s.seed)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        inst_emails = list(
            conn.execute(
                select(Contact.email).where(Contact.scope == "institution").order_by(Contact.id)
            ).scalars()
        )
        open_ids = list(
            conn.execute(select(Task.id).where(Task.status == "open").order_by(Task.id)).scalars()
        )
        # The built history (sent long ago) is not the soak's business.
        history = conn.execute(select(func.max(Notification.id))).scalar() or 0
    rejected = {e.lower() for e in rng.sample(inst_emails, min(s.rejected, len(inst_emails)))}

    server = ChaosServer(s.seed)
    server.reject_recipients = set(rejected)
    server.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRZ_")}
    config = workdir / "srz.toml"
    config.write_text("[smtp]\ntimeout_seconds = 5\n")
    env.update(
        {
            "SRZ_CONFIG": str(config),
            "SRZ_TRANSPORT": "smtp",
            "SRZ_SMTP_HOST": server.host,
            "SRZ_SMTP_PORT": str(server.port),
            "SRZ_SMTP_SECURITY": "none",
            "SRZ_MAIL_FROM": f"srz-soak@{MAIL_DOMAIN}",
            "SRZ_SEND_HOUR": "0",
            "SRZ_USER": "soak",
        }
    )
    daemons = Daemons(url, env, workdir, s.interval, s.lease)
    daemons.start()

    done_results: Counter[str] = Counter()
    done_errors: list[str] = []
    stop_racing = threading.Event()

    def race_done() -> None:
        srz = str(Path(sys.executable).with_name("srz"))
        racer = random.Random(s.seed + 1)
        while not stop_racing.wait(s.done_every):
            task_id = racer.choice(open_ids)
            out = subprocess.run(
                [srz, "--db", url, "done", str(task_id), "--no-evidence-reason", "soak"],
                env=env,
                capture_output=True,
                text=True,
            )
            if out.returncode == 0:
                done_results["ok"] += 1
            else:
                done_results["failed"] += 1
                done_errors.append(out.stderr.strip()[-500:])

    racer = threading.Thread(target=race_done, name="srz-done-racer", daemon=True)
    racer.start()

    # The chaos plan: waves of due tasks spread over the run, kills and one outage at
    # random moments in it, random 451s and drops throughout.
    server.p_451, server.p_drop, server.data_delay = s.p_451, s.p_drop, s.data_delay
    chaos_end = started + s.seconds
    span = max(1.0, chaos_end - time.monotonic())
    t0 = time.monotonic()
    events: list[tuple[float, str]] = []
    wave_times = [t0 + span * i / s.waves for i in range(s.waves)]
    events += [(at, "wave") for at in wave_times]
    # Kills soon after a wave, while the daemon is delivering it: armed then, a kill
    # lands in the middle of the next SMTP transaction (see kill_in_flight).
    for at in rng.sample(wave_times, min(s.kills, len(wave_times))):
        events.append((at + rng.uniform(0.5, 2.0), "kill"))
    outage_at = t0 + span * rng.uniform(0.3, 0.6)
    events.append((outage_at, "down"))
    events.append((outage_at + s.outage_seconds, "up"))
    events.sort()
    chosen: set[int] = set()
    waves = 0
    next_compress = time.monotonic() + 3.0
    fired = threading.Event()
    armed_at: float | None = None

    def kill_in_flight() -> None:  # the server thread, with a message stored, no 250 yet
        server.kill_hook = None
        daemons.current.send_signal(signal.SIGKILL)
        fired.set()

    def tick() -> None:
        nonlocal next_compress, armed_at
        if time.monotonic() >= next_compress:
            _compress_time(engine)
            next_compress = time.monotonic() + 3.0
        if fired.is_set():
            fired.clear()
            armed_at = None
            daemons.restart_after_kill(in_flight=True)
            log(f"soak: daemon killed (SIGKILL) mid-SMTP, restarted ({daemons.kills})")
        elif armed_at is not None and time.monotonic() - armed_at > 3.0:
            server.kill_hook = None  # nothing being sent: kill it between messages
            armed_at = None
            daemons.current.send_signal(signal.SIGKILL)
            daemons.restart_after_kill(in_flight=False)
            log(f"soak: daemon killed (SIGKILL) while idle, restarted ({daemons.kills})")

    for at, what in events:
        while time.monotonic() < at:
            time.sleep(0.05)
            tick()
        if what == "wave":
            ids = make_due(
                engine, count=s.wave_tasks, seed=s.seed + waves, exclude=frozenset(chosen)
            )
            chosen.update(ids)
            waves += 1
            log(f"soak: wave {waves}: {len(ids)} tasks due")
        elif what == "kill" and armed_at is None:
            # Armed: the server kills the daemon the moment it has stored the next
            # message and before it answers 250, so that message is sent again.
            armed_at = time.monotonic()
            server.kill_hook = kill_in_flight
        elif what == "down":
            server.stop()
            server.outages += 1
            log("soak: SMTP server down (connections refused)")
        elif what == "up":
            server.start()
            log("soak: SMTP server back")
    while armed_at is not None:
        time.sleep(0.05)
        tick()
    server.start()
    stop_racing.set()
    racer.join(timeout=60)

    # Drain: a healthy server (the 550 recipients stay refused) and time moving on.
    server.p_451 = server.p_drop = server.data_delay = 0.0
    log("soak: chaos over; draining the outbox")
    drain_deadline = time.monotonic() + s.drain_seconds
    # Drained = the outbox idle, then a whole pass that started after that moment found
    # nothing more to plan or send. Two idle looks alone are not enough on a loaded
    # machine: a pass can still be planning (rows not yet committed) between them.
    idle_since: dt.datetime | None = None
    drained = False
    while time.monotonic() < drain_deadline:
        _compress_time(engine)
        time.sleep(max(1.0, 2 * s.interval))
        if _outbox_busy(engine):
            idle_since = None
            continue
        if idle_since is None:
            idle_since = _now()
            continue
        last = _last_pass_at(engine)
        if last is not None and last > idle_since and _outbox_busy(engine) == 0:
            drained = True
            break
    code = daemons.stop()
    logs = daemons.logs()
    summary = _summarize(
        engine, server, rejected, daemons, done_results, done_errors, logs, history
    )
    summary.update(
        {
            "tasks": built.tasks,
            "waves": waves,
            "tasks_made_due": len(chosen),
            "daemon_exit_code_at_sigterm": code,
            "drained": drained,
            "seconds": round(time.monotonic() - started, 1),
            "backend": engine.dialect.name,
        }
    )
    server.stop()
    engine.dispose()
    return summary


def _summarize(
    engine: Any,
    server: ChaosServer,
    rejected: set[str],
    daemons: Daemons,
    done_results: Counter[str],
    done_errors: list[str],
    logs: str,
    history: int,
) -> dict[str, Any]:
    received: Counter[tuple[str, str]] = Counter()
    messages_by_id: Counter[str] = Counter()
    for m in server.messages:
        mid = str(m.message["Message-ID"])
        messages_by_id[mid] += 1
        for rcpt in m.rcpt_tos:
            received[(mid, rcpt.lower())] += 1
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Notification.id,
                Notification.kind,
                Notification.status,
                Notification.recipient_email,
                Notification.message_id,
            ).where(Notification.status != "skipped", Notification.id > history)
        ).all()
    planned = [r for r in rows if r.kind != "delivery_failure"]
    notices = [r for r in rows if r.kind == "delivery_failure"]
    status = Counter(r.status for r in rows)
    once = twice = more = 0
    lost: list[int] = []
    for r in rows:
        if r.status in ("cancelled", "failed"):
            continue
        n = received.get((r.message_id or "", r.recipient_email.lower()), 0)
        if r.status != "sent" or n == 0:
            lost.append(r.id)
        elif n == 1:
            once += 1
        elif n == 2:
            twice += 1
        else:
            more += 1
    failed = [r for r in rows if r.status == "failed"]
    failed_other = [r.id for r in failed if r.recipient_email.lower() not in rejected]
    dup_messages = {mid for mid, n in messages_by_id.items() if n > 1}
    # Each extra copy of a message is explained by a connection dropped after its DATA
    # (the sender cannot know it arrived), or else by a kill with the message in flight.
    drops = Counter(server.dropped_ids)
    extra = {mid: messages_by_id[mid] - 1 for mid in dup_messages}
    after_drop = sum(min(n, drops[mid]) for mid, n in extra.items())
    after_kill = sum(max(0, n - drops[mid]) for mid, n in extra.items())
    done_locked = sum(LOCKED in e for e in done_errors)
    return {
        "notifications_planned": len(planned),
        "failure_notices_planned": len(notices),
        "status": dict(status),
        "delivered_once": once,
        "delivered_twice": twice,
        "delivered_more_than_twice": more,
        "duplicate_messages": len(dup_messages),
        "extra_copies": sum(extra.values()),
        "duplicates_after_dropped_connection": after_drop,
        "duplicates_after_kill": after_kill,
        "kills": daemons.kills,
        "kills_while_delivering": daemons.kills_delivering,
        "dropped_connections": len(server.dropped_ids),
        "answered_451": server.answered_451,
        "outages": server.outages,
        "lost": len(lost),
        "lost_ids": lost[:20],
        "permanently_failed": len(failed),
        "permanently_failed_rejected_recipients": len(failed) - len(failed_other),
        "permanently_failed_other": len(failed_other),
        "rejected_recipients": sorted(rejected),
        "messages_received": len(server.messages),
        "srz_done": dict(done_results),
        "srz_done_errors": done_errors[:5],
        "database_locked_errors": logs.count(LOCKED) + done_locked,
        "daemon_errors": [
            line for line in logs.splitlines() if " ERROR " in line or "Traceback" in line
        ][:10],
    }


def verdict(summary: dict[str, Any]) -> list[str]:
    """What went wrong; empty when the soak passed."""
    problems = []
    if summary["lost"]:
        problems.append(f"{summary['lost']} notification(s) lost")
    if summary["permanently_failed_other"]:
        problems.append(f"{summary['permanently_failed_other']} failed beyond the 550 set")
    if summary["database_locked_errors"]:
        problems.append(f"{summary['database_locked_errors']} 'database is locked' error(s)")
    if summary["duplicates_after_kill"] > summary["kills"]:
        problems.append(
            f"{summary['duplicates_after_kill']} extra cop(ies) of messages without a dropped "
            f"connection for {summary['kills']} kill(s)"
        )
    if not summary["drained"]:
        problems.append("the outbox did not drain")
    return problems


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"soak on {summary['backend']}: {summary['seconds']} s, {summary['tasks']} tasks, "
        f"{summary['waves']} waves ({summary['tasks_made_due']} tasks made due)",
        f"  faults: {summary['kills']} SIGKILL restarts ({summary['kills_while_delivering']} "
        f"in the middle of an SMTP transaction), {summary['outages']} outage(s), "
        f"{summary['answered_451']} x 451, {summary['dropped_connections']} dropped after "
        f"DATA, 550 for {len(summary['rejected_recipients'])} recipients",
        f"  srz done racing: {summary['srz_done']}",
        f"  notifications planned:     {summary['notifications_planned']} "
        f"(+ {summary['failure_notices_planned']} failure notices to the office)",
        f"  delivered once:            {summary['delivered_once']}",
        f"  delivered twice:           {summary['delivered_twice']} "
        f"(+ {summary['delivered_more_than_twice']} three times or more; "
        f"{summary['duplicate_messages']} messages, {summary['extra_copies']} extra copies, "
        f"each with its Message-ID: {summary['duplicates_after_dropped_connection']} after "
        f"a dropped connection, {summary['duplicates_after_kill']} after a kill)",
        f"  lost:                      {summary['lost']}",
        f"  permanently failed:        {summary['permanently_failed']} "
        f"({summary['permanently_failed_rejected_recipients']} to the 550 recipients, "
        f"{summary['permanently_failed_other']} other)",
        f"  cancelled (task done):     {summary['status'].get('cancelled', 0)}",
        f"  'database is locked':      {summary['database_locked_errors']}",
    ]
    problems = verdict(summary)
    lines.append("  verdict: " + ("OK" if not problems else "FAILED: " + "; ".join(problems)))
    return "\n".join(lines)


def _scratch(backend: str, pg: str | None, workdir: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'soak.db'}", None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    assert pg
    name = f"srz_soak_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(pg).set(database=name).render_as_string(hide_password=False), drop


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--pg", metavar="URL", help="also soak on PostgreSQL (scratch database)")
    p.add_argument("--seconds", type=float, default=90.0, help="length of the chaos phase")
    p.add_argument("--tasks", type=int, default=3000)
    p.add_argument("--waves", type=int, default=12)
    p.add_argument("--wave-tasks", type=int, default=80)
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    settings = Settings(
        seconds=args.seconds,
        tasks=args.tasks,
        waves=args.waves,
        wave_tasks=args.wave_tasks,
        kills=args.kills,
    )
    results = []
    for backend in ["sqlite"] + (["postgresql"] if args.pg else []):
        with tempfile.TemporaryDirectory(prefix="srz-soak-") as tmp:
            url, drop = _scratch(backend, args.pg, Path(tmp))
            try:
                summary = run_soak(url, settings, Path(tmp), log=_log)
            finally:
                if drop:
                    with contextlib.suppress(Exception):
                        drop()
        print(format_summary(summary), flush=True)
        results.append(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2))
    return 1 if any(verdict(s) for s in results) else 0


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
