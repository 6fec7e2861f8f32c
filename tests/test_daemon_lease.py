"""One active daemon among several, crashes, and the CLI writing beside the daemon: the
real ``srz run`` processes, a real SMTP server on loopback, each backend."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.daemon_helpers import (
    SlowSmtpServer,
    driver_results,
    lease,
    make_due,
    notifications,
    open_task_ids,
    prepare_database,
    srz_env,
    start_done_drivers,
    status_json,
    statuses,
    wait_until,
)

pytestmark = pytest.mark.slow

LEASE = 2.0


def test_kill_9_mid_delivery_then_restart_loses_nothing_repeats_one_message_at_most(
    db_url: str, tmp_path: Path, smtp: SlowSmtpServer, daemons
) -> None:
    prepare_database(db_url)
    make_due(db_url)
    smtp.data_delay = 0.3  # each message is stored, then answered 0.3 s later
    env = srz_env(tmp_path, smtp)
    args = ("--interval", "0.3", "--lease-seconds", str(LEASE))
    first = daemons(db_url, tmp_path, env, *args)
    wait_until(lambda: len(smtp.messages) >= 3, 15, "three messages")
    first.kill()  # SIGKILL: no clean-up of any kind
    killed_at = time.monotonic()
    before = statuses(db_url)
    assert before["sending"] >= 1 and before["sent"] >= 2  # it died mid-pass
    in_flight = len(smtp.messages) - before["sent"]
    assert in_flight in (0, 1)

    # A dead daemon is reported as such once its lease lapses.
    wait_until(
        lambda: lease(db_url)["expires_at"] < datetime.now(UTC), LEASE + 3, "the lease to lapse"
    )
    code, status = status_json(db_url, srz_env(tmp_path), tmp_path)
    assert code == 3, status
    assert status["daemon"]["state"] in ("expired", "stale") and not status["daemon"]["alive"]

    smtp.data_delay = 0
    second = daemons(db_url, tmp_path, env, *args)
    wait_until(lambda: statuses(db_url) == {"sent": 12}, LEASE + 10, "all 12 rows sent")
    # The restart had to wait for the dead holder's lease to lapse, and then took over.
    assert time.monotonic() - killed_at >= 0.5
    log = second.log()
    assert "taking over from" in log and "requeued" in log

    rows = notifications(db_url)
    received = Counter(smtp.message_ids())
    assert set(received) == {r["message_id"] for r in rows}  # nothing lost
    repeated = [mid for mid, n in received.items() if n > 1]
    assert len(repeated) == in_flight and all(received[m] == 2 for m in repeated)
    second.terminate()
    assert second.wait(10) == 0


def test_two_daemons_send_each_message_once_and_the_standby_takes_over(
    db_url: str, tmp_path: Path, smtp: SlowSmtpServer, daemons
) -> None:
    prepare_database(db_url)
    make_due(db_url)
    env = srz_env(tmp_path, smtp)
    args = ("--interval", "0.3", "--lease-seconds", str(LEASE))
    a = daemons(db_url, tmp_path, env, *args)
    b = daemons(db_url, tmp_path, env, *args)  # started together: they race for the lease
    wait_until(lambda: statuses(db_url) == {"sent": 12}, 15, "12 rows sent")
    wait_until(lambda: "standing by" in a.log() or "standing by" in b.log(), 10, "a standby daemon")
    holder_pid = lease(db_url)["pid"]
    active, standby = (a, b) if holder_pid == a.pid else (b, a)
    assert holder_pid == active.pid and "standing by" in standby.log()
    assert "acquired the lease" not in standby.log()
    assert "pass:" not in standby.log()  # a standby never plans nor sends

    active.kill()
    killed_at = time.monotonic()
    make_due(db_url, "city-summary-report")  # new work for whoever holds the lease
    wait_until(lambda: lease(db_url)["pid"] == standby.pid, LEASE + 5, "the standby takes over")
    takeover = time.monotonic() - killed_at
    wait_until(lambda: statuses(db_url) == {"sent": 24}, 15, "24 rows sent")
    # At most the lease time after the death (plus scheduling slack on a busy machine).
    assert takeover <= LEASE + 1.5, f"takeover took {takeover:.2f} s"
    print(f"takeover after kill -9: {takeover:.2f} s (lease {LEASE:g} s)")

    received = Counter(smtp.message_ids())
    assert len(received) == 24 and set(received.values()) == {1}
    assert set(received) == {r["message_id"] for r in notifications(db_url)}
    standby.terminate()
    assert standby.wait(10) == 0


def test_100_done_commands_racing_the_daemon_never_hit_a_lock(
    db_url: str, tmp_path: Path, smtp: SlowSmtpServer, daemons
) -> None:
    prepare_database(db_url)
    due = make_due(db_url) + make_due(db_url, "city-summary-report")
    smtp.data_delay = 0.05  # spread the deliveries over the race
    env = srz_env(tmp_path, smtp)
    # Heartbeat and pass every 0.1 s: the daemon writes all the time.
    daemon = daemons(db_url, tmp_path, env, "--interval", "0.1", "--lease-seconds", "3")
    daemon.wait_for_log("acquired the lease")
    others = [t for t in open_task_ids(db_url) if t not in due]
    # The tasks being emailed about right now first, then others: 100 in all.
    task_ids = (due + others)[:100]
    assert len(set(task_ids)) == 100
    drivers = start_done_drivers(db_url, env, tmp_path, task_ids, processes=4)
    results = driver_results(drivers, timeout=120)
    assert len(results) == 100
    slowest = max(r["seconds"] for r in results[1:])
    mean = sum(r["seconds"] for r in results) / len(results)
    print(f"srz done beside the daemon: mean {mean:.3f} s, slowest {slowest:.2f} s")
    failures = [r for r in results if r["code"] != 0]
    assert not failures, failures
    assert not any("locked" in r["stderr"].lower() for r in results)
    assert daemon.running()
    time.sleep(0.3)  # a few more passes after the race
    daemon.terminate()
    assert daemon.wait(10) == 0
    log = daemon.log()
    assert "locked" not in log.lower() and "pass failed" not in log, log

    # A task marked done is never emailed about afterwards: its rows are sent (before
    # the mark) or cancelled, none is left waiting.
    rows = notifications(db_url)
    assert {r["status"] for r in rows} <= {"sent", "cancelled"}
    received = Counter(smtp.message_ids())
    assert set(received.values()) <= {1}
    code, status = status_json(db_url, srz_env(tmp_path), tmp_path)
    assert code == 3 and status["daemon"]["state"] == "stopped"


def test_a_frozen_daemon_that_lost_its_lease_sends_nothing_more(
    db_url: str, tmp_path: Path, smtp: SlowSmtpServer, daemons
) -> None:
    """SIGSTOP the active daemon mid-delivery for longer than the lease: the standby takes
    over and sends; when the frozen one wakes up it finishes at most the message that was
    on the wire, starts no other one, and stands by."""
    prepare_database(db_url)
    make_due(db_url)
    smtp.data_delay = 0.3
    env = srz_env(tmp_path, smtp)
    args = ("--interval", "0.3", "--lease-seconds", str(LEASE))
    a = daemons(db_url, tmp_path, env, *args)
    a.wait_for_log("acquired the lease")
    b = daemons(db_url, tmp_path, env, *args)
    b.wait_for_log("standing by")
    wait_until(lambda: len(smtp.messages) >= 2, 15, "two messages")
    a.proc.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: lease(db_url)["pid"] == b.pid, LEASE + 5, "the standby takes over")
        smtp.data_delay = 0
        wait_until(lambda: statuses(db_url) == {"sent": 12}, 15, "all 12 rows sent by B")
    finally:
        a.proc.send_signal(signal.SIGCONT)
    a.wait_for_log("lost the lease")
    time.sleep(0.5)  # give A every chance to misbehave
    received = Counter(smtp.message_ids())
    assert set(received) == {r["message_id"] for r in notifications(db_url)}
    repeated = [mid for mid, n in received.items() if n > 1]
    assert len(repeated) <= 1 and all(received[m] == 2 for m in repeated)
    assert "pass aborted: the lease may have lapsed" in a.log()
    assert statuses(db_url) == {"sent": 12} and lease(db_url)["pid"] == b.pid
    for process in (a, b):
        process.terminate()
        assert process.wait(10) == 0
    assert "released the lease" in b.log()
