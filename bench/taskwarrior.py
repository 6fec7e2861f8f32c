"""Taskwarrior beside us: the same tasks imported with ``task import`` into a scratch
TASKDATA, then ``task ID done`` and ``task overdue`` timed as whole processes.

Taskwarrior reads the real clock and has no ``--now``, so every date is shifted by the
distance between today and the benchmark instant: the same tasks are overdue for both.
A due date is the end of that day in the plan's timezone, as for us ("due by the end of
that day").
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.data import BENCH_NOW, TZ
from srz_tracker.store import db
from srz_tracker.store.models import City, Institution, Obligation, Task

NAMESPACE = uuid.UUID("6d1f6a52-7c1e-4d55-9a0e-5b9d5d2c0b61")
RC = """data.location={data}
confirmation=off
hooks=off
gc={gc}
recurrence=off
detection=off
color=off
verbose=nothing
news.version=99.99.99
"""


def version() -> str | None:
    """``task --version``, or None when Taskwarrior is not installed."""
    exe = shutil.which("task")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _day_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=TZ)


class Taskwarrior:
    def __init__(self, workdir: Path, gc: bool = False) -> None:
        self.dir = workdir
        self.data = workdir / "taskdata"
        self.data.mkdir(parents=True, exist_ok=True)
        self.rc = workdir / "taskrc"
        self.rc.write_text(RC.format(data=self.data, gc="on" if gc else "off"))
        self.env = {**os.environ, "TASKRC": str(self.rc), "TASKDATA": str(self.data)}
        self.shift = dt.date.today() - BENCH_NOW.astimezone(TZ).date()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["task", *args], env=self.env, capture_output=True, text=True, cwd=self.dir
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"task {' '.join(args)} exited {out.returncode}: {out.stderr}")
        return out

    def export(self, url: str, directory: Path, per_file: int = 100_000) -> list[Path]:
        """Our tasks as Taskwarrior JSON arrays of ``per_file`` tasks each (one array of a
        million makes ``task import`` fail to parse), streamed from the database."""
        engine = db.make_engine(url)
        files: list[Path] = []
        fh = None
        n = 0
        try:
            with engine.connect() as conn:
                titles = dict(conn.execute(select(Obligation.id, Obligation.title)).all())
                cities = dict(conn.execute(select(City.id, City.name)).all())
                insts = dict(conn.execute(select(Institution.id, Institution.name)).all())
                rows = conn.execution_options(yield_per=10_000).execute(
                    select(
                        Task.id,
                        Task.obligation_id,
                        Task.city_id,
                        Task.institution_id,
                        Task.period,
                        Task.due_on,
                        Task.status,
                        Task.completed_on,
                        Task.created_at,
                    ).order_by(Task.id)
                )
                for tid, ob, city, inst, period, due, status, completed, created in rows:
                    if n % per_file == 0:
                        if fh is not None:
                            fh.write("]\n")
                            fh.close()
                        files.append(directory / f"tasks-{len(files):03d}.json")
                        fh = files[-1].open("w", encoding="utf-8")
                        fh.write("[\n")
                        first = True
                    subject = insts.get(inst) or cities.get(city) or "自治区"
                    item: dict[str, Any] = {
                        "uuid": str(uuid.uuid5(NAMESPACE, f"task-{tid}")),
                        "description": f"{titles[ob]}（{subject} {period}）",
                        "project": cities.get(city, "自治区"),
                        "entry": _stamp(created - self.shift),
                        "due": _stamp(_day_end(due + self.shift)),
                        "status": {"open": "pending", "done": "completed"}.get(status, "deleted"),
                    }
                    if status != "open":
                        item["end"] = _stamp(_day_end((completed or due) + self.shift))
                    assert fh is not None
                    fh.write(("" if first else ",") + json.dumps(item, ensure_ascii=False) + "\n")
                    first = False
                    n += 1
        finally:
            if fh is not None:
                fh.write("]\n")
                fh.close()
            engine.dispose()
        self.exported = n
        return files

    def clone(self, workdir: Path, gc: bool) -> Taskwarrior:
        """The same task data in another directory, with another rc.gc."""
        workdir.mkdir(parents=True)
        shutil.copytree(self.data, workdir / "taskdata")
        return Taskwarrior(workdir, gc=gc)

    def import_files(self, paths: list[Path]) -> float:
        started = time.perf_counter()
        for path in paths:
            self.run("import", str(path))
        return time.perf_counter() - started

    def pending_ids(self, count: int) -> list[int]:
        """IDs of pending tasks that are not overdue (the kind `srz done` closes)."""
        out = self.run("status:pending", "due.after:now", "_ids")
        ids = [int(x) for x in out.stdout.split()]
        return ids[:count]

    def overdue_count(self, project: str | None = None) -> int:
        args = [f"project:{project}"] if project else []
        return int(self.run(*args, "+OVERDUE", "count").stdout.strip() or 0)

    def command(self, *args: str) -> list[str]:
        return ["task", *args]
