"""A PostgreSQL outage in the middle of a ``srz run`` pass: the real daemon process, a
real SMTP server, a PostgreSQL server of this test's own (the shared test server on
54329 serves other tests and must not be stopped).

When the database goes away mid-pass, the rows the pass had claimed stay ``sending``:
the pass cannot write them back. Without more, they would wait for their claim to
expire (``CLAIM_TTL``, ten minutes). The daemon remembers that it owes them and hands
them back on its first contact with the database after the outage; the test measures
how long after the database's return everything is delivered.

The fast tests below check the bookkeeping in process, on each backend.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from srz_tracker.config import load_settings
from srz_tracker.daemon import guard
from srz_tracker.daemon.guard import Claims, SendGuard, guarded_pass
from srz_tracker.kinds import NotificationKind, NotificationStatus
from srz_tracker.mail.transports import NullTransport
from srz_tracker.notify.delivery import CLAIM_TTL
from srz_tracker.notify.passes import make_calendar
from srz_tracker.notify.rows import new_notification
from srz_tracker.store import db, migrate
from srz_tracker.store.models import Notification
from tests.daemon_helpers import (
    SlowSmtpServer,
    make_due,
    notifications,
    prepare_database,
    srz_env,
    wait_until,
)

INTERVAL = 2.0
OUTAGE_SECONDS = 5.0
# Every obligation due today: many messages, so that the outage falls mid-pass.
OBLIGATIONS = (
    "city-hands-on-training",
    "city-summary-report",
    "city-expert-team",
    "skills-drill",
    "special-funds",
    "key-staff-training",
    "onsite-guidance",
)


# -- a PostgreSQL server of our own ------------------------------------------------------


def _pg_bin() -> Path | None:
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        return Path(found).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port(first: int) -> int:
    for port in range(first, first + 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port from {first}")


class PrivatePostgres:
    """``initdb`` into a temporary directory and ``pg_ctl`` on a port of its own, as the
    ``postgres`` user when we are root (PostgreSQL refuses to run as root), the way
    ``scripts/pg-test-server`` does for the shared server."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="srz-pg-recovery-"))
        self.data = self.dir / "data"
        self.port = _free_port(54339 + random.randrange(400))
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        self._pg("initdb", "-D", str(self.data), "-U", "srz", "--auth=trust", "-E", "UTF8",
                 "--locale=C")  # fmt: skip
        self.url = f"postgresql+psycopg://srz@127.0.0.1:{self.port}/postgres"

    def _pg(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.dir / "server.log")
        self._pg("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "-o", options,
                 "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        if os.environ.get("SRZ_REQUIRE_PG") == "1":
            pytest.fail("SRZ_REQUIRE_PG=1 but no PostgreSQL binaries (initdb) are installed")
        pytest.skip("no PostgreSQL binaries (initdb) for a private server")
    server = PrivatePostgres(bin_dir)
    try:
        server.start()
        yield server
    finally:
        db.dispose_all()
        server.close()


# -- the outage --------------------------------------------------------------------------


def _everything_delivered(url: str, smtp: SlowSmtpServer) -> bool:
    try:
        rows = notifications(url)
    except Exception:  # the pool's first try after the restart
        return False
    received = set(smtp.message_ids())
    return bool(rows) and all(r["status"] == "sent" and r["message_id"] in received for r in rows)


@pytest.mark.slow
def test_claims_left_by_an_outage_go_out_within_one_interval_of_the_databases_return(
    private_pg: PrivatePostgres, tmp_path: Path, daemons
) -> None:
    url = private_pg.url
    migrate.upgrade(db.get_engine(url))
    prepare_database(url)
    for obligation in OBLIGATIONS:
        make_due(url, obligation)
    db.dispose_all()

    # Slow answers to the data: the pass is still sending when the database goes.
    smtp = SlowSmtpServer(data_delay=0.2)
    smtp.start()
    try:
        env = srz_env(tmp_path, smtp)
        daemon = daemons(url, tmp_path, env, "--interval", str(INTERVAL))
        wait_until(lambda: len(smtp.messages) >= 5, 60, "the first messages of the pass")
        private_pg.stop("fast")
        before_outage = Counter(smtp.message_ids())
        smtp.data_delay = 0.0  # from now on only the database holds delivery up
        # The outage itself is the subject: it lasts a few real seconds.
        time.sleep(OUTAGE_SECONDS)
        assert daemon.running()
        private_pg.start()
        back, received_before = time.monotonic(), len(smtp.messages)
        resumed: list[float] = []

        def delivered() -> bool:
            if not resumed and len(smtp.messages) > received_before:
                resumed.append(time.monotonic() - back)
            return _everything_delivered(url, smtp)

        # Without the give-back the rows would wait CLAIM_TTL (ten minutes).
        wait_until(delivered, 60, "every row sent after the outage")
        delay = time.monotonic() - back
        print(
            f"\nafter the database's return: sending resumed in {resumed[0]:.2f} s, "
            f"everything delivered in {delay:.2f} s (interval {INTERVAL:g} s)"
        )

        rows = notifications(url)
        received = Counter(smtp.message_ids())
        assert {r["status"] for r in rows} == {"sent"}  # 0 lost
        assert set(received) == {r["message_id"] for r in rows}
        repeated = {mid: n for mid, n in received.items() if n > 1}
        # At most the message that was on the wire when the database went away.
        assert len(repeated) <= 1 and set(repeated.values()) <= {2}, repeated
        assert set(repeated) <= set(before_outage)
        print(f"{len(rows)} row(s), {len(received)} message(s), repeated: {len(repeated)}")
        log = daemon.log()
        assert "pass failed" in log
        assert "requeued" in log and "after the database came back" in log
        # What the daemon controls: noticing the return (a probe every 0.5 s) and starting
        # the pass. Then the backlog's sending time; the target for both is one interval,
        # with a second of slack for a loaded two-core test machine.
        assert resumed[0] <= INTERVAL / 2, f"resumed {resumed[0]:.2f} s after the return"
        assert delay <= INTERVAL + 1.0, f"delivered {delay:.2f} s after the return"

        daemon.terminate()
        assert daemon.wait(15) == 0
    finally:
        smtp.stop()


# -- the bookkeeping, in process ----------------------------------------------------------

HOLDER = "host:1:abc"
NOW = dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)


