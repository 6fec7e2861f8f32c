"""The performance report as one self-contained HTML page for a department head:
region summary cards, two bar charts as inline SVG (task completion per city; spending
against allocation per city), the table laid out like the plan's 绩效目标表, and the
definitions. No JavaScript, no network, inline CSS, and a print stylesheet (A4
landscape). Every figure carries ``data-key``/``data-value`` with the JSON number.

The page is ``templates/report.html.j2`` (autoescaped, strict) with
``templates/report.css`` inlined into its ``<style>``; both are package data, read
through the package loader so that a regular install finds them too."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from srz_tracker.report.columns import DEFINITIONS, subtitle
from srz_tracker.report.svg import Bar, bar_chart, nice_ceiling
from srz_tracker.text import cn_datetime, pct_of_fraction, pct_target_of_fraction, wan

COLOURS = {"met": "#2e7d32", "not_met": "#c62828", "in_progress": "#e0a100", "no_data": "#9e9e9e"}
TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
COMPLETION_CHART = "各市项目任务完成率（截至统计日）"
SPENDING_CHART = "各市经费支出与项目金额（万元）"


def _unit_interval(v: float | None) -> float:
    """A fraction clamped to 0..1 (a meter's width); no data is an empty meter."""
    return max(0.0, min(1.0, v or 0.0))


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("srz_tracker.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct_of_fraction=pct_of_fraction,
        pct_target_of_fraction=pct_target_of_fraction,
        wan=wan,
        unit_interval=_unit_interval,
    )
    return env


def _stylesheet(env: Environment) -> Markup:
    # Inlined verbatim: inside <style> the browser does not decode entities, so
    # escaping the font names' quotes would break the CSS. It is our own file.
    assert env.loader is not None
    css, _, _ = env.loader.get_source(env, STYLESHEET)
    return Markup(css)


def _charts(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    completion = []
    for row in rows:
        c = row["completion"]
        overdue = f"，逾期 {c['overdue']}" if c["overdue"] else ""
        completion.append(
            Bar(
                row["city"],
                "completion.actual",
                c["actual"],
                c["actual"] or 0.0,
                COLOURS[c["status"]],
                f"{pct_of_fraction(c['actual'])}（{c['done_of_due']}/{c['due']}{overdue}）",
                track=1.0,
            )
        )
    spending = []
    for row in rows:
        cost = row["cost"]
        over = cost["status"] == "not_met"
        spending.append(
            Bar(
                row["city"],
                "cost.actual",
                cost["actual"],
                cost["actual"] or 0.0,
                "#c62828" if over else "#1f4e79",
                f"{wan(cost['actual'])} / {wan(cost['target'])}" + ("  超支" if over else ""),
                track=cost["target"],
                marker=cost["target"],
            )
        )
    scale = nice_ceiling(max([b.length for b in spending] + [b.track or 0 for b in spending]))
    return {
        "completion": {
            "title": COMPLETION_CHART,
            "svg": bar_chart(COMPLETION_CHART, completion, 1.0, percent=True),
        },
        "spending": {
            "title": SPENDING_CHART,
            "svg": bar_chart(SPENDING_CHART, spending, scale, percent=False),
        },
    }


def render_html(report: dict[str, Any]) -> str:
    tz = report["timezone"]
    when = cn_datetime(dt.datetime.fromisoformat(report["now"]), tz)
    zone = "北京时间" if tz == "Asia/Shanghai" else tz
    env = _environment()
    return env.get_template(TEMPLATE).render(
        css=_stylesheet(env),
        title=report["title"],
        subtitle=subtitle(report),
        stamp=f"{when}（{zone}）",
        targets=report["targets"],
        cities=report["cities"],
        region=report.get("region"),
        charts=_charts(report["cities"]),
        colours=COLOURS,
        definitions=DEFINITIONS,
    )
