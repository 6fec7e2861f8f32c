"""``srz run`` end to end: the real daemon process, a real SMTP server on loopback, a
real database on each backend. Start, first pass, ``srz status``, stopping on SIGTERM
(also mid-pass and with a hanging SMTP server), an SMTP outage, the maildir default."""

from __future__ import annotations

import datetime as dt
import mailbox
import signal
import subprocess
import sys
import time
from collections import Counter
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest

from srz_tracker.timing.workdays import WorkdayCalendar
from tests.daemon_helpers import (
    MuteSmtpServer,
    SlowSmtpServer,
    expire_backoff,
    lease,
    local_today,
    make_due,
    notifications,
    prepare_database,
    srz_env,
    srz_run,
    status_json,
    statuses,
    wait_until,
)

pytestmark = pytest.mark.slow

FAST = ("--interval", "0.3", "--lease-seconds", "3")


def sent_ids(db_url: str) -> set[str]:
    return {r["message_id"] for r in notifications(db_url) if r["status"] == "sent"}


def test_first_pass_sends_status_alive_sigterm_stops_cleanly(
    db_url: str, tmp_path: Path, smtp: SlowSmtpServer, daemons
) -> None:
    prepare_database(db_url)
    make_due(db_url)
    env = srz_env(tmp_path, smtp)
    daemon = daemons(db_url, tmp_path, env, *FAST)

    # The first pass runs at start-up: twelve city contacts, one email each, once.
    wait_until(lambda: len(smtp.messages) >= 12, 15, "12 messages")
    wait_until(lambda: statuses(db_url) == {"sent": 12}, 5, "12 rows sent")
    received = Counter(smtp.message_ids())
    assert set(received) == sent_ids(db_url) and set(received.values()) == {1}

    code, status = status_json(db_url, env, tmp_path)
    assert code == 0, status
    assert status["daemon"]["alive"] and status["daemon"]["state"] == "active"
    assert status["daemon"]["pid"] == daemon.pid
    assert status["daemon"]["interval_seconds"] == 1
    assert status["outbox"]["counts"]["sent"] == 12
    assert status["config"]["transport"] == "smtp"
    assert "password" not in str(status["config"]).lower()
    counts = status["daemon"]["last_pass_counts"]
    assert counts["mode"] == "daemon" and "error" not in counts

    started = time.monotonic()
    daemon.terminate()
    assert daemon.wait(10) == 0
    assert time.monotonic() - started < 5
    log = daemon.log()
    for needle in ("srz run starting", "acquired the lease", "pass: 12 task(s) due", "SIGTERM"):
        assert needle in log, log
    assert "released the lease" in log and "srz run stopped" in log
    assert "Traceback" not in log
    row = lease(db_url)
    assert row and row["expires_at"] <= dt.datetime.now(dt.UTC)

    code, status = status_json(db_url, env, tmp_path)
    assert code == 3 and status["daemon"]["state"] == "stopped"
    assert len(smtp.messages) == 12  # nothing more after the stop


def test_sigterm_mid_pass_is_bounded_and_hands_rows_back(
    db_url: str, tmp_path: Path, smtp: SlowSmtpServer, daemons
) -> None:
    """With no grace left, the stop waits for the message in flight only; the rest of
    the claimed rows go back to pending (same Message-ID) and the next start sends them."""
    prepare_database(db_url)
    make_due(db_url)
    smtp.data_delay = 0.4
    env = srz_env(tmp_path, smtp)
    first = daemons(db_url, tmp_path, env, *FAST, "--stop-grace", "0")
    wait_until(lambda: len(smtp.messages) >= 2, 15, "two messages")
    at_signal = len(smtp.messages)
    stopping = time.monotonic()
    first.terminate()
    assert first.wait(10) == 0
    assert time.monotonic() - stopping < 4  # not the 10 x 0.4 s the whole pass needs
    assert "pass aborted" in first.log() and "requeued" in first.log()
    done = len(smtp.messages)
    assert at_signal <= done <= at_signal + 1  # at most the message in flight
    rows = notifications(db_url)
    assert Counter(r["status"] for r in rows) == {"sent": done, "pending": 12 - done}
    assert all(r["claimed_by"] is None for r in rows if r["status"] == "pending")

    smtp.data_delay = 0
    second = daemons(db_url, tmp_path, env, *FAST)
    wait_until(lambda: statuses(db_url) == {"sent": 12}, 15, "all 12 rows sent")
    second.terminate()
    assert second.wait(10) == 0
    received = Counter(smtp.message_ids())
    assert set(received) == sent_ids(db_url) and set(received.values()) == {1}


def test_sigterm_while_smtp_server_hangs_stops_within_the_socket_timeout(
    db_url: str, tmp_path: Path, daemons
) -> None:
    prepare_database(db_url)
    make_due(db_url)
    mute = MuteSmtpServer()
    try:
        config = tmp_path / "srz.toml"
        config.write_text("[smtp]\ntimeout_seconds = 1\n", encoding="utf-8")
        env = srz_env(tmp_path, mute, SRZ_CONFIG=str(config))
        daemon = daemons(db_url, tmp_path, env, *FAST)
        wait_until(lambda: statuses(db_url).get("sending"), 10, "a pass stuck in SMTP")
        stopping = time.monotonic()
        daemon.terminate()
        assert daemon.wait(10) == 0
        assert time.monotonic() - stopping < 3.5  # the 1 s socket timeout, then out
    finally:
        mute.close()
    log = daemon.log()
    assert "srz run stopped" in log
    # Nothing was sent, nothing lost: every row waits for the next attempt.
    assert statuses(db_url) == {"pending": 12}


