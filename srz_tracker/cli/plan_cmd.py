"""``srz plan check|load|show|list|close``."""

from __future__ import annotations

import datetime as dt

import click

from srz_tracker.cli.common import CliState, echo_json, pass_state


@click.group(
    "plan",
    epilog="示例：srz plan check gx-srz-2023    srz plan load gx-srz-2023    srz plan show\n\n"
    "      srz plan list    srz plan close gx-srz-2023 --year 2023\n\n"
    "      （gx-srz-2023 为内置方案；也可写方案文件的路径）",
)
def plan_group() -> None:
    """实施方案文件：校验、导入、查看；方案年度的状态与结束。"""


@plan_group.command(
    "check", epilog="示例：srz plan check gx-srz-2023    srz plan check schedules/gx-srz-2023.yaml"
)
@click.argument("file", type=click.Path(dir_okay=False))
def check_command(file: str) -> None:
    """校验方案文件，列出全部问题（文件:行号: 说明），不写入数据库。

    FILE 为方案文件的路径，或内置方案的名称 gx-srz-2023。
    """
    from srz_tracker.plan.schema import load_plan_file
    from srz_tracker.resources import resolve_input_file

    spec = load_plan_file(resolve_input_file(file))
    click.echo(
        f"{file}：校验通过（{spec.key}，{len(spec.obligations)} 项义务，{len(spec.cities)} 个市）"
    )


@plan_group.command(
    "load",
    epilog="示例：srz plan load gx-srz-2023\n\n"
    "      srz plan load gx-srz-2023 --year 2024\n\n"
    "      srz plan load schedules/gx-srz-2023.yaml --year 2025",
)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--year",
    "years",
    type=int,
    multiple=True,
    help="另外为该年度生成任务（可多次指定）；默认只生成方案年度",
)
@click.option("--now", "now_text", metavar="DATETIME", help="以此时刻判断认证条件（默认当前时间）")
@pass_state
def load_command(state: CliState, file: str, years: tuple[int, ...], now_text: str | None) -> None:
    """校验并导入方案文件，生成任务。文件有任何问题则全部不写入。

    FILE 为方案文件的路径，或内置方案的名称 gx-srz-2023。
    """
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import parse_now
    from srz_tracker.errors import UsageError
    from srz_tracker.plan.schema import load_plan_file
    from srz_tracker.resources import resolve_input_file
    from srz_tracker.store import db
    from srz_tracker.tasks.intake import load_plan

    for y in years:
        if not 2000 <= y <= 2100:
            raise UsageError(f"--year {y} 不是有效年度")
    spec = load_plan_file(resolve_input_file(file))
    now = parse_now(now_text)
    with db.write_session(state.engine) as session:
        result, tasks = load_plan(session, spec, now, current_actor(), list(years))
    verb = "已导入" if result.created_plan else "已更新"
    click.echo(
        f"{verb}方案 {result.plan_key}：{result.obligations} 项义务，"
        f"年度 {', '.join(map(str, result.years))}；新增任务 {tasks.created} 项，"
        f"转为不适用 {tasks.not_applicable} 项，恢复 {tasks.reopened} 项"
    )


@plan_group.command("show", epilog="示例：srz plan show    srz plan show --format json")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def show_command(state: CliState, fmt: str) -> None:
    """列出已导入方案的义务（id、条款、对象范围、周期）。"""
    from srz_tracker.cli.output import print_table
    from srz_tracker.plan.store import obligation_rows
    from srz_tracker.store import db

    with db.read_session(state.engine) as session:
        rows = obligation_rows(session)
    if fmt == "json":
        echo_json(rows)
        return
    for r in rows:
        r["when"] = f"{r['recurrence']['type']} {','.join(r['recurrence'].get('due', []))}"
    print_table(
        [
            ("id", "义务 id"),
            ("clause", "条款"),
            ("title", "内容"),
            ("scope", "对象"),
            ("condition", "条件"),
            ("when", "周期/到期"),
            ("count", "次数"),
        ],
        rows,
    )


