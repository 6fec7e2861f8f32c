"""``srz calendar``: open tasks as an .ics file for Outlook, WPS and phone calendars."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, pass_state


@click.command(
    "calendar",
    epilog="示例：srz calendar --city 南宁市 -o 南宁市任务.ics\n\n"
    "      srz calendar --institution 南宁市示例县甲县级质检机构（占位） -o 机构任务.ics\n\n"
    "      srz calendar -o 全部任务.ics --alarm-days 7",
)
@click.option("--city", help="只导出该市的任务（含其辖区机构的任务）")
@click.option("--institution", help="只导出该机构的任务")
@click.option(
    "--alarm-days",
    type=int,
    default=3,
    show_default=True,
    help="提前几天提醒（当天 09:00；0 为到期当天 09:00）",
)
@click.option("--now", "now_text", metavar="DATETIME", help="导出时刻（默认当前时间）")
@click.option("-o", "--output", required=True, metavar="FILE.ics", help="写入的日历文件")
@pass_state
def calendar_command(
    state: CliState,
    city: str | None,
    institution: str | None,
    alarm_days: int,
    now_text: str | None,
    output: str,
) -> None:
    """把未完成的任务导出为日历文件（iCalendar .ics），可导入 Outlook、WPS 和手机日历。

    每项任务是到期日的全天事件，附提前提醒、依据条款原文和完成后的登记命令。

    事件编号固定（task-编号@srz-tracker），再次导出后导入会更新原事件，不会重复。

    已完成的任务不再导出；已导入的旧事件请在日历中删除。
    """
    from pathlib import Path

    from srz_tracker.clock import parse_now
    from srz_tracker.errors import UsageError
    from srz_tracker.report.ical import export_calendar
    from srz_tracker.store import db

    path = Path(output)
    if path.is_dir() or not path.parent.exists():
        raise UsageError(f"无法写入 {path}：请给出已存在目录下的文件名")
    now = parse_now(now_text)
    with db.read_session(state.engine) as session:
        data, count = export_calendar(session, now, city, institution, alarm_days)
    path.write_bytes(data)
    click.echo(f"已写入 {path}：{count} 项未完成任务")
