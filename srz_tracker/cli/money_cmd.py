"""``srz expense``, ``srz indicator``, ``srz incident``: what the performance report
counts besides tasks. Every write is one transaction with its audit event."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, echo_json, pass_state

_now_option = click.option("--now", "now_text", metavar="DATETIME", help="操作时刻（默认当前时间）")
_by_option = click.option("--by", help="操作人（默认 SRZ_USER 或当前登录名）")
_format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


@click.group(
    "expense",
    epilog="示例：srz expense add --city 南宁市 --amount 12.5 --category 业务培训 "
    "--on 2023-05-10\n\n"
    "      srz expense list --city 南宁市 --year 2023",
)
def expense_group() -> None:
    """记录和查看专项资金支出（单位：万元）。"""


@expense_group.command(
    "add",
    epilog="示例：srz expense add --city 南宁市 --amount 12.5 --category training "
    "--on 2023-05-10 --note 实操培训班\n\n"
    "      srz expense add --city 百色市 --amount 8 --category 采购试剂 --on 2023-07-01",
)
@click.option("--city", required=True, help="市名，如 南宁市")
@click.option("--amount", required=True, metavar="WAN", help="金额，单位万元，如 12.5")
@click.option(
    "--category",
    required=True,
    metavar="CAT",
    help="类别代码或中文名：training 业务培训、reagents 采购试剂、equipment 检测设备、"
    "consumables 耗材、maintenance 维护仪器设备",
)
@click.option("--on", "on_text", required=True, metavar="DATE", help="支出日期 YYYY-MM-DD")
@click.option("--note", help="备注，如 发票号、用途")
@_by_option
@_now_option
@pass_state
def expense_add_command(
    state: CliState,
    city: str,
    amount: str,
    category: str,
    on_text: str,
    note: str | None,
    by: str | None,
    now_text: str | None,
) -> None:
    """记录一笔支出。只接受实施方案四（三）规定的用途；支出年度即支出日期所在年度。"""
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import local_date, parse_date, parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.money import add_expense, expense_categories
    from srz_tracker.tasks.query import plan_timezone

    now = parse_now(now_text)
    on = parse_date(on_text, "--on")
    with db.write_session(state.engine) as session:
        today = local_date(now, plan_timezone(session))
        e = add_expense(session, city, amount, category, on, note, now, today, current_actor(by))
        name = expense_categories(session).get(e.category, e.category)
    click.echo(f"已记录支出 {e.id}：{city} {e.spent_on} {name} {e.amount_wan} 万元")


@expense_group.command(
    "list",
    epilog="示例：srz expense list --city 南宁市 --year 2023\n\n"
    "      srz expense list --year 2023 --format json",
)
@click.option("--city", help="市名")
@click.option("--year", type=int, help="年度")
@_format_option
@pass_state
def expense_list_command(state: CliState, city: str | None, year: int | None, fmt: str) -> None:
    """列出支出及合计。"""
    from decimal import Decimal

    from srz_tracker.store import db
    from srz_tracker.tasks.money import list_expenses

    with db.read_session(state.engine) as session:
        rows = list_expenses(session, city, year)
    if fmt == "json":
        echo_json(rows)
        return
    from srz_tracker.cli.output import print_table

    for r in rows:
        r["amount_text"] = f"{r['amount_wan']:.2f}"
    print_table(
        [
            ("id", "编号"),
            ("spent_on", "日期"),
            ("city", "市"),
            ("category_name", "类别"),
            ("amount_text", "金额（万元）"),
            ("note", "备注"),
        ],
        rows,
    )
    total = sum((Decimal(str(r["amount_wan"])) for r in rows), Decimal(0))
    click.echo(f"共 {len(rows)} 笔，合计 {total:.2f} 万元")


@click.group(
    "indicator", epilog="示例：srz indicator set --city 南宁市 --year 2023 satisfaction 92%"
)
def indicator_group() -> None:
    """记录绩效指标（目前为项目实施主体满意度）。"""


@indicator_group.command(
    "set",
    epilog="示例：srz indicator set --city 南宁市 --year 2023 satisfaction 92%\n\n"
    "      srz indicator set --city 柳州市 --year 2023 satisfaction 0.885",
)
@click.option("--city", required=True, help="市名")
@click.option("--year", required=True, type=int, help="年度，如 2023")
@click.argument("name", type=click.Choice(["satisfaction"]))
@click.argument("value", metavar="PCT")
@_by_option
@_now_option
@pass_state
def indicator_set_command(
    state: CliState,
    city: str,
    year: int,
    name: str,
    value: str,
    by: str | None,
    now_text: str | None,
) -> None:
    """记录一个市某年度的指标值（重复记录则覆盖）。

    PCT 可写作 92、92% 或 0.92（不带 % 时，不超过 1 的数按小数理解，否则按百分数）。
    """
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.money import INDICATOR_NAMES, set_indicator

    now = parse_now(now_text)
    with db.write_session(state.engine) as session:
        row, previous = set_indicator(session, city, year, name, value, now, current_actor(by))
    text = f"{city} {year} 年{INDICATOR_NAMES[name]}：{float(row.value):.2%}"
    if previous is not None:
        text += f"（原为 {float(previous):.2%}）"
    click.echo(text)


@click.group(
    "incident",
    epilog="示例：srz incident add --city 南宁市 --on 2023-08-03 --note 某批次蔬菜农残超标事件",
)
def incident_group() -> None:
    """记录和查看重大农产品质量安全事件（绩效目标：0 起）。"""


@incident_group.command(
    "add", epilog="示例：srz incident add --city 南宁市 --on 2023-08-03 --note 某批次蔬菜农残超标"
)
@click.option("--city", required=True, help="市名")
@click.option("--on", "on_text", required=True, metavar="DATE", help="发生日期 YYYY-MM-DD")
@click.option("--note", required=True, help="事件情况（必填）")
@_by_option
@_now_option
@pass_state
def incident_add_command(
    state: CliState, city: str, on_text: str, note: str, by: str | None, now_text: str | None
) -> None:
    """记录一起重大农产品质量安全事件。"""
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import local_date, parse_date, parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.money import add_incident
    from srz_tracker.tasks.query import plan_timezone

    now = parse_now(now_text)
    on = parse_date(on_text, "--on")
    with db.write_session(state.engine) as session:
        today = local_date(now, plan_timezone(session))
        incident = add_incident(session, city, on, note, now, today, current_actor(by))
    click.echo(f"已记录事件 {incident.id}：{city} {on} {incident.note}")


@incident_group.command("list", epilog="示例：srz incident list --year 2023")
@click.option("--city", help="市名")
@click.option("--year", type=int, help="年度")
@_format_option
@pass_state
def incident_list_command(state: CliState, city: str | None, year: int | None, fmt: str) -> None:
    """列出已记录的重大农产品质量安全事件。"""
    from srz_tracker.store import db
    from srz_tracker.tasks.money import list_incidents

    with db.read_session(state.engine) as session:
        rows = list_incidents(session, city, year)
    if fmt == "json":
        echo_json(rows)
        return
    from srz_tracker.cli.output import print_table

    print_table([("id", "编号"), ("occurred_on", "日期"), ("city", "市"), ("note", "情况")], rows)
    click.echo(f"共 {len(rows)} 起")
