"""From measurements to the table (and its JSON rows), with the issue's targets."""

from __future__ import annotations

from typing import Any

from bench.explain import Plan, format_plans

PASS_IDLE_MS = 50.0
PASS_GROWTH = 2.0
PASS_RSS_MB = 150.0
DONE_RATIO = 0.6
OVERDUE_RATIO = 0.2
DONE_OVER_BASELINE = 0.15
HELP_SECONDS = 0.25
DELIVERY_PER_SECOND = 100.0


def _row(
    r: dict[str, Any],
    figure: str,
    ours: float | None,
    unit: str,
    tw: float | str | None = None,
    target: str = "",
    met: bool | None = None,
    note: str = "",
    paired_ratio: float | None = None,
) -> dict[str, Any]:
    ratio = ours / tw if isinstance(tw, float) and tw and ours is not None else None
    if paired_ratio is not None:
        ratio = paired_ratio
    return {
        "backend": r["backend"],
        "size": r["size"],
        "figure": figure,
        "ours": ours,
        "unit": unit,
        "taskwarrior": tw,
        "ratio": ratio,
        "target": target,
        "met": met,
        "note": note,
    }


def _tw(r: dict[str, Any], name: str) -> float | str:
    tw = r.get("taskwarrior") or {}
    if not tw.get("version"):
        return "not installed"
    if name not in tw:
        return tw.get("skipped", "not measured")
    return float(tw[name]["median_seconds"])


def rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    idle_10k: dict[str, float] = {}
    for r in results:
        if r["size"] == 10_000:
            idle_10k[r["backend"]] = r["idle"]["median_seconds"] * 1000
    for r in results:
        data, idle, due, smtp, cli = r["data"], r["idle"], r["due"], r["smtp"], r["cli"]
        tw = r.get("taskwarrior") or {}
        out.append(
            _row(
                r,
                "build (synthetic data)",
                data["seconds"],
                "s",
                float(tw["import_seconds"]) if "import_seconds" in tw else None,
                note=f"{data['institutions']} institutions, {data['cities']} cities, "
                f"{len(data['years'])} years, {data['open_tasks']} open, "
                f"{data['notifications']} outbox rows; Taskwarrior: task import",
            )
        )
        idle_ms = idle["median_seconds"] * 1000
        out.append(
            _row(
                r,
                "pass, nothing due (warm, median)",
                idle_ms,
                "ms",
                target=f"<= {PASS_IDLE_MS:g} ms",
                met=idle_ms <= PASS_IDLE_MS,
                note=f"median of {idle['passes']}; {idle['statements']} statements",
            )
        )
        cold_ms = idle["cold_seconds"] * 1000
        out.append(_row(r, "pass, nothing due (first in process)", cold_ms, "ms"))
        base = idle_10k.get(r["backend"])
        if base and r["size"] > 10_000:
            growth = idle_ms / base
            out.append(
                _row(
                    r,
                    "pass, nothing due / same at 10k",
                    growth,
                    "x",
                    target=f"<= {PASS_GROWTH:g}x",
                    met=growth <= PASS_GROWTH,
                )
            )
        out.append(
            _row(
                r,
                "pass peak RSS, nothing due",
                idle["peak_rss_mb"],
                "MB",
                target=f"<= {PASS_RSS_MB:g} MB",
                met=idle["peak_rss_mb"] <= PASS_RSS_MB,
                note=f"process after imports: {idle['rss_ready_mb']:.0f} MB",
            )
        )
        if "idle_weekly" in r:
            iw = r["idle_weekly"]
            iw_ms = iw["median_seconds"] * 1000
            out.append(
                _row(
                    r,
                    "pass, nothing due, with the weekly-summary check (daemon default)",
                    iw_ms,
                    "ms",
                    target=f"<= {PASS_IDLE_MS:g} ms",
                    met=iw_ms <= PASS_IDLE_MS,
                    note=f"median of {iw['passes']}; {iw['statements']} statements; "
                    f"peak RSS {iw['peak_rss_mb']:.0f} MB",
                )
            )
        if "weekly" in r:
            wk = r["weekly"]
            out.append(
                _row(
                    r,
                    "pass sending the weekly summaries (null transport)",
                    wk["seconds"],
                    "s",
                    note=f"{wk['counts']['weekly']} summaries planned, "
                    f"{wk['counts']['messages']} sent in this pass; peak RSS "
                    f"{wk['peak_rss_mb']:.0f} MB",
                )
            )
        counts = due["counts"]
        out.append(
            _row(
                r,
                "pass, 1 % of tasks due (null transport)",
                due["seconds"],
                "s",
                note=f"{due['tasks_made_due']} tasks due: {counts['planned']} rows planned, "
                f"{counts['skipped']} skipped, {counts['messages']} messages",
            )
        )
        out.append(
            _row(
                r,
                "pass peak RSS, 1 % due",
                due["peak_rss_mb"],
                "MB",
                target=f"<= {PASS_RSS_MB:g} MB",
                met=due["peak_rss_mb"] <= PASS_RSS_MB,
            )
        )
        rate = smtp["messages_per_second"]
        server = smtp.get("server", {})
        out.append(
            _row(
                r,
                "delivery to loopback SMTP",
                rate,
                "msg/s",
                target=f">= {DELIVERY_PER_SECOND:g} msg/s",
                met=rate >= DELIVERY_PER_SECOND and smtp["connections"] <= 1,
                note=f"{smtp['counts']['messages']} messages in {smtp['seconds']:.2f} s, "
                f"{smtp['connections']} connection(s); server got {server.get('messages')}",
            )
        )
        done = cli["done"]["median_seconds"]
        overdue = cli["overdue_city"]["median_seconds"]
        ratios = tw.get("paired_ratios", {})

        def vs(
            figure: str,
            ours: float,
            name: str,
            ratio_key: str,
            limit: float | None = None,
            note: str = "",
            r: dict[str, Any] = r,
            ratios: dict[str, float] = ratios,
        ) -> None:
            theirs = _tw(r, name)
            ratio = ratios.get(ratio_key) if isinstance(theirs, float) else None
            out.append(
                _row(
                    r,
                    figure,
                    ours,
                    "s",
                    theirs,
                    target=f"<= {limit:g}x Taskwarrior" if limit else "",
                    met=(ratio <= limit) if limit and ratio is not None else None,
                    note=note,
                    paired_ratio=ratio,
                )
            )

        vs("srz done ID  |  task ID done", done, "done", "done", DONE_RATIO)
        vs(
            "srz tasks --status overdue --city C --format json  |  task overdue",
            overdue,
            "overdue",
            "overdue_city_vs_overdue",
            OVERDUE_RATIO,
            note=f"{cli['overdue_city']['items']} tasks listed; Taskwarrior lists "
            f"{tw.get('overdue_count', '?')} (all cities)",
        )
        vs(
            "srz tasks --status overdue --city C --format json  |  task project:C overdue",
            overdue,
            "overdue_city",
            "overdue_city_vs_overdue_city",
            note=f"same tasks: {cli['overdue_city']['items']} | "
            f"{tw.get('overdue_count_city', '?')}",
        )
        vs(
            "srz tasks --status overdue --format json  |  task overdue",
            cli["overdue_all"]["median_seconds"],
            "overdue",
            "overdue_all_vs_overdue",
            note=f"same tasks: {cli['overdue_all']['items']} | {tw.get('overdue_count', '?')}",
        )
        if "gc_done" in tw:
            vs("srz done ID  |  task ID done, with rc.gc=on", done, "gc_done", "gc_done")
            vs(
                "srz tasks --status overdue --city C ...  |  task overdue, with rc.gc=on",
                overdue,
                "gc_overdue",
                "gc_overdue",
            )
        help_s = cli["help"]["median_seconds"]
        out.append(
            _row(
                r,
                "srz --help",
                help_s,
                "s",
                target=f"<= {HELP_SECONDS:g} s",
                met=help_s <= HELP_SECONDS,
            )
        )
        baseline = cli["baseline"]["median_seconds"]
        out.append(_row(r, 'python -c "import sqlalchemy.orm, click"', baseline, "s"))
        if "minus_baseline_paired" in cli["overdue_city"]:
            out.append(
                _row(
                    r,
                    "srz tasks --status overdue --city C ... minus that baseline",
                    cli["overdue_city"]["minus_baseline_paired"],
                    "s",
                    note="what the listing costs beyond starting Python with SQLAlchemy",
                )
            )
        over = cli["done"].get("minus_baseline_paired", done - baseline)
        out.append(
            _row(
                r,
                "srz done ID minus that baseline",
                over,
                "s",
                target=f"<= {DONE_OVER_BASELINE:g} s",
                met=over <= DONE_OVER_BASELINE,
                note="median over rounds of (srz done - baseline) in the same round",
            )
        )
    return out


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if unit in ("ms",):
        return f"{value:.1f}"
    if unit in ("MB", "msg/s"):
        return f"{value:.0f}"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(rows: list[dict[str, Any]]) -> str:
    header = ["backend", "size", "figure", "ours", "taskwarrior", "ratio", "target", "met"]
    body = []
    for r in rows:
        body.append(
            [
                r["backend"],
                f"{r['size']:,}",
                r["figure"],
                f"{_fmt(r['ours'], r['unit'])} {r['unit']}",
                _fmt(r["taskwarrior"], "s"),
                f"{r['ratio']:.2f}" if r["ratio"] is not None else "",
                r["target"],
                {True: "yes", False: "NO", None: ""}[r["met"]],
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for r, cells in zip(rows, body, strict=True):
        key = (r["backend"], r["size"])
        if previous is not None and key != previous:
            lines.append("")
        previous = key
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    notes = [
        f"  {r['backend']} {r['size']:,} {r['figure']}: {r['note']}" for r in rows if r["note"]
    ]
    return "\n".join([*lines, "", "notes:", *notes])


def machine_text(info: dict[str, Any]) -> str:
    load = info.get("load_average_start")
    return "\n".join(
        [
            f"machine: {info['nproc']} CPU ({info['cpu']}), {info['memory']} RAM, {info['os']}",
            f"software: Python {info['python']}, SQLite {info['sqlite']}, SQLAlchemy "
            f"{info['sqlalchemy']}, PostgreSQL {info['postgresql'] or '-'}, Taskwarrior "
            f"{info['taskwarrior']}",
            f"load average at start: {', '.join(f'{x:.2f}' for x in load) if load else '?'}",
        ]
    )


def plans_text(results: list[dict[str, Any]], full: bool, growing: tuple[str, ...]) -> str:
    lines = ["query plans of the pass (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL):"]
    for r in results:
        for what in ("idle", "idle_weekly", "due"):
            if what not in r:
                continue
            plans = [Plan(p["sql"], p["plan"], p["full_scans"]) for p in r[what].get("plans", [])]
            scans = sorted({s for p in plans for s in p.full_scans})
            when = {"idle": "nothing due", "idle_weekly": "nothing due, weekly check"}.get(
                what, "1 % due"
            )
            title = f"{r['backend']} {r['size']:,}, {when}"
            if full:
                lines.append(format_plans(plans, title))
            else:
                lines.append(
                    f"  {title}: {len(plans)} statements; full scans of "
                    f"{'/'.join(growing)}: {'; '.join(scans) if scans else 'none'}"
                )
    if not full:
        lines.append("  (python -m bench --explain prints every statement with its plan)")
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table as Markdown (``python -m bench.report FILE.json``), for BENCHMARKS.md."""
    out = [
        "| backend | size | figure | ours | Taskwarrior | ratio | target | met |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        tw = r["taskwarrior"]
        tw_text = _fmt(tw, "s") + (" s" if isinstance(tw, float) else "")
        out.append(
            "| "
            + " | ".join(
                [
                    r["backend"],
                    f"{r['size']:,}",
                    r["figure"].replace("|", "\\|"),
                    f"{_fmt(r['ours'], r['unit'])} {r['unit']}",
                    tw_text,
                    f"{r['ratio']:.2f}" if r["ratio"] is not None else "",
                    r["target"].replace("<=", "≤").replace(">=", "≥"),
                    {True: "yes", False: "**no**", None: ""}[r["met"]],
                ]
            )
            + " |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    doc = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    print(markdown(doc["rows"]))
