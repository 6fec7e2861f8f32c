"""The benchmark in its smallest form (``--sizes 1000``): it runs end to end and produces
the table and the JSON with every figure; no timing is asserted here. And the query
shape the benchmark relies on: a pass finds due tasks through the index on
``next_step_at`` and pages through them, on both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from srz_tracker.config import load_settings
from srz_tracker.store import db
from srz_tracker.store.models import Notification, Task

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("SRZ_TEST_PG_URL")

FIGURES = {
    "build (synthetic data)",
    "pass, nothing due (warm, median)",
    "pass, nothing due (first in process)",
    "pass, nothing due, with the weekly-summary check (daemon default)",
    "pass sending the weekly summaries (null transport)",
    "pass peak RSS, nothing due",
    "pass, 1 % of tasks due (null transport)",
    "pass peak RSS, 1 % due",
    "delivery to loopback SMTP",
    "srz done ID  |  task ID done",
    "srz tasks --status overdue --city C --format json  |  task overdue",
    "srz --help",
    'python -c "import sqlalchemy.orm, click"',
    "srz done ID minus that baseline",
}


@pytest.mark.slow
def test_bench_smallest_size_prints_the_table_and_writes_the_json(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    argv = [sys.executable, "-m", "bench", "--sizes", "1000", "--runs", "1", "--passes", "2"]
    argv += ["--smtp-tasks", "40", "--json", str(out_json), "--workdir", str(tmp_path / "w")]
    if PG_URL:
        argv += ["--pg", PG_URL]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRZ_")}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    backends = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
    table = done.stdout
    assert "backend" in table and "taskwarrior" in table and "ratio" in table
    for backend in backends:
        for figure in FIGURES:
            assert any(
                line.startswith(backend) and figure in line for line in table.splitlines()
            ), f"{backend}: no row {figure!r} in\n{table}"
    assert "query plans of the pass" in table

    doc = json.loads(out_json.read_text())
    assert doc["machine"]["nproc"] >= 1 and doc["machine"]["python"]
    rows = doc["rows"]
    for backend in backends:
        mine = [r for r in rows if r["backend"] == backend and r["size"] == 1000]
        assert {r["figure"] for r in mine} >= FIGURES
        for r in mine:
            assert set(r) >= {"figure", "ours", "unit", "taskwarrior", "ratio", "target", "met"}
    for result in doc["results"]:
        assert result["data"]["tasks"] == 1000
        # Nothing due means nothing done; the due pass and the SMTP run did their work.
        assert result["idle"]["first_counts"]["messages"] == 0
        assert result["due"]["counts"]["tasks"] == result["due"]["tasks_made_due"] == 10
        assert result["smtp"]["counts"]["messages"] == result["smtp"]["server"]["messages"] > 0
        assert result["smtp"]["connections"] == 1
        for what in ("idle", "due"):
            assert result[what]["plans"], what
            if result["backend"] == "sqlite":  # PostgreSQL may scan tables this small
                assert not [p for p in result[what]["plans"] if p["full_scans"]], what


def test_a_pass_pages_through_due_tasks_by_next_step_at(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.data import BENCH_NOW, build, make_due
    from bench.explain import capture, explain
    from srz_tracker.notify import planner as outbox
    from srz_tracker.notify.passes import run_pass

    build(db_url, 400)
    engine = db.make_engine(db_url)
    due = make_due(engine, count=23)
    with db.write_session(engine) as session:  # one closed task left with a step: skipped
        task = session.get(Task, due[0])
        assert task is not None
        task.status = "done"
    monkeypatch.setattr(outbox, "BATCH", 5)  # several pages
    settings = load_settings(db_url=db_url, environ={"SRZ_TRANSPORT": "null"})
    with capture(engine) as captured:
        result = run_pass(engine, settings, BENCH_NOW)
    assert result.planned.tasks == 22
    with engine.connect() as conn:
        left_due = conn.execute(
            select(func.count()).select_from(Task).where(Task.next_step_at <= BENCH_NOW)
        ).scalar_one()
        planned_tasks = conn.execute(
            select(func.count(func.distinct(Notification.task_id))).where(
                Notification.created_at == BENCH_NOW
            )
        ).scalar_one()
        closed = conn.execute(select(Task.next_step_at).where(Task.id == due[0])).scalar_one()
    assert left_due == 0  # every page was reached
    assert 0 < planned_tasks <= 22
    assert closed is None
    plans = explain(engine, captured)
    due_query = [p for p in plans if "tasks.next_step_at <=" in p.sql]
    assert len(due_query) == 2  # the first page, and the next ones after a key
    if db.is_sqlite(engine):
        # SQLite has no statistics: the plan is the same at 400 tasks as at a million.
        # (PostgreSQL rightly scans a table this small; the benchmark shows its plans.)
        assert all("ix_tasks_next_step" in " ".join(p.plan) for p in due_query)
        assert not [p for p in plans if p.full_scans]
    assert run_pass(engine, settings, BENCH_NOW).planned.tasks == 0
    engine.dispose()
