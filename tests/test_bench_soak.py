"""The fault-injection soak (bench/soak.py) in a short form, on SQLite and PostgreSQL:
the real ``srz run`` against a misbehaving SMTP server, ``srz done`` racing it, SIGKILL
restarts. Nothing may be lost, only the 550 recipients may fail, no "database is
locked", and a message may arrive twice only with its one Message-ID, after a dropped
connection or a kill."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import Settings, format_summary, run_soak, verdict


@pytest.mark.slow
def test_soak_loses_nothing_under_faults(db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        seconds=14.0,
        tasks=600,
        waves=4,
        wave_tasks=30,
        kills=2,
        outage_seconds=2.0,
        p_451=0.15,
        p_drop=0.05,
        drain_seconds=90.0,
    )
    summary = run_soak(db_url, settings, tmp_path, log=lambda _m: None)
    report = format_summary(summary)
    assert not verdict(summary), report
    assert summary["lost"] == 0, report
    assert summary["database_locked_errors"] == 0, report
    assert summary["permanently_failed_other"] == 0, report
    assert summary["delivered_once"] > 0, report
    assert summary["kills"] == 2 and summary["outages"] == 1, report
    assert summary["srz_done"].get("ok", 0) > 0 and not summary["srz_done"].get("failed"), report
    # Every duplicate keeps its Message-ID: a second copy of a message, never a new one.
    assert summary["duplicates_after_kill"] <= summary["kills"], report
    assert summary["extra_copies"] == (
        summary["duplicates_after_dropped_connection"] + summary["duplicates_after_kill"]
    ), report
    assert summary["daemon_exit_code_at_sigterm"] == 0, report
