"""The ``srz`` command. Subcommands are imported only when called, so that ``srz --help``
stays fast: heavy libraries (rich, openpyxl, yagmail, apscheduler) load in the commands
that need them."""

from __future__ import annotations

import gc
import importlib
import sys
from typing import IO, Any

import click

from srz_tracker.cli import zh_click
from srz_tracker.cli.common import CliState
from srz_tracker.errors import InputFileError, SrzError

zh_click.install()

# name -> "module:attribute"; each module holds one command or one group.
COMMANDS: dict[str, str] = {
    "init": "srz_tracker.cli.init_cmd:init_command",
    "plan": "srz_tracker.cli.plan_cmd:plan_group",
    "org": "srz_tracker.cli.org_cmd:org_group",
    "cert": "srz_tracker.cli.org_cmd:cert_group",
    "tasks": "srz_tracker.cli.tasks_cmd:tasks_command",
    "show": "srz_tracker.cli.tasks_cmd:show_command",
    "done": "srz_tracker.cli.mark_cmd:done_command",
    "reopen": "srz_tracker.cli.mark_cmd:reopen_command",
    "waive": "srz_tracker.cli.mark_cmd:waive_command",
    "extend": "srz_tracker.cli.mark_cmd:extend_command",
    "log": "srz_tracker.cli.tasks_cmd:log_command",
    "demo": "srz_tracker.cli.init_cmd:demo_command",
    "templates": "srz_tracker.cli.mail_cmd:templates_group",
    "mail": "srz_tracker.cli.mail_cmd:mail_group",
    "expense": "srz_tracker.cli.money_cmd:expense_group",
    "indicator": "srz_tracker.cli.money_cmd:indicator_group",
    "incident": "srz_tracker.cli.money_cmd:incident_group",
    "report": "srz_tracker.cli.report_cmd:report_command",
    "calendar": "srz_tracker.cli.calendar_cmd:calendar_command",
    "remind": "srz_tracker.cli.remind_cmd:remind_command",
    "preview": "srz_tracker.cli.remind_cmd:preview_command",
    "outbox": "srz_tracker.cli.remind_cmd:outbox_group",
    "run": "srz_tracker.cli.run_cmd:run_command",
    "status": "srz_tracker.cli.status_cmd:status_command",
}

# Commands that read or change a few rows and exit (never the daemon, a pass or a bulk
# import): run from ``main()`` (a process of their own, not a test runner) they run
# without the cyclic garbage collector.
QUICK_COMMANDS = frozenset({"done", "reopen", "waive", "extend", "tasks", "show", "log"})
_own_process = False

HELP_SUMMARIES: dict[str, str] = {
    "init": "创建或升级数据库（可重复执行）",
    "plan": "校验、导入实施方案文件",
    "org": "导入机构与联系人名录",
    "cert": "记录机构的 CATL / CMA 认证状态",
    "tasks": "列出任务",
    "show": "查看一项任务的详情",
    "done": "标记任务完成（计次任务记录一次）",
    "reopen": "重新打开任务",
    "waive": "豁免任务（须说明理由）",
    "extend": "延长任务期限（须说明理由）",
    "log": "查看操作日志",
    "demo": "一键体验：建库、导入方案与示例名录并显示任务总览",
    "templates": "邮件模板检查",
    "mail": "邮件发送测试",
    "expense": "记录、查看专项资金支出（万元）",
    "indicator": "记录绩效指标（满意度）",
    "incident": "记录、查看重大农产品质量安全事件",
    "report": "绩效自评报告：表格、JSON、CSV、Excel、HTML 图表",
    "calendar": "导出未完成任务为日历文件（.ics）",
    "remind": "执行一次提醒：安排并发送到期的提醒与督办邮件",
    "preview": "预览一段时间内的提醒安排（不发送）",
    "outbox": "查看发件箱、重试失败的通知",
    "run": "启动后台守护进程，按间隔自动发送提醒",
    "status": "查看守护进程、发件箱与配置状态（供监控检查）",
}


class SrzCommandError(click.ClickException):
    """A core ``SrzError`` as click sees it: the Chinese message and the error's exit code,
    whether the command runs from ``main()``, from ``cli.main()`` or from a test runner."""

    def __init__(self, error: SrzError) -> None:
        super().__init__(str(error))
        self.error = error
        self.exit_code = error.exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        if isinstance(self.error, InputFileError) and self.error.problems:
            # One "FILE:LINE: message" per line, so that editors and grep can jump to it.
            for line in self.error.shown_lines():
                click.echo(line, err=True, file=file)
            count = len(self.error.problems)
            click.echo(f"错误：共 {count} 个问题，未写入任何数据。", err=True, file=file)
            return
        click.echo(f"错误：{self.format_message()}", err=True, file=file)


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SrzError as exc:
            raise SrzCommandError(exc) from exc
        except Exception as exc:
            # The sessions translate database errors already; this catches one raised
            # outside them (a pass's own session, a first connect) the same way.
            if type(exc).__module__.startswith("sqlalchemy"):
                from srz_tracker.store.failures import as_database_error

                translated = as_database_error(exc)
                if translated is not None:
                    raise SrzCommandError(translated) from exc
            raise

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        if cmd_name in QUICK_COMMANDS and _own_process:
            # A quick command spends most of its life importing SQLAlchemy and building
            # the mappers: long-lived objects the cyclic collector would scan for nothing
            # (about 25 ms of a `srz done`). The process ends right after.
            gc.disable()
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing would import every command module; the summaries are kept here instead.
        rows = [(name, HELP_SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("命令"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="示例：srz demo    srz tasks --city 南宁市    srz done 12 --note 已报送",
)
@click.option(
    "--db", "db_url", metavar="URL", help="数据库 URL（优先于 SRZ_DATABASE_URL 与配置文件）"
)
@click.option(
    "--config", "config_path", metavar="FILE", help="配置文件（默认 SRZ_CONFIG 或 ./srz.toml）"
)
@click.version_option(package_name="srz-tracker")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, config_path: str | None) -> None:
    """srz：县级质检机构“双认证”工作任务与期限提醒。"""
    ctx.obj = CliState(db_url=db_url, config_path=config_path)


def main() -> None:
    global _own_process
    _own_process = True
    try:
        # Without standalone mode click returns ctx.exit(n)'s code instead of exiting.
        code = cli.main(standalone_mode=False, prog_name="srz")
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("已取消。", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SrzError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
