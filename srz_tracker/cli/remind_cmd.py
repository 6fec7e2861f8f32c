"""``srz remind``, ``srz preview`` and ``srz outbox``."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, check_sending_config, echo_json, pass_state
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
        from srz_tracker.text import cn_datetime

        counts, emails = do_dry_run(engine, state.settings, now, weekly=weekly)
        when = cn_datetime(now)
        if not emails:
            click.echo(f"演练：{when}（北京时间）执行一次提醒，没有需要发送的邮件。")
        else:
            click.echo(
                f"演练：{when}（北京时间）执行一次提醒，将发送以下 {len(emails)} 封邮件"
                f"（涉及 {counts.tasks} 项任务）。这只是演练：不发送，也不写入数据库。"
            )
        for number, email in enumerate(emails, 1):
            click.echo("=" * 72)
            click.echo(f"第 {number} 封（共 {len(emails)} 封）")
            click.echo(f"收件人：{_addresses(email.to)}")
            if email.cc:
                click.echo(f"抄送：{_addresses(email.cc)}")
            click.echo(f"主题：{email.subject}")
            click.echo(f"Message-ID：{email.message_id}")
            click.echo("")
            click.echo(email.text)
        if emails:
            click.echo("=" * 72)
            click.echo(f"以上 {len(emails)} 封邮件未发送，数据库未改动。")
        if counts.skipped:
            click.echo(
                f"另有 {counts.skipped} 条已经过时的提醒步骤不再补发（每项任务只发最新的一步），"
                "实际执行时记为“已跳过”。"
            )
        click.echo("实际发送：srz remind（或由守护进程 srz run 自动执行）")
        return
    check_sending_config(state.settings)  # before any row is claimed
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


def _addresses(pairs: list[tuple[str, str | None]]) -> str:
    return "，".join(f"{name} <{address}>" if name else address for address, name in pairs)


@click.command(
    "preview",
    epilog="示例：srz preview --from 2023-12-01 --to 2023-12-31 --now 2023-11-30\n\n"
    "      srz preview --from 2023-12-01 --to 2023-12-31 --city 南宁市 --format json",
)
@click.option("--from", "start_text", required=True, metavar="DATE", help="起始日期")
@click.option("--to", "end_text", required=True, metavar="DATE", help="结束日期")
@click.option("--city", help="只看该市")
@click.option(
    "--now",
    "now_text",
    metavar="DATETIME",
    help="此刻之前为已发送的邮件，之后为推算（默认当前时间）",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def preview_command(
    state: CliState,
    start_text: str,
    end_text: str,
    city: str | None,
    now_text: str | None,
    fmt: str,
) -> None:
    """一段时间内的邮件，不写数据库、不发送：此刻之前是发件箱中已发送（或失败、待发送）的
    邮件，此刻之后是按提醒规则推算将要发送的邮件（假设无人标记完成）。"""
    from srz_tracker.clock import parse_date, parse_now
    from srz_tracker.errors import UsageError
    from srz_tracker.notify.passes import make_calendar
    from srz_tracker.notify.preview import PLANNED, preview
    from srz_tracker.store import db

    start, end = parse_date(start_text, "--from"), parse_date(end_text, "--to")
    if end < start:
        raise UsageError("--to 不能早于 --from")
    if (end - start).days > 3 * 366:
        raise UsageError("预览期间最长三年")
    now = parse_now(now_text)
    with db.read_session(state.engine) as session:
        if city:
            from srz_tracker.tasks.query import TaskFilter, list_tasks

            list_tasks(session, TaskFilter(city=city, limit=1), now)  # validates the name
        calendar = make_calendar(state.settings)
        rows = preview(session, state.settings, calendar, start, end, city, now)
    if fmt == "json":
        echo_json(rows)
        return
    from srz_tracker.cli.output import print_table
    from srz_tracker.clock import local_date
    from srz_tracker.text import cn_date_short

    status_text = {"sent": "已发送", "failed": "发送失败", "queued": "待发送", PLANNED: "将发送"}
    for r in rows:
        r["to_text"] = ", ".join(r["to"]) + (f"（抄送 {', '.join(r['cc'])}）" if r["cc"] else "")
        r["tasks_text"] = ", ".join(map(str, r["task_ids"]))
        r["status_text"] = status_text.get(r["status"], r["status"])
        r["send_at_text"] = r["send_at"][:16].replace("T", " ")
    print_table(
        [
            ("send_at_text", "时间"),
            ("status_text", "状态"),
            ("to_text", "收件人"),
            ("subject", "主题"),
            ("tasks_text", "任务"),
        ],
        rows,
    )
    if not rows:
        click.echo(f"{start} 至 {end} 没有已发送的邮件，按现有任务推算也没有将要发送的邮件。")
        return
    counts = {key: sum(1 for r in rows if r["status"] == key) for key in status_text}
    past = "，".join(f"{status_text[k]} {n} 封" for k, n in counts.items() if n and k != PLANNED)
    click.echo(
        f"共 {len(rows)} 封邮件。截至 {cn_date_short(local_date(now))}（--now）："
        f"{past or '没有已发送的邮件'}；此后按提醒规则推算将发送 {counts[PLANNED]} 封"
        "（假设无人标记完成）。"
    )


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


@outbox_group.command("retry", epilog="示例：srz outbox retry 42    srz outbox retry 42 --message")
@click.argument("notification_id", type=int)
@click.option(
    "--message",
    "whole_message",
    is_flag=True,
    help="同一封邮件的其他失败通知一并重发（邮件被服务器整体拒收时）",
)
@click.option("--now", "now_text", metavar="DATETIME")
@pass_state
def outbox_retry_command(
    state: CliState, notification_id: int, whole_message: bool, now_text: str | None
) -> None:
    """把失败（或待重试）的一条通知重新排入发送队列。"""
    from srz_tracker.clock import parse_now
    from srz_tracker.notify.outbox import retry_notification
    from srz_tracker.store import db

    now = parse_now(now_text)
    with db.write_session(state.engine) as session:
        count = retry_notification(session, notification_id, now, whole_message)
    if count > 1:
        click.echo(
            f"通知 {notification_id} 及同一封邮件的其他 {count - 1} 条通知已重新排入发送队列，"
            "将在下一次提醒时发送"
        )
    else:
        click.echo(f"通知 {notification_id} 已重新排入发送队列，将在下一次提醒时发送")
