"""``srz org import|list`` and ``srz cert set``."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, echo_json, pass_state
from srz_tracker.kinds import CertKind, CertStatus


@click.group(
    "org",
    epilog="示例：srz org import schedules/sample-institutions.csv "
    "schedules/sample-contacts.csv    srz org list --city 南宁市",
)
def org_group() -> None:
    """机构与联系人名录。"""


@org_group.command(
    "import",
    epilog="示例：srz org import schedules/sample-institutions.csv "
    "schedules/sample-contacts.csv\n\n"
    "      srz org import 名录.xlsx",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--now", "now_text", metavar="DATETIME", help="以此时刻判断认证条件（默认当前时间）")
@pass_state
def import_command(state: CliState, files: tuple[str, ...], now_text: str | None) -> None:
    """导入机构（含 CATL/CMA 状态）与联系人（CSV 或 XLSX）。

    先校验所有文件的每一行，任何一行有错则全部不导入。机构表的列：city, county, name,
    code, catl_status, catl_date, cma_status, cma_date（状态：none/applied/certified/expired）；
    联系人表的列：scope(region/city/institution), city, institution, role(contact/leader/office),
    name, email, phone。
    """
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import parse_now
    from srz_tracker.directory.read import read_directory
    from srz_tracker.store import db
    from srz_tracker.tasks.intake import import_directory

    data, problems = read_directory(list(files))
    for path, encoding in data.encodings.items():
        click.echo(f"注意：{path} 不是 UTF-8 编码，已按 {encoding} 读取")
    now = parse_now(now_text)
    with db.write_session(state.engine) as session:
        r, tasks = import_directory(session, data, now, current_actor(), problems)
    click.echo(
        f"已导入：机构新增 {r.institutions_created}、更新 {r.institutions_updated}；"
        f"联系人新增 {r.contacts_created}、更新 {r.contacts_updated}；"
        f"任务新增 {tasks.created}、转为不适用 {tasks.not_applicable}、"
        f"恢复 {tasks.reopened}"
    )


@org_group.command("list", epilog="示例：srz org list --city 百色市")
@click.option("--city", help="只看该市")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--now", "now_text", metavar="DATETIME")
@pass_state
def list_command(state: CliState, city: str | None, fmt: str, now_text: str | None) -> None:
    """列出机构及其认证状态。"""
    from srz_tracker.cli.output import print_table
    from srz_tracker.clock import local_date, parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.query import institution_rows

    today = local_date(parse_now(now_text))
    with db.read_session(state.engine) as session:
        rows = institution_rows(session, city, today)
    if fmt == "json":
        echo_json(rows)
    else:
        print_table(
            [
                ("city", "市"),
                ("county", "县"),
                ("name", "机构"),
                ("CATL", "CATL"),
                ("CMA", "CMA"),
                ("dual_certified", "双认证"),
            ],
            rows,
        )


@click.group(
    "cert",
    epilog="示例：srz cert set 南宁市示例县甲县级质检机构（占位） CATL certified --on 2023-10-12",
)
def cert_group() -> None:
    """机构认证状态。"""


@cert_group.command(
    "set",
    epilog="示例：srz cert set 南宁市示例县甲县级质检机构（占位） CMA certified --on 2023-10-12 "
    "--number 2023XXXX",
)
@click.argument("institution")
# Values, not members: click offers an enum member by its name.
@click.argument("kind", type=click.Choice([k.value for k in CertKind], case_sensitive=False))
@click.argument("status", type=click.Choice([s.value for s in CertStatus]))
@click.option("--on", "on_text", metavar="DATE", help="日期（申请日、发证日或过期日）")
@click.option("--number", help="证书编号或受理编号")
@click.option("--now", "now_text", metavar="DATETIME")
@click.option("--by", help="操作人（默认当前登录名）")
@pass_state
def cert_set_command(
    state: CliState,
    institution: str,
    kind: str,
    status: str,
    on_text: str | None,
    number: str | None,
    now_text: str | None,
    by: str | None,
) -> None:
    """记录认证变化；条件不再满足的任务转为“不适用”，新满足条件的任务随之生成。"""
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.clock import parse_date, parse_now
    from srz_tracker.store import db
    from srz_tracker.tasks.intake import set_certification

    on = parse_date(on_text, "--on") if on_text else None
    now = parse_now(now_text)
    with db.write_session(state.engine) as session:
        r = set_certification(
            session, institution, kind, status, on, number, now, current_actor(by)
        )
    click.echo(
        f"已记录 {institution} {kind.upper()}：{status}。任务新增 {r.created}、"
        f"转为不适用 {r.not_applicable}、恢复 {r.reopened}"
    )
