"""``srz run``: the background daemon."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, check_sending_config, pass_state


@click.command(
    "run",
    epilog="示例：srz run\n\n"
    "      srz --config /etc/srz-tracker/srz.toml run --interval 600\n\n"
    "      srz run --once    （供 cron 使用：执行一次后退出）",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    metavar="SECONDS",
    help="两次提醒之间的间隔秒数（默认取配置 interval_seconds，即 900）",
)
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=0.3),
    default=60.0,
    show_default=True,
    envvar="SRZ_LEASE_SECONDS",
    metavar="N",
    help="发送租约时长：当前守护进程意外退出后，备用进程最迟在此时间内接替",
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="收到停止信号后，正在进行的一轮最多再开始发送邮件的秒数",
)
@click.option("--once", is_flag=True, help="只执行一轮（持有租约时）后退出，供 cron 使用")
@click.option("-v", "--verbose", is_flag=True, help="输出调试日志")
@pass_state
def run_command(
    state: CliState,
    interval: float | None,
    lease_seconds: float,
    stop_grace: float,
    once: bool,
    verbose: bool,
) -> None:
    """启动后台守护进程：按间隔安排并发送到期的提醒与督办邮件。

    同一数据库上可运行多个守护进程：只有持有租约的一个发送，其余待命，在其停止后接替。

    日志（英文，带时间）输出到标准错误；SIGTERM 或 Ctrl-C 在本轮结束后停止。

    未配置 SMTP 时邮件写入本地邮件目录（maildir）。用 srz status 查看运行状态。
    """
    import logging

    from srz_tracker.daemon.run import Daemon, setup_logging

    settings = state.settings
    check_sending_config(settings)  # before the daemon starts: a refusal exits 2
    setup_logging(logging.DEBUG if verbose else logging.INFO)
    engine = state.engine
    _warn(state)
    daemon = Daemon(
        engine,
        settings,
        interval=interval if interval is not None else float(settings.interval_seconds),
        lease_seconds=lease_seconds,
        stop_grace=stop_grace,
    )
    code = daemon.run_once() if once else daemon.run_forever()
    if code:
        raise SystemExit(code)


def _warn(state: CliState) -> None:
    """What ``srz status`` warns about, said once at start-up (in Chinese, to stderr)."""
    from srz_tracker.clock import utcnow
    from srz_tracker.notify.passes import startup_warnings

    try:
        warnings = startup_warnings(state.engine, state.settings, utcnow())
    except Exception:  # a warning never keeps the daemon from starting (it retries)
        return
    for warning in warnings:
        click.echo(f"警告：{warning}", err=True)
