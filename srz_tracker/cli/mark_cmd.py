"""``srz done|reopen|waive|extend``: the writing commands. Each runs in one transaction."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, pass_state
from srz_tracker.kinds import TaskStatus

_now_option = click.option("--now", "now_text", metavar="DATETIME", help="操作时刻（默认当前时间）")
_by_option = click.option("--by", help="操作人（默认 SRZ_USER 或当前登录名）")


@click.command(
    "done",
    epilog="示例：srz done 12 --on 2023-06-20 --evidence 桂农质函〔2023〕5号 --note 已报送\n\n"
    "      srz done 77 --on 2023-06-12 --evidence 签到表.pdf   （计次任务记录一次）\n\n"
    "      srz done 7 8 9 --on 2023-06-28 --no-evidence-reason 纸质材料已归档",
)
@click.argument("tasks", nargs=-1, required=True)
@click.option(
    "--on",
    "on_text",
    metavar="DATE",
    help="实际完成的日期（默认今天）；不能早于任务期间的开始，也不能晚于今天",
)
@_by_option
@click.option("--note", help="备注")
@click.option("--evidence", help="佐证材料：文件路径、文号或受理编号")
@click.option("--no-evidence-reason", "no_evidence_reason", help="无佐证材料时说明原因")
@_now_option
@pass_state
def done_command(
    state: CliState,
    tasks: tuple[str, ...],
    on_text: str | None,
    by: str | None,
    note: str | None,
    evidence: str | None,
    no_evidence_reason: str | None,
    now_text: str | None,
) -> None:
    """标记任务完成。计次任务（如每年集中培训 2 次）每次记录一次，达到次数即完成。

    TASK 为任务编号，或“义务id:对象:期间”，如 city-summary-report:南宁市:2023。
    所有任务一并校验，任何一项有误则全部不写入。
    """
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import local_date, parse_date, parse_now
    from srz_tracker.errors import UsageError
    from srz_tracker.store import db
    from srz_tracker.tasks.ops import mark_done, resolve_task
    from srz_tracker.tasks.query import plan_timezone

    now = parse_now(now_text)
    actor = current_actor(by)
    messages = []
    with db.write_session(state.engine) as session:
        today = local_date(now, plan_timezone(session))
        on = parse_date(on_text, "--on") if on_text else today
        if on > today:
            raise UsageError(
                f"完成日期 {on} 晚于今天（{today}）：不能登记将来的完成，请用 --on 写实际完成的日期"
            )
        for ref in tasks:
            task = resolve_task(session, ref, lock=True)
            result = mark_done(session, task, now, on, actor, note, evidence, no_evidence_reason)
            if result.already_done:
                messages.append(f"任务 {task.id} 已经是完成状态（{task.completed_on}），未作改动")
            elif task.status == TaskStatus.DONE:
                messages.append(
                    f"任务 {task.id} 已完成：{task.obligation.title}"
                    f"（{task.done_count}/{task.required_count}）"
                )
            else:
                messages.append(
                    f"任务 {task.id} 已记录 1 次：{task.obligation.title}"
                    f"，进度 {task.done_count}/{task.required_count}"
                )
    click.echo("\n".join(messages))


@click.command("reopen", epilog="示例：srz reopen 12")
@click.argument("task")
@_by_option
@_now_option
@pass_state
def reopen_command(state: CliState, task: str, by: str | None, now_text: str | None) -> None:
    """重新打开已完成、已豁免或不适用的任务。"""
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.ops import reopen, resolve_task

    with db.write_session(state.engine) as session:
        t = resolve_task(session, task, lock=True)
        changed = reopen(session, t, parse_now(now_text), current_actor(by))
    click.echo(
        f"任务 {t.id} 已重新打开" if changed else f"任务 {t.id} 本来就是未完成状态，未作改动"
    )


@click.command("waive", epilog="示例：srz waive 12 --reason 机构已撤并")
@click.argument("task")
@click.option("--reason", required=True, help="豁免理由（必填）")
@_by_option
@_now_option
@pass_state
def waive_command(
    state: CliState, task: str, reason: str, by: str | None, now_text: str | None
) -> None:
    """豁免任务：不再提醒，不计入完成率。"""
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.ops import resolve_task, waive

    with db.write_session(state.engine) as session:
        t = resolve_task(session, task, lock=True)
        waive(session, t, parse_now(now_text), current_actor(by), reason)
    click.echo(f"任务 {t.id} 已豁免：{reason}")


@click.command("extend", epilog="示例：srz extend 12 --to 2024-01-15 --reason 因疫情顺延")
@click.argument("task")
@click.option("--to", "to_text", required=True, metavar="DATE", help="新期限 YYYY-MM-DD")
@click.option("--reason", required=True, help="延期理由（必填）")
@_by_option
@_now_option
@pass_state
def extend_command(
    state: CliState, task: str, to_text: str, reason: str, by: str | None, now_text: str | None
) -> None:
    """延长任务期限；提醒按新期限重新安排。"""
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import parse_date, parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.ops import extend, resolve_task

    to = parse_date(to_text, "--to")
    with db.write_session(state.engine) as session:
        t = resolve_task(session, task, lock=True)
        old = t.due_on
        extend(session, t, parse_now(now_text), current_actor(by), to, reason)
    click.echo(f"任务 {t.id} 期限已由 {old} 延至 {to}：{reason}")
