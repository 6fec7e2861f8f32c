"""``srz evidence get``: the office takes out a file uploaded on a task's page."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, pass_state


@click.group("evidence", epilog="示例：srz show 26    srz evidence get 3 -o 工作总结.pdf")
def evidence_group() -> None:
    """网页上传的佐证材料（srz show 任务 列出每个文件的编号与 sha256）。"""


@evidence_group.command("get", epilog="示例：srz evidence get 3 -o 工作总结.pdf")
@click.argument("file_id", type=int)
@click.option(
    "-o", "--output", "output", required=True, metavar="FILE", help="导出到此文件（- 为标准输出）"
)
@pass_state
def evidence_get(state: CliState, file_id: int, output: str) -> None:
    """导出一个材料文件（按编号），并核对其 sha256。"""
    import hashlib
    import sys
    from pathlib import Path

    from srz_tracker.errors import UsageError
    from srz_tracker.store import db
    from srz_tracker.tasks.evidence import EvidenceStore, get_file

    with db.read_session(state.engine) as session:
        row = get_file(session, file_id)
        sha256, filename, size, task_id = row.sha256, row.filename, row.size, row.task_id
    store = EvidenceStore.of(state.settings)
    if output == "-":
        data = store.path_of(sha256).read_bytes() if store.path_of(sha256).is_file() else None
        if data is None:
            store.export(sha256, Path("/dev/null"))  # raises NotFound with the reason
        sys.stdout.buffer.write(data or b"")
        return
    target = Path(output)
    if target.is_dir():
        raise UsageError(f"{output} 是目录：请给出文件名，如 {output}/{filename}")
    store.export(sha256, target)
    if hashlib.sha256(target.read_bytes()).hexdigest() != sha256:
        raise UsageError(f"文件 {file_id} 的内容与登记的 sha256 不符：数据目录中的文件已损坏")
    click.echo(f"已导出材料 {file_id}（任务 {task_id}，{filename}，{size} 字节）到 {output}")
