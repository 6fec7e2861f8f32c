"""``python -m bench --sizes 10000,100000,1000000 [--pg URL] [--json out.json]``

For each backend (SQLite; PostgreSQL with ``--pg``, in a scratch database) and size:
builds the synthetic data (bench.data), then measures
- a pass with nothing due (cold, then the median of warm passes) and with 1 % of the
  tasks due, each in a process of its own for its peak RSS;
- the CLI as whole processes beside a bare ``python -c "import sqlalchemy.orm, click"``;
- delivery to a loopback aiosmtpd server (messages/s, one connection per pass);
- Taskwarrior's ``task ID done`` and ``task overdue`` on the same tasks, if installed;
and prints a table (size, figure, ours, Taskwarrior, ratio, target) and the query plans
of the pass (``--explain`` prints them whole). ``--json FILE`` writes the same.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import clibench, report
from bench.data import BENCH_NOW, TZ, build, make_due, redact
from bench.explain import GROWING

ROOT = Path(__file__).resolve().parent.parent
NOW_ARG = BENCH_NOW.astimezone(TZ).strftime("%Y-%m-%dT%H:%M")
JSON_NOW = ("--format", "json", "--now", NOW_ARG)
EVIDENCE = "桂农质函〔2023〕5号"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _python(*args: str, **kw: Any) -> Any:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("SRZ_")}
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=kw.get("cwd")
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- databases --------------------------------------------------------------------------


class Scratch:
    """A fresh database per (backend, size): a file, or a database on the given server."""

    def __init__(self, backend: str, size: int, workdir: Path, pg: str | None) -> None:
        self.backend, self.size, self.pg = backend, size, pg
        if backend == "sqlite":
            self.path = workdir / f"bench-{size}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.url = f"sqlite:///{self.path}"
        else:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            assert pg
            self.name = f"srz_bench_{size}_{uuid.uuid4().hex[:8]}"
            self.admin = create_engine(pg, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = make_url(pg).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def server_version(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


# -- one size on one backend --------------------------------------------------------------


def measure(
    backend: str, size: int, args: argparse.Namespace, workdir: Path, tw_version: str | None
) -> dict[str, Any]:
    from srz_tracker.store import db

    scratch = Scratch(backend, size, workdir, args.pg)
    out: dict[str, Any] = {"backend": backend, "size": size}
    try:
        log(f"{backend} {size:,}: building")
        built = build(scratch.url, size)
        out["data"] = built.as_dict()
        log(
            f"{backend} {size:,}: built in {built.seconds} s ({built.institutions} institutions,"
            f" {built.cities} cities, years {built.years[0]}-{built.years[-1]}, "
            f"{built.open_tasks} open, {built.overdue_tasks} overdue)"
        )
        out["idle"] = _python("-m", "bench.passbench", "idle", scratch.url, str(args.passes))
        # The daemon also plans each city's weekly summary (on by default): the pass that
        # sends them, then passes with nothing due that still check for them.
        out["weekly"] = _python("-m", "bench.passbench", "weekly", scratch.url)
        out["idle_weekly"] = _python(
            "-m", "bench.passbench", "idle-weekly", scratch.url, str(args.passes)
        )
        engine = db.make_engine(scratch.url)
        due_ids = make_due(engine, fraction=0.01)
        out["due"] = _python("-m", "bench.passbench", "due", scratch.url)
        out["due"]["tasks_made_due"] = len(due_ids)
        smtp_ids = make_due(
            engine, count=args.smtp_tasks, seed=8, exclude=frozenset(due_ids) | set(built.done_ids)
        )
        engine.dispose()
        out["smtp"] = smtp_throughput(scratch.url)
        out["smtp"]["tasks_made_due"] = len(smtp_ids)
        log(f"{backend} {size:,}: passes and delivery measured; timing commands")
        out["cli"], out["taskwarrior"] = commands(scratch.url, built, args, workdir, tw_version)
    finally:
        if args.keep:
            log(f"kept {redact(scratch.url)}")
        else:
            scratch.drop()
    return out


def smtp_throughput(url: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.smtpsink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        result = _python("-m", "bench.passbench", "smtp", url, "127.0.0.1", str(port))
    finally:
        received, _ = sink.communicate("", timeout=60)
    result["server"] = json.loads(received.strip().splitlines()[-1])
    return result


def commands(
    url: str, built: Any, args: argparse.Namespace, workdir: Path, tw_version: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    srz = clibench.srz_executable()
    env = clibench.srz_env(url)
    cwd = workdir  # no srz.toml there
    ids = built.done_ids
    if len(ids) < args.runs + 1:
        raise RuntimeError(f"only {len(ids)} open tasks to mark done")
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("SRZ_")}
    cmds: dict[str, Any] = {
        "baseline": (clibench.BASELINE, plain_env, cwd),
        "help": ([srz, "--help"], env, cwd),
        "done": (
            lambda r: [srz, "done", str(ids[r]), "--now", NOW_ARG, "--evidence", EVIDENCE],
            env,
            cwd,
        ),
        "overdue_city": (
            [srz, "tasks", "--status", "overdue", "--city", built.city_name, *JSON_NOW],
            env,
            cwd,
        ),
        "overdue_all": (
            [srz, "tasks", "--status", "overdue", *JSON_NOW],
            env,
            cwd,
        ),
    }
    tw: dict[str, Any] = {"version": tw_version}
    if tw_version and not args.no_taskwarrior and size_ok(built.size, args.taskwarrior_max):
        try:
            cmds.update(_taskwarrior(url, built, args, workdir, tw))
        except Exception as exc:  # Taskwarrior's trouble must not cost the other figures
            log(f"taskwarrior failed: {exc}")
            tw["skipped"] = f"failed: {str(exc)[:300]}"
    elif tw_version:
        tw["skipped"] = "--no-taskwarrior" if args.no_taskwarrior else "size over --taskwarrior-max"
    timed = clibench.time_rounds(cmds, args.runs, warmup=1)
    cli = {name: t.as_dict() for name, t in timed.items() if not name.startswith("tw_")}
    cli["overdue_city"]["items"] = clibench.json_count(timed["overdue_city"].outputs[0])
    cli["overdue_all"]["items"] = clibench.json_count(timed["overdue_all"].outputs[0])
    for name in ("done", "overdue_city", "overdue_all"):
        cli[name]["minus_baseline_paired"] = clibench.paired(
            timed[name], timed["baseline"], lambda x, y: x - y
        )
    for name, t in timed.items():
        if name.startswith("tw_"):
            tw[name[3:]] = t.as_dict()
    pairs = {
        "done": ("done", "tw_done"),
        "overdue_city_vs_overdue": ("overdue_city", "tw_overdue"),
        "overdue_city_vs_overdue_city": ("overdue_city", "tw_overdue_city"),
        "overdue_all_vs_overdue": ("overdue_all", "tw_overdue"),
        "gc_done": ("done", "tw_gc_done"),
        "gc_overdue": ("overdue_city", "tw_gc_overdue"),
    }
    tw["paired_ratios"] = {
        key: clibench.paired(timed[ours], timed[theirs], lambda x, y: x / y)
        for key, (ours, theirs) in pairs.items()
        if theirs in timed
    }
    return cli, tw


# Taskwarrior's copy of the tasks of a size: the data is the same on every backend, so
# it is imported once per size (importing a million tasks takes minutes).
_TW_DATA: dict[int, tuple[Any, Any, dict[str, Any]]] = {}


def _taskwarrior(
    url: str, built: Any, args: argparse.Namespace, workdir: Path, tw: dict[str, Any]
) -> dict[str, Any]:
    from bench.taskwarrior import Taskwarrior

    if built.size not in _TW_DATA:
        twdir = Path(tempfile.mkdtemp(prefix="tw-", dir=workdir))
        taskwarrior = Taskwarrior(twdir)
        files = taskwarrior.export(url, twdir)
        facts: dict[str, Any] = {"exported": taskwarrior.exported}
        log(f"taskwarrior: importing {taskwarrior.exported:,} tasks")
        facts["import_seconds"] = taskwarrior.import_files(files)
        for f in files:
            f.unlink()
        facts["overdue_count"] = taskwarrior.overdue_count()
        facts["overdue_count_city"] = taskwarrior.overdue_count(built.city_name)
        # The same data once more, for Taskwarrior's default rc.gc=on (IDs renumber after
        # every change there, so `task 1 done` closes another task each time).
        gc_on = taskwarrior.clone(twdir / "gc-on", gc=True)
        _TW_DATA[built.size] = (taskwarrior, gc_on, facts)
    taskwarrior, gc_on, facts = _TW_DATA[built.size]
    tw.update(facts)
    tw_ids = taskwarrior.pending_ids(args.runs + 1)  # still pending: not done by a run
    env, cwd = taskwarrior.env, taskwarrior.dir
    return {
        "tw_done": (lambda r: ["task", str(tw_ids[r]), "done"], env, cwd),
        "tw_overdue": (["task", "overdue"], env, cwd),
        "tw_overdue_city": (["task", f"project:{built.city_name}", "overdue"], env, cwd),
        "tw_gc_done": (["task", "1", "done"], gc_on.env, gc_on.dir),
        "tw_gc_overdue": (["task", "overdue"], gc_on.env, gc_on.dir),
    }


def size_ok(size: int, limit: int | None) -> bool:
    return limit is None or size <= limit


# -- the machine ----------------------------------------------------------------------------


def machine(pg: str | None, tw_version: str | None) -> dict[str, Any]:
    import sqlite3

    import sqlalchemy

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "postgresql": server_version(pg) if pg else None,
        "taskwarrior": tw_version or "not installed",
        "load_average_start": os.getloadavg(),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000", help="comma-separated task counts")
    p.add_argument("--pg", metavar="URL", help="PostgreSQL server: a scratch database is made")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--runs", type=int, default=7, help="timed runs per command (median)")
    p.add_argument("--passes", type=int, default=10, help="warm passes with nothing due")
    p.add_argument("--smtp-tasks", type=int, default=1000, help="tasks made due for SMTP")
    p.add_argument("--no-taskwarrior", action="store_true")
    p.add_argument("--taskwarrior-max", type=int, default=None, metavar="N")
    p.add_argument("--explain", action="store_true", help="print the pass's query plans")
    p.add_argument("--keep", action="store_true", help="keep the databases")
    p.add_argument("--workdir", metavar="DIR", help="where SQLite files go (default: temp)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    from bench.taskwarrior import version

    tw_version = version()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="srz-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = machine(args.pg, tw_version)
    backends = ["sqlite"] + (["postgresql"] if args.pg else [])
    results = []
    for backend in backends:
        for size in sizes:
            results.append(measure(backend, size, args, workdir, tw_version))
            if args.json:  # what is measured so far survives a later failure
                partial = {"machine": info, "results": results, "complete": False}
                Path(args.json).write_text(json.dumps(partial, ensure_ascii=False, default=str))
    info["load_average_end"] = os.getloadavg()
    for taskwarrior, _gc_on, _facts in _TW_DATA.values():
        shutil.rmtree(taskwarrior.dir, ignore_errors=True)
    rows = report.rows(results)
    doc = {
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "now": BENCH_NOW.isoformat(),
        "machine": info,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
        "results": results,
    }
    print(report.machine_text(info))
    print()
    print(report.table(rows))
    print()
    print(report.plans_text(results, full=args.explain, growing=GROWING))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        print(f"\nJSON: {args.json}")
    if not args.workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
