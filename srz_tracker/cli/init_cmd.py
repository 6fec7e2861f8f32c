"""``srz init`` and ``srz demo``."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, pass_state


def initialize(state: CliState) -> None:
    from srz_tracker.config import redact_url
    from srz_tracker.store import db, migrate

    engine = db.get_engine(state.settings.database_url)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    after = migrate.current_revision(engine)
    url = redact_url(state.settings.database_url)
    if before == after:
        click.echo(f"数据库已是最新（版本 {after}）：{url}")
    else:
        click.echo(f"数据库已初始化/升级到版本 {after}：{url}")


@click.command("init", epilog="示例：srz init    srz --db postgresql://srz@localhost/srz init")
@pass_state
def init_command(state: CliState) -> None:
    """创建数据库或升级到最新结构。可重复执行，不会丢失数据。"""
    initialize(state)


@click.command(
    "demo",
    epilog="示例：srz demo    srz --db sqlite:///demo.db demo --now 2023-12-20",
)
@click.option("--now", "now_text", metavar="DATETIME", help="按此时刻显示（默认当前时间）")
@pass_state
def demo_command(state: CliState, now_text: str | None) -> None:
    """一键体验：建库，导入内置实施方案与示例名录（已导入则跳过），显示任务总览。

    方案年度已过时，同时按方案的月-日为今年生成同样的义务，总览显示今年。
    """
    from srz_tracker.cli.actor import current_actor
    from srz_tracker.cli.plan_cmd import print_overview
    from srz_tracker.clock import local_date, parse_now
    from srz_tracker.directory.read import read_directory_files
    from srz_tracker.plan.schema import load_plan_file
    from srz_tracker.resources import BUNDLED_PLAN, SAMPLE_DIRECTORY, bundled_file
    from srz_tracker.store import db
    from srz_tracker.tasks.intake import has_institutions, import_directory, load_plan

    initialize(state)
    now = parse_now(now_text)
    spec = load_plan_file(bundled_file(BUNDLED_PLAN))  # type: ignore[arg-type]
    directory = read_directory_files([bundled_file(n) for n in SAMPLE_DIRECTORY])  # type: ignore[misc]
    this_year = local_date(now, spec.timezone).year
    # A plan whose year is over is shown for the year that is running: its obligations
    # and month-day dates carried over, the way `srz plan load --year` does it.
    shown = max(spec.year, this_year)
    actor = current_actor()
    with db.write_session(state.engine) as session:
        loaded, _ = load_plan(session, spec, now, actor, [shown])
        click.echo(
            f"实施方案 {loaded.plan_key}：{loaded.obligations} 项义务，"
            f"年度 {'、'.join(map(str, loaded.years))}"
        )
        if not has_institutions(session):
            result, _ = import_directory(session, directory, now, actor)
            click.echo(
                f"示例名录：{result.institutions_created} 个机构，"
                f"{result.contacts_created} 位联系人"
            )
    print_overview(state, now, shown, spec.year)
