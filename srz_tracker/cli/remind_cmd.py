"""``srz remind``, ``srz preview`` and ``srz outbox``."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, echo_json, pass_state
from srz_tracker.kinds import NotificationStatus


@click.command(
    "remind",
    epilog="示例：srz remind\n\n      srz remind --now 2023-12-20T09:30 --dry-run",
)
@click.option("--now", "now_text", metavar="DATETIME", help="按此时刻执行（默认当前时间）")
@click.option("--dry-run", is_flag=True, help="只显示将要发送的邮件，不写数据库、不发送")
@click.option("--weekly", is_flag=True, help="同时安排本周工作周报（守护进程自动安排）")
@pass_state
def remind_command(state: CliState, now_text: str | None, dry_run: bool, weekly: bool) -> None:
    """执行一次提醒：安排到期的提醒与督办，并发送邮件。"""
    import logging

    from srz_tracker.clock import parse_now
    from srz_tracker.notify.passes import calendar_warnings, run_pass
    from srz_tracker.notify.passes import dry_run as do_dry_run

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    now = parse_now(now_text)
    engine = state.engine
    for warning in calendar_warnings(engine, state.settings):
        click.echo(f"警告：{warning}", err=True)
    if dry_run:
        counts, emails = do_dry_run(engine, state.settings, now, weekly=weekly)
        for email in emails:
            click.echo("=" * 72)
            click.echo(f"收件人：{', '.join(a for a, _ in email.to)}")
            if email.cc:
                click.echo(f"抄送：{', '.join(a for a, _ in email.cc)}")
            click.echo(f"主题：{email.subject}")
            click.echo(f"Message-ID：{email.message_id}")
            click.echo("")
            click.echo(email.text)
        click.echo("=" * 72)
        click.echo(
            f"（演练）将发送 {len(emails)} 封邮件，涉及 {counts.tasks} 项任务，"
            f"跳过过期步骤 {counts.skipped} 条；未写入数据库"
        )
        return
    from srz_tracker.daemon.lease import held_lease

    sent_lines: list[str] = []

    def show(email) -> None:  # type: ignore[no-untyped-def]
        sent_lines.append(f"已发送：{email.subject} → {', '.join(a for a, _ in email.to)}")

    with held_lease(engine, now) as holder:
        result = run_pass(
            engine, state.settings, now, on_message=show, weekly=weekly, holder=holder
        )
    for line in sent_lines:
        click.echo(line)
    r = result.as_dict()
    click.echo(
        f"本次：安排 {r['planned']} 条，跳过 {r['skipped']} 条，发送邮件 {r['messages']} 封"
        f"（{r['sent']} 条），失败 {r['failed']} 条，待重试 {r['retrying']} 条，"
        f"取消 {r['cancelled']} 条"
    )
    if r["failed"] or r["retrying"]:
        raise SystemExit(1)


@click.command(
    "preview",
    epilog="示例：srz preview --from 2023-01-01 --to 2023-12-31\n\n"
    "      srz preview --from 2023-12-01 --to 2023-12-31 --city 南宁市 --format json",
)
@click.option("--from", "start_text", required=True, metavar="DATE", help="起始日期")
@click.option("--to", "end_text", required=True, metavar="DATE", help="结束日期")
@click.option("--city", help="只看该市")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def preview_command(
    state: CliState, start_text: str, end_text: str, city: str | None, fmt: str
) -> None:
    """预览一段时间内的提醒安排（假设无人标记完成），不写数据库、不发送。"""
    from srz_tracker.clock import parse_date
    from srz_tracker.errors import UsageError
    from srz_tracker.notify.passes import make_calendar
    from srz_tracker.notify.preview import preview
    from srz_tracker.store import db

    start, end = parse_date(start_text, "--from"), parse_date(end_text, "--to")
    if end < start:
        raise UsageError("--to 不能早于 --from")
    if (end - start).days > 3 * 366:
        raise UsageError("预览期间最长三年")
    with db.read_session(state.engine) as session:
        if city:
            from srz_tracker.clock import utcnow
            from srz_tracker.tasks.query import TaskFilter, list_tasks

            list_tasks(session, TaskFilter(city=city, limit=1), utcnow())  # validates the name
        rows = preview(session, state.settings, make_calendar(state.settings), start, end, city)
    if fmt == "json":
        echo_json(rows)
        return
    from srz_tracker.cli.output import print_table

    for r in rows:
        r["to_text"] = ", ".join(r["to"]) + (f"（抄送 {', '.join(r['cc'])}）" if r["cc"] else "")
        r["tasks_text"] = ", ".join(map(str, r["task_ids"]))
    print_table(
        [
            ("send_at", "发送时间"),
            ("to_text", "收件人"),
            ("subject", "主题"),
            ("tasks_text", "任务"),
        ],
        rows,
    )
    click.echo(f"共 {len(rows)} 封邮件")


@click.group(
    "outbox",
    invoke_without_command=True,
    epilog="示例：srz outbox --status failed    srz outbox retry 42",
)
@click.option(
    "--status",
    # Values, not members: click offers an enum member by its name ("PENDING").
    type=click.Choice([*(s.value for s in NotificationStatus), "all"]),
    default="all",
)
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def outbox_group(ctx: click.Context, status: str, limit: int, fmt: str) -> None:
    """查看发件箱（每条为一项任务的一个提醒步骤发给一位收件人）。"""
    if ctx.invoked_subcommand is not None:
        return
    from srz_tracker.notify.outbox import list_outbox
    from srz_tracker.store import db

    state: CliState = ctx.obj
    with db.read_session(state.engine) as session:
        rows = list_outbox(session, None if status == "all" else status, limit)
    if fmt == "json":
        echo_json(rows)
        return
    from srz_tracker.cli.output import print_table

    print_table(
        [
            ("id", "编号"),
            ("task_id", "任务"),
            ("kind", "类型"),
            ("step", "步骤"),
            ("to", "收件人"),
            ("status", "状态"),
            ("attempts", "次数"),
            ("scheduled_at", "计划时间(UTC)"),
            ("last_error", "错误"),
        ],
        rows,
    )


@outbox_group.command("retry", epilog="示例：srz outbox retry 42")
@click.argument("notification_id", type=int)
@click.option("--now", "now_text", metavar="DATETIME")
@pass_state
def outbox_retry_command(state: CliState, notification_id: int, now_text: str | None) -> None:
    """把失败（或待重试）的一条通知重新排入发送队列。"""
    from srz_tracker.clock import parse_now
    from srz_tracker.notify.outbox import retry_notification
    from srz_tracker.store import db

    now = parse_now(now_text)
    with db.write_session(state.engine) as session:
        retry_notification(session, notification_id, now)
    click.echo(f"通知 {notification_id} 已重新排入发送队列，将在下一次提醒时发送")