def _claimed_rows(url: str, holder: str, count: int) -> None:
    with db.write_session(db.get_engine(url)) as session:
        for i in range(count):
            row = new_notification(
                dedupe_key=f"test:{holder}:{i}",
                kind=NotificationKind.REMINDER,
                step="D0",
                recipient_email=f"r{i}@example.org",
                recipient_name=None,
                role="institution",
                scheduled_at=NOW,
                now=NOW,
            )
            row.status = NotificationStatus.SENDING
            row.claimed_by = f"{holder}:token{i}"
            row.claimed_until = NOW + CLAIM_TTL
            row.message_id = f"<srz.test.{i}@example.org>"
            session.add(row)


def _statuses(url: str) -> Counter[str]:
    with db.read_session(db.get_engine(url)) as session:
        return Counter(session.scalars(select(Notification.status)))


def _database_away(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """``release_claims`` fails as with the database away, ``times`` times."""
    real, calls = guard.release_claims, []

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("UPDATE notifications", {}, Exception("connection refused"))
        return real(*args, **kwargs)

    monkeypatch.setattr(guard, "release_claims", flaky)
    return calls


def test_claims_that_could_not_be_given_back_are_owed_until_the_database_answers(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _claimed_rows(db_url, HOLDER, 3)
    _claimed_rows(db_url, "other:2:def", 1)  # another holder's claim is not ours to give
    claims = Claims(db.get_engine(db_url), HOLDER)
    assert claims.settle() and not claims.owed  # nothing owed: no database call
    calls = _database_away(monkeypatch, times=2)

    assert claims.give_back() is False and claims.owed
    assert claims.settle() is False and claims.owed  # still away
    assert _statuses(db_url) == {"sending": 4}
    assert claims.settle() is True and not claims.owed  # it answers: given back at once
    assert _statuses(db_url) == {"pending": 3, "sending": 1}
    with db.read_session(db.get_engine(db_url)) as session:
        ids = session.scalars(
            select(Notification.message_id).where(Notification.status == "pending")
        )
        assert sorted(ids) == [f"<srz.test.{i}@example.org>" for i in range(3)]  # same ids
    assert claims.settle() and len(calls) == 3  # settled: no more calls


def test_no_pass_runs_while_an_earlier_passs_claims_are_owed(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _claimed_rows(db_url, HOLDER, 2)
    settings = load_settings(db_url=db_url, environ={"SRZ_MAILDIR": str(tmp_path / "m")})
    claims = Claims(db.get_engine(db_url), HOLDER)
    _database_away(monkeypatch, times=2)
    assert not claims.give_back()
    sent: list[object] = []

    class Counting(NullTransport):
        def send(self, email):  # type: ignore[no-untyped-def]
            sent.append(email)
            return super().send(email)

    def one_pass() -> bool:
        return guarded_pass(
            db.get_engine(db_url),
            settings,
            claims,
            SendGuard(lambda: True),
            Counting,
            make_calendar(settings),
            "daemon",
        )

    assert one_pass() is False and claims.owed and _statuses(db_url) == {"sending": 2}
    # The database answers: the pass gives the rows back first, then claims and sends
    # them, one message per recipient.
    assert one_pass() is True and not claims.owed
    assert _statuses(db_url) == {"sent": 2} and len(sent) == 2
