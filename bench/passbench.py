"""One process per measurement of passes, so that its peak RSS is the pass's own:
``python -m bench.passbench MODE URL [...]`` prints one JSON object on stdout.

- ``idle URL N``: a cold pass, then N passes with nothing due (the daemon's usual case);
  ``idle-weekly URL N`` the same with the weekly-summary check the daemon adds;
- ``weekly URL``: the pass that plans and sends this week's summaries (null transport);
- ``due URL``: one pass after ``bench.data.make_due`` (plan + deliver to the null
  transport);
- ``smtp URL HOST PORT``: plan, then time the delivery alone to an SMTP server.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    """Peak RSS of this process image. Not ru_maxrss: Linux carries the parent's peak
    over fork and exec into it, so a child of a big process would report the parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(url: str, **env: str) -> Any:
    from srz_tracker.config import load_settings

    # The null transport (or SMTP): no maildir is ever opened.
    return load_settings(db_url=url, environ={"SRZ_TRANSPORT": "null", **env})


def _first_pass(url: str, settings: Any, weekly: bool) -> tuple[Any, float, Any, float, Any]:
    """Connect, note the RSS before any work, run one pass with its statements captured:
    (engine, rss before, result, seconds, captured statements)."""
    from bench.data import BENCH_NOW
    from bench.explain import capture
    from srz_tracker.notify.passes import run_pass
    from srz_tracker.store import db

    engine = db.make_engine(url)
    with engine.connect():
        pass
    rss_ready = _rss_mb()
    started = time.perf_counter()
    with capture(engine) as captured:
        result = run_pass(engine, settings, BENCH_NOW, weekly=weekly)
    return engine, rss_ready, result, time.perf_counter() - started, captured


def idle(url: str, passes: int, weekly: bool = False) -> dict[str, Any]:
    from bench.data import BENCH_NOW
    from bench.explain import explain
    from srz_tracker.notify.passes import run_pass

    settings = _settings(url)
    engine, rss_ready, first, cold, captured = _first_pass(url, settings, weekly)
    times = []
    for _ in range(passes):
        started = time.perf_counter()
        result = run_pass(engine, settings, BENCH_NOW, weekly=weekly)
        times.append(time.perf_counter() - started)
        if result.planned.tasks or result.delivered.messages:
            raise SystemExit(f"a pass at the bench instant found work: {result.as_dict()}")
    plans = [p.as_dict() for p in explain(engine, captured)]
    engine.dispose()
    return {
        "plans": plans,
        "cold_seconds": cold,
        "median_seconds": statistics.median(times),
        "min_seconds": min(times),
        "max_seconds": max(times),
        "passes": passes,
        "statements": len(captured.statements),
        "first_counts": first.as_dict(),
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": _rss_mb(),
    }


def due(url: str, weekly: bool = False) -> dict[str, Any]:
    from bench.explain import explain

    settings = _settings(url)
    engine, rss_ready, result, seconds, captured = _first_pass(url, settings, weekly)
    peak = _rss_mb()
    plans = [p.as_dict() for p in explain(engine, captured)]
    engine.dispose()
    return {
        "plans": plans,
        "seconds": seconds,
        "counts": result.as_dict(),
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": peak,
    }


def smtp(url: str, host: str, port: int) -> dict[str, Any]:
    """Plan what is due, then deliver it to the server: the delivery alone is timed."""
    from bench.data import BENCH_NOW
    from srz_tracker.mail.render import Renderer
    from srz_tracker.mail.transports import make_transport
    from srz_tracker.notify.delivery import deliver
    from srz_tracker.notify.passes import make_calendar, new_holder_id
    from srz_tracker.notify.planner import plan_notifications
    from srz_tracker.store import db

    settings = _settings(
        url,
        SRZ_TRANSPORT="smtp",
        SRZ_SMTP_HOST=host,
        SRZ_SMTP_PORT=str(port),
        SRZ_SMTP_SECURITY="none",
        SRZ_MAIL_FROM="srz-bench@bench.example.org",
    )
    engine = db.make_engine(url)
    with db.write_session(engine) as session:
        planned = plan_notifications(session, BENCH_NOW, make_calendar(settings))
    transports: list[Any] = []

    def factory() -> Any:
        transport = make_transport(settings)
        transports.append(transport)
        return transport

    started = time.perf_counter()
    counts = deliver(
        engine,
        BENCH_NOW,
        factory,
        Renderer(settings.templates_dir),
        new_holder_id(),
        settings.mail_from,
    )
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "planned_rows": planned.planned,
        "counts": counts.as_dict(),
        "messages_per_second": counts.messages / seconds if seconds else 0.0,
        "connections": sum(getattr(t, "connections_opened", 0) for t in transports),
    }


def main(argv: list[str]) -> None:
    mode, url, *rest = argv
    if mode == "idle":
        out = idle(url, int(rest[0]) if rest else 10)
    elif mode == "idle-weekly":
        out = idle(url, int(rest[0]) if rest else 10, weekly=True)
    elif mode == "due":
        out = due(url)
    elif mode == "weekly":
        out = due(url, weekly=True)
    elif mode == "smtp":
        out = smtp(url, rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
