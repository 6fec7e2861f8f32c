"""``srz tasks``, ``srz show`` and ``srz log``: looking, never writing."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, echo_json, pass_state
from srz_tracker.kinds import TaskStatus

TASK_COLUMNS = [
    ("id", "编号"),
    ("title", "任务"),
    ("city", "市"),
    ("institution", "机构"),
    ("period", "期间"),
    ("due_on", "期限"),
    ("status_text", "状态"),
    ("progress", "进度"),
    ("completed_on", "完成日期"),
]


@click.command(
    "tasks",
    epilog="示例：srz tasks --city 南宁市\n\n"
    "      srz tasks --status overdue --now 2024-01-05 --format json\n\n"
    "      srz tasks --obligation city-summary-report --format csv > 报告任务.csv",
)
@click.option("--city", help="市名，如 南宁市")
@click.option("--institution", help="机构名称")
@click.option("--obligation", help="义务 id，如 city-summary-report（srz plan show 可查）")
@click.option(
    "--status",
    # Values, not members: click offers an enum member by its name ("OPEN").
    type=click.Choice([*(s.value for s in TaskStatus), "overdue", "all"]),
    default="all",
    show_default=True,
)
@click.option("--due-before", "due_before", metavar="DATE", help="只列期限早于该日期的任务")
@click.option("--now", "now_text", metavar="DATETIME", help="判断逾期所用的时刻（默认当前时间）")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@pass_state
def tasks_command(
    state: CliState,
    city: str | None,
    institution: str | None,
    obligation: str | None,
    status: str,
    due_before: str | None,
    now_text: str | None,
    fmt: str,
) -> None:
    """列出任务。"""
    from srz_tracker.clock import parse_date, parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.query import TaskFilter, list_tasks

    f = TaskFilter(
        city=city,
        institution=institution,
        obligation=obligation,
        status=status,
        due_before=parse_date(due_before, "--due-before") if due_before else None,
    )
    now = parse_now(now_text)
    with db.read_session(state.engine) as session:
        rows = list_tasks(session, f, now)
    if fmt == "json":
        echo_json(rows)
        return
    from srz_tracker.labels import status_label

    for r in rows:
        r["status_text"] = status_label("overdue" if r["overdue"] else r["status"])
    if fmt == "csv":
        from srz_tracker.cli.output import print_csv

        print_csv(
            [(k, h) for k, h in TASK_COLUMNS if k != "status_text"]
            + [("status", ""), ("overdue", ""), ("obligation", ""), ("key", "")],
            rows,
        )
        return
    from srz_tracker.cli.output import print_table

    columns = TASK_COLUMNS
    if any(r["extension_request"] for r in rows):
        # Shown only when some task has one, so that the usual listing stays as it was.
        for r in rows:
            request = r["extension_request"]
            r["request_text"] = f"申请延至 {request['to']}" if request else ""
        columns = [*TASK_COLUMNS, ("request_text", "延期申请")]
    print_table(columns, rows)
    click.echo(f"共 {len(rows)} 项")


@click.command("show", epilog="示例：srz show 12    srz show city-summary-report:南宁市:2023")
@click.argument("task")
@click.option("--now", "now_text", metavar="DATETIME")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def show_command(state: CliState, task: str, now_text: str | None, fmt: str) -> None:
    """查看一项任务：依据条款、对象、期限、进度、完成记录、延期与日志。

    TASK 为任务编号，或“义务id:对象:期间”（对象为市名、机构名称或“自治区”）。
    """
    from srz_tracker.clock import local_date, parse_now
    from srz_tracker.labels import status_label
    from srz_tracker.store import db
    from srz_tracker.tasks.evidence import file_rows, size_text
    from srz_tracker.tasks.ops import resolve_task
    from srz_tracker.tasks.query import audit_log, plan_timezone, task_row
    from srz_tracker.tasks.requests import requests_for_task
    from srz_tracker.text import quoted

    now = parse_now(now_text)
    with db.read_session(state.engine) as session:
        t = resolve_task(session, task)
        today = local_date(now, plan_timezone(session))
        ob = t.obligation
        row = task_row(
            t,
            ob.key,
            ob.title,
            t.city.name if t.city else None,
            t.institution.name if t.institution else None,
            today,
        )
        row.update(
            {
                "clause": ob.clause,
                "quote": ob.quote,
                "actor": ob.actor,
                "evidence_required": ob.evidence,
                "original_due_on": t.original_due_on.isoformat(),
                "note": t.note,
                "evidence": t.evidence,
                "no_evidence_reason": t.no_evidence_reason,
                "occurrences": [
                    {
                        "on": o.occurred_on.isoformat(),
                        "by": o.recorded_by,
                        "note": o.note,
                        "evidence": o.evidence,
                        "no_evidence_reason": o.no_evidence_reason,
                        "revoked": o.revoked_at is not None,
                    }
                    for o in t.occurrences
                ],
                "extensions": [
                    {
                        "from": e.from_due_on.isoformat(),
                        "to": e.to_due_on.isoformat(),
                        "reason": e.reason,
                    }
                    for e in t.extensions
                ],
                "log": audit_log(session, t.id),
                "files": file_rows(session, t.id),
                "extension_requests": [
                    {
                        "to": r.to_due_on.isoformat(),
                        "reason": r.reason,
                        "by": r.requested_by,
                        "name": r.requester_name,
                        "status": r.status,
                    }
                    for r in requests_for_task(session, t.id)
                ],
            }
        )
    if fmt == "json":
        echo_json(row)
        return
    status = status_label("overdue" if row["overdue"] else row["status"])
    lines = [
        f"任务 {row['id']}：{row['title']}",
        f"  键：{row['key']}",
        f"  依据：《实施方案》{row['clause']}：{quoted(row['quote'])}",
        f"  对象：{row['institution'] or row['city'] or '自治区'}",
        f"  责任：{row['actor'] or ''}",
        f"  期间：{row['period']}    期限：{row['due_on']}"
        + (
            f"（原期限 {row['original_due_on']}）"
            if row["original_due_on"] != row["due_on"]
            else ""
        ),
        f"  状态：{status}    进度：{row['progress']}"
        + (f"    完成日期：{row['completed_on']}" if row["completed_on"] else ""),
        f"  所需佐证：{row['evidence_required'] or '无'}",
    ]
    for o in row["occurrences"]:
        parts = [o["on"], o["by"], o["note"]]
        parts.append(f"佐证：{o['evidence']}" if o["evidence"] else None)
        parts.append(f"无佐证原因：{o['no_evidence_reason']}" if o["no_evidence_reason"] else None)
        parts.append("（已因重新打开而撤销，不计入进度）" if o["revoked"] else None)
        lines.append("  完成记录：" + " ".join(p for p in parts if p))
    for e in row["extensions"]:
        lines.append(f"  延期：{e['from']} → {e['to']}（{e['reason']}）")
    if row["no_evidence_reason"]:
        lines.append(f"  无佐证原因：{row['no_evidence_reason']}")
    for r in row["extension_requests"]:
        state_text = {"pending": "待处理", "applied": "已延期", "closed": "已结束"}
        lines.append(
            f"  延期申请：至 {r['to']}（{r['reason']}）{r['name'] or ''} {r['by']}"
            f" [{state_text.get(r['status'], r['status'])}]"
        )
    for f in row["files"]:
        lines.append(
            f"  材料 {f['id']}：{f['filename']}（{f['content_type']}，{size_text(f['size'])}）"
            f" sha256 {f['sha256']} 上传者 {f['uploader_name'] or ''} {f['uploaded_by']}"
            f"（{f['source']}）"
        )
    if row["files"]:
        lines.append("  导出材料：srz evidence get 编号 -o 文件名")
    click.echo("\n".join(lines))


@click.command("log", epilog="示例：srz log    srz log --task 12 --format json")
@click.option("--task", "task_ref", help="只看该任务（编号或键）")
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def log_command(state: CliState, task_ref: str | None, limit: int, fmt: str) -> None:
    """查看操作日志：谁在何时做了什么（完成、重开、豁免、延期、导入、加载）。"""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from srz_tracker.store import db
    from srz_tracker.tasks.ops import resolve_task
    from srz_tracker.tasks.query import audit_log, plan_timezone

    with db.read_session(state.engine) as session:
        task_id = resolve_task(session, task_ref).id if task_ref else None
        rows = audit_log(session, task_id, limit)
        tz = ZoneInfo(plan_timezone(session))
    if fmt == "json":
        echo_json(rows)
        return
    from srz_tracker.cli.output import print_table
    from srz_tracker.labels import action_label, detail_text

    for r in rows:
        r["at_local"] = dt.datetime.fromisoformat(r["at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        r["action_text"] = action_label(r["action"])
        r["detail_text"] = detail_text(r["detail"])
    print_table(
        [
            ("id", "序号"),
            ("at_local", "时间"),
            ("actor", "操作人"),
            ("action_text", "操作"),
            ("task_id", "任务"),
            ("detail_text", "详情"),
        ],
        rows,
    )