@plan_group.command(
    "list", epilog="示例：srz plan list    srz plan list --format json --now 2024-04-02"
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--now", "now_text", metavar="DATETIME", help="按此时刻统计逾期（默认当前时间）")
@pass_state
def list_command(state: CliState, fmt: str, now_text: str | None) -> None:
    """列出已加载的方案年度：进行中或已结束、任务完成情况、结束日期。"""
    from srz_tracker.cli.output import print_table
    from srz_tracker.clock import parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.years import year_rows

    now = parse_now(now_text)
    with db.read_session(state.engine) as session:
        rows = year_rows(session, now)
    if fmt == "json":
        echo_json(rows)
        return
    if not rows:
        click.echo("还没有加载方案年度：srz plan load schedules/gx-srz-2023.yaml")
        return
    for r in rows:
        r["ends"] = _ends(r)
    print_table(
        [
            ("plan", "方案"),
            ("year", "年度"),
            ("state_label", "状态"),
            ("tasks", "任务数"),
            ("open", "未完成"),
            ("overdue", "其中逾期"),
            ("done", "已完成"),
            ("overdue_at_close", "年度结束未完成"),
            ("ends", "结束日期"),
        ],
        rows,
        title="方案年度",
    )


def _ends(row: dict[str, object]) -> str:
    if row["closed_at"]:
        from srz_tracker.clock import DEFAULT_TZ, local_date

        closed = local_date(dt.datetime.fromisoformat(str(row["closed_at"])), DEFAULT_TZ)
        return f"{closed.isoformat()} 已结束"
    if row["closes_on"]:
        return f"{row['closes_on']}（之后自动结束）"
    return "未设定（用 srz plan close 结束）"


@plan_group.command(
    "close",
    epilog="示例：srz plan close gx-srz-2023 --year 2023\n\n"
    "      （未完成的任务记为“年度结束未完成”，不再提醒；处室收到一封年度总结邮件）",
)
@click.argument("plan_key", metavar="PLAN")
@click.option("--year", type=int, help="要结束的年度（方案只有一个进行中的年度时可省略）")
@click.option("--now", "now_text", metavar="DATETIME", help="按此时刻结束（默认当前时间）")
@pass_state
def close_command(state: CliState, plan_key: str, year: int | None, now_text: str | None) -> None:
    """手动结束一个方案年度：其未完成任务定为“年度结束未完成”，并给处室发年度总结。"""
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import parse_now
    from srz_tracker.notify.closing import close_plan_year
    from srz_tracker.store import db
    from srz_tracker.tasks.years import find_year

    now = parse_now(now_text)
    with db.write_session(state.engine) as session:
        plan_year = find_year(session, plan_key, year)
        done = close_plan_year(session, plan_year, now, current_actor(), how="hand")
    closed = done.closed
    click.echo(
        f"已结束方案 {closed.plan_key} 的 {closed.year} 年度：{closed.tasks} 项未完成任务"
        f"记为“年度结束未完成”，取消待发提醒 {closed.cancelled} 条"
    )
    if done.summaries:
        click.echo(
            f"年度总结邮件（附绩效自评表）将在下一次提醒时发给处室 {done.summaries} 位联系人"
        )
    else:
        click.echo("名录中没有处室（office）联系人，未安排年度总结邮件", err=True)


def print_overview(
    state: CliState, now: dt.datetime, year: int | None = None, plan_year: int | None = None
) -> None:
    """The task overview per city, of ``year`` only when given. When ``year`` is later
    than ``plan_year`` (the plan file's own year) the title and a note say that the
    obligations and dates are the plan's, carried over, and why that year is shown."""
    from srz_tracker.cli.output import print_table
    from srz_tracker.clock import local_date
    from srz_tracker.store import db
    from srz_tracker.tasks.query import overview, plan_timezone, year_counts
    from srz_tracker.text import cn_date_short

    with db.read_session(state.engine) as session:
        rows = overview(session, now, year)
        years = year_counts(session, now)
        today = local_date(now, plan_timezone(session))
    if year is None:
        title = "任务总览"
    elif plan_year is not None and year > plan_year:
        title = f"{year} 年度（沿用 {plan_year} 年实施方案的义务与日期）任务总览"
        click.echo(
            f"今天是 {cn_date_short(today)}。内置实施方案是 {plan_year} 年度的，该年度已经过去；"
            f"方案的期限按月-日规定，所以为仍在进行的 {year} 年度生成了同样的义务，"
            f"下面显示 {year} 年度。"
        )
    else:
        title = f"{year} 年度任务总览"
    print_table(
        [
            ("city", "市"),
            ("total", "任务数"),
            ("open", "未完成"),
            ("overdue", "已逾期"),
            ("done", "已完成"),
            ("next_due", "最近到期"),
        ],
        rows,
        title=title,
    )
    for y in years:
        if year is not None and y["year"] != year:
            click.echo(
                f"{y['year']} 年度另有 {y['total']} 项任务：已完成 {y['done']} 项，"
                f"未完成 {y['open']} 项（其中已逾期 {y['overdue']} 项）"
                f"；查看：srz tasks --due-before {y['year'] + 1}-01-01"
            )
    click.echo("查看任务：srz tasks --city 南宁市    标记完成：srz done <任务编号>")
