"""``srz status``: daemon, outbox and configuration at a glance; a monitoring check."""

from __future__ import annotations

from typing import Any

import click

from srz_tracker.cli.common import CliState, echo_json, pass_state

_STATES = {
    "active": "运行中",
    "once": "最近一次单轮执行（--once）",
    "stale": "无心跳（可能已挂起）",
    "stopped": "已停止（正常退出）",
    "expired": "已停止（异常退出，租约已过期）",
    "never": "从未运行",
}
_CONFIG = {
    "database": "数据库",
    "config_file": "配置文件",
    "transport": "发送方式",
    "smtp_host": "SMTP 服务器",
    "smtp_port": "SMTP 端口",
    "smtp_security": "SMTP 加密",
    "smtp_user": "SMTP 用户",
    "mail_from": "发件人",
    "maildir": "本地邮件目录",
    "send_hour": "发送时刻（时）",
    "interval_seconds": "执行间隔（秒）",
    "weekly_summary": "发送工作周报",
    "digest_max_items": "汇总邮件完整列出（项）",
    "holiday_overrides": "节假日覆盖（天）",
    "workday_overrides": "调休上班覆盖（天）",
    "data_dir": "数据目录（上传材料）",
    "web_base_url": "网页地址（邮件链接）",
    "web_secret_set": "已配置链接签名密钥",
}
_COUNTS = {
    "tasks": "到期任务",
    "planned": "安排",
    "skipped": "跳过",
    "weekly": "周报",
    "messages": "邮件",
    "sent": "已发送",
    "failed": "失败",
    "retrying": "待重试",
    "cancelled": "取消",
}


@click.command(
    "status",
    epilog="示例：srz status\n\n      srz status --format json\n\n"
    "      （退出码：0 守护进程运行中；3 两个间隔内无心跳，可用于监控检查）",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def status_command(state: CliState, fmt: str) -> None:
    """查看守护进程是否在运行、发件箱情况与当前生效的配置（不显示密码）。"""
    from srz_tracker.daemon.status import EXIT_NOT_ALIVE, collect_status

    data = collect_status(state.engine, state.settings)
    if fmt == "json":
        echo_json(data)
    else:
        _print(data)
    if not data["daemon"]["alive"]:
        if fmt == "table":
            click.echo(
                "守护进程未在运行：请用 srz run 或 systemctl start srz-tracker 启动", err=True
            )
        raise SystemExit(EXIT_NOT_ALIVE)


def _local(value: str | None) -> str:
    if not value:
        return "—"
    import datetime as dt
    from zoneinfo import ZoneInfo

    from srz_tracker.clock import DEFAULT_TZ

    local = dt.datetime.fromisoformat(value).astimezone(ZoneInfo(DEFAULT_TZ))
    return local.strftime("%Y-%m-%d %H:%M:%S")


def _print(data: dict[str, Any]) -> None:
    from srz_tracker.cli.output import print_table
    from srz_tracker.labels import NOTIFICATION_STATUS

    d = data["daemon"]
    rows: list[dict[str, Any]] = [{"k": "状态", "v": _STATES.get(d["state"], d["state"])}]
    if d["state"] != "never":
        counts = d.get("last_pass_counts") or {}
        if "error" in counts:
            result = f"出错：{counts['error']}"
        else:
            result = "，".join(
                f"{label} {counts[k]}" for k, label in _COUNTS.items() if k in counts
            )
        age = d.get("heartbeat_age_seconds")
        seconds = d.get("last_pass_seconds")
        rows += [
            {"k": "持有者", "v": d["holder"]},
            {"k": "主机 / 进程号", "v": f"{d['host']} / {d['pid']}"},
            {
                "k": "最近心跳",
                "v": _local(d["heartbeat_at"])
                + (f"（{max(age, 0):g} 秒前）" if age is not None else ""),
            },
            {"k": "租约到期", "v": _local(d["lease_expires_at"])},
            {"k": "执行间隔（秒）", "v": d["interval_seconds"]},
            {"k": "上一轮时间", "v": _local(d["last_pass_at"])},
            {"k": "上一轮结果", "v": result or "—"},
            {"k": "上一轮耗时（秒）", "v": seconds if seconds is not None else "—"},
        ]
    columns = [("k", "项目"), ("v", "值")]
    print_table(columns, rows, title=f"守护进程（北京时间，当前 {_local(data['now'])}）")

    o = data["outbox"]
    rows = [
        {"k": label, "v": o["counts"].get(key, 0)} for key, label in NOTIFICATION_STATUS.items()
    ]
    next_step = _local(o["next_task_step_at"])
    if o.get("tasks_to_plan"):
        # Tasks loaded or changed since the last pass: their steps are not worked out yet.
        next_step = f"{o['tasks_to_plan']} 项任务待下一轮执行时安排" + (
            f"；其余最早 {next_step}" if o["next_task_step_at"] else ""
        )
    rows += [
        {"k": "最早待发送时间", "v": _local(o["next_pending_send_at"])},
        {"k": "下一个提醒步骤", "v": next_step},
    ]
    print_table(columns, rows, title="发件箱")
    if o["counts"].get("skipped"):
        click.echo(
            f"已跳过的 {o['counts']['skipped']} 条是没有发出、也不会补发的提醒步骤："
            "守护进程停机期间或任务生成之前已经过时的步骤（每项任务只发最新的一步），"
            "以及没有收件人的步骤。"
        )
    if o["failed"]:
        print_table(
            [
                ("id", "编号"),
                ("task_id", "任务"),
                ("kind", "类型"),
                ("to", "收件人"),
                ("attempts", "次数"),
                ("last_error", "错误"),
            ],
            o["failed"],
            title="发送失败的通知（最近 20 条；srz outbox retry 编号 可重试）",
        )
    config = data["config"]
    rows = [{"k": _CONFIG.get(k, k), "v": "—" if v is None else v} for k, v in config.items()]
    print_table(columns, rows, title="当前配置")
    for warning in data["warnings"]:
        click.echo(f"警告：{warning}", err=True)
    for problem in data["problems"]:
        click.echo(f"配置问题：{problem}", err=True)