def test_smtp_outage_keeps_running_and_delivers_when_back(
    db_url: str, tmp_path: Path, smtp: SlowSmtpServer, daemons
) -> None:
    prepare_database(db_url)
    make_due(db_url)
    smtp.stop()
    env = srz_env(tmp_path, smtp)
    daemon = daemons(db_url, tmp_path, env, *FAST)
    wait_until(lambda: "will retry" in daemon.log(), 10, "a failed delivery in the log")
    wait_until(lambda: daemon.log().count("pass:") >= 3, 10, "passes after the failure")
    assert daemon.running()
    assert "连接被拒绝" in daemon.log()  # the cause, not just "failed"
    assert statuses(db_url) == {"pending": 12}

    smtp.start()
    expire_backoff(db_url)  # the first retry comes minutes later; pretend they passed
    wait_until(lambda: statuses(db_url) == {"sent": 12}, 15, "all 12 rows sent")
    received = Counter(smtp.message_ids())
    assert set(received) == sent_ids(db_url) and set(received.values()) == {1}
    daemon.terminate()
    assert daemon.wait(10) == 0


def test_without_smtp_the_daemon_fills_the_maildir_and_once_mode_works(
    db_url: str, tmp_path: Path, daemons
) -> None:
    prepare_database(db_url)
    make_due(db_url)
    env = srz_env(tmp_path)  # no SMTP host: the maildir
    result = srz_run(db_url, env, tmp_path, "run", "--once", "--interval", "60")
    assert result.returncode == 0, result.stderr
    assert "srz run --once finished" in result.stderr
    box = mailbox.Maildir(tmp_path / "maildir", create=False)
    assert len(box) == 12
    code, status = status_json(db_url, env, tmp_path)
    assert code == 0 and status["daemon"]["state"] == "once"  # the cron run counts

    make_due(db_url, "city-summary-report")
    daemon = daemons(db_url, tmp_path, env, *FAST)
    wait_until(lambda: len(box) == 24, 15, "24 messages in the maildir")
    daemon.proc.send_signal(signal.SIGINT)  # Ctrl-C in a terminal
    assert daemon.wait(10) == 0
    assert "SIGINT received" in daemon.log() and "srz run stopped" in daemon.log()


def test_the_daemon_sends_the_weekly_summary_once_a_week(
    db_url: str, tmp_path: Path, daemons
) -> None:
    """With weekly summaries on (the default), the week's summary reaches each city contact
    once, however many passes run; the daemon plans it, nobody has to ask."""
    prepare_database(db_url)
    env = {**srz_env(tmp_path), "SRZ_WEEKLY_SUMMARY": "1"}
    box = mailbox.Maildir(tmp_path / "maildir", create=True)

    def weekly() -> list[Any]:
        return [m for m in box if "工作周报" in str(make_header(decode_header(m["Subject"])))]

    for _ in range(2):
        result = srz_run(db_url, env, tmp_path, "run", "--once", "--interval", "60")
        assert result.returncode == 0, result.stderr
    today = local_today()
    first_workday = WorkdayCalendar().first_workday_of_week(today)
    expected = 12 if today >= first_workday else 0
    assert len(weekly()) == expected
    addresses = sorted(m["To"] for m in weekly())
    assert len(set(addresses)) == expected


def test_deploy_files_are_valid() -> None:
    """The documented config example loads as it is (163.com SSL on 465, password from
    the environment), and the systemd unit starts ``srz run`` with that file."""
    import configparser

    from srz_tracker.config import PROJECT_ROOT, load_settings

    deploy = PROJECT_ROOT / "deploy"
    settings = load_settings(
        config_path=deploy / "srz.toml.example", environ={"SRZ_SMTP_PASSWORD": "授权码"}
    )
    assert settings.effective_transport == "smtp"
    assert (settings.smtp.host, settings.smtp.effective_port) == ("smtp.163.com", 465)
    assert settings.smtp.security == "ssl" and settings.smtp.password == "授权码"
    assert settings.mail_from == settings.smtp.user
    assert "授权码" not in str(settings.describe())

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(deploy / "srz-tracker.service", encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].endswith("/srz run")
    assert "SRZ_CONFIG=/etc/srz-tracker/srz.toml" in service["Environment"]
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "on-failure"
    # systemd must not SIGKILL before the daemon's own bounded stop (30 + 3 x 30 + 30 s).
    assert int(service["TimeoutStopSec"]) > 30 + 3 * settings.smtp.timeout_seconds + 30


STUCK_DAEMON = Path(__file__).resolve().parent / "scripts" / "stuck_daemon.py"


def test_a_pass_stuck_beyond_every_timeout_cannot_hold_the_stop_forever(
    db_url: str, tmp_path: Path
) -> None:
    """The last resort: the daemon exits 1 on its own, and keeps the lease (it lapses by
    itself) since the stuck pass might still send."""
    prepare_database(db_url)
    make_due(db_url)
    proc = subprocess.Popen(
        [sys.executable, str(STUCK_DAEMON), db_url],
        env=srz_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "sending\n"
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert time.monotonic() - stopping < 3  # 0 grace + 3 x 0.1 s + 0.5 s, then out
    assert "did not end within" in err and "released the lease" not in err
    row = lease(db_url)
    assert row and row["expires_at"] > dt.datetime.now(dt.UTC)  # still held: it lapses
