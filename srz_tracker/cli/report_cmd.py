"""``srz report``: the performance self-assessment against the plan's 绩效目标表."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from srz_tracker.cli.common import CliState, pass_state

if TYPE_CHECKING:
    from pathlib import Path


@click.command(
    "report",
    epilog="示例：srz report --now 2023-12-20\n\n"
    "      srz report --year 2023 --format xlsx -o 2023绩效自评.xlsx\n\n"
    "      srz report --format html -o 绩效自评.html   （浏览器打开，可直接打印）\n\n"
    "      srz report --city 南宁市 --format json",
)
@click.option(
    "--year", type=int, help="年度（默认：统计日所在年度；该年度无任务时取此前最近有任务的年度）"
)
@click.option("--city", help="只看一个市（不含全区合计行）")
@click.option("--now", "now_text", metavar="DATETIME", help="统计时刻（默认当前时间）")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "xlsx", "html"]),
    help="输出格式（默认 table；给了 -o 时按文件扩展名判断）",
)
@click.option("-o", "--output", "output", metavar="FILE", help="写入文件（xlsx 必须指定）")
@pass_state
def report_command(
    state: CliState,
    year: int | None,
    city: str | None,
    now_text: str | None,
    fmt: str | None,
    output: str | None,
) -> None:
    """绩效自评报告：每市一行，对照实施方案的绩效目标表，另有全区合计行。

    指标：项目金额、参加机构数、双认证质量、任务完成率、及时率、成本、重大事件、满意度；

    全区合计行另有县级质检机构“双认证”占比（目标 80%）。

    每项给出目标、实际值和评价（达标 / 未达标 / 进行中），所有数字由记录计算得出。
    """
    from pathlib import Path

    from srz_tracker.clock import check_year, parse_now
    from srz_tracker.errors import UsageError
    from srz_tracker.report.build import build_report
    from srz_tracker.store import db

    path = Path(output) if output else None
    if fmt is None and path is None:
        fmt = "table"
    elif fmt is None:
        suffix = path.suffix.lower().lstrip(".")  # type: ignore[union-attr]
        fmt = {"htm": "html"}.get(suffix, suffix)
        if fmt not in ("json", "csv", "xlsx", "html"):
            raise UsageError(f"无法从文件名 {path} 判断格式，请用 --format json|csv|xlsx|html")
    if fmt == "xlsx" and path is None:
        raise UsageError("Excel 格式须用 -o 指定文件，如 -o 绩效自评.xlsx")
    if fmt == "table" and path is not None:
        raise UsageError("表格格式只输出到终端；写文件请用 --format json|csv|xlsx|html")
    if path is not None:
        _check_writable(path)
    now = parse_now(now_text)
    if year is not None:
        check_year(year, "--year")
    with db.read_session(state.engine) as session:
        report = build_report(session, now, year, city)
    if fmt == "table":
        print_report_table(report)
        return
    if fmt == "xlsx":
        from srz_tracker.report.xlsx import write_xlsx

        assert path is not None
        write_xlsx(report, path)
        click.echo(f"已写入 {path}")
        return
    if fmt == "json":
        import json

        text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "csv":
        from srz_tracker.report.columns import report_csv

        text = report_csv(report)
    else:
        from srz_tracker.report.html import render_html

        text = render_html(report)
    if path is None:
        click.echo(text, nl=False)
        return
    path.write_text(text, encoding="utf-8", newline="")
    click.echo(f"已写入 {path}")


def _check_writable(path: Path) -> None:
    from srz_tracker.errors import UsageError

    if path.is_dir():
        raise UsageError(f"{path} 是目录，请给出文件名")
    if not path.parent.exists():
        raise UsageError(f"目录 {path.parent} 不存在")


VERDICT_STYLE = {"met": "green", "not_met": "bold red", "in_progress": "yellow", "no_data": "dim"}


def print_report_table(report: dict[str, Any]) -> None:
    from rich.markup import escape

    from srz_tracker.cli.output import print_table
    from srz_tracker.report.columns import all_rows, subtitle, summary_cells, summary_headers

    def mark(verdict: str, status: str) -> str:
        return f"[{VERDICT_STYLE[status]}]{verdict}[/]"

    rows = [summary_cells(r, mark, escape) for r in all_rows(report)]
    print_table(summary_headers(report), rows, title=report["title"], markup=True)
    click.echo(subtitle(report))
    click.echo(
        "完成率 = 截至统计日已到期任务中已完成的 ÷ 已到期任务；及时率 = 按期完成 ÷ 已完成；"
        "进行中 = 年度未结束且尚未确定不能达标。\n"
        "导出：srz report -o 绩效自评.xlsx    srz report -o 绩效自评.html（浏览器打开，含图表）"
    )
