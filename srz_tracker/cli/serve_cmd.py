"""``srz serve``: the web pages that the emails' links open, under uvicorn.

The command checks what the server needs (an initialized database, a signing secret)
and hands uvicorn the app's import string: the web package and the CLI are siblings
that never import each other, and every worker process builds its app from the same
environment."""

from __future__ import annotations

import click

from srz_tracker.cli.common import CliState, pass_state


@click.command(
    "serve",
    epilog="示例：SRZ_WEB_SECRET=... srz serve\n\n"
    "      srz serve --host 127.0.0.1 --port 8080 --workers 2",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 32), help="工作进程数"
)
@click.option("--now", "now_text", metavar="DATETIME", help="固定时刻（试用与测试）")
@pass_state
def serve_command(
    state: CliState, host: str, port: int, workers: int, now_text: str | None
) -> None:
    """启动网页服务：邮件中的链接打开事项页面，可登记办结、上传材料、申请延期。

    需要签名密钥（环境变量 SRZ_WEB_SECRET 或配置 [web] secret_file），没有则拒绝启动；
    邮件中的链接以 web.base_url（SRZ_WEB_BASE_URL）开头。
    """
    import os

    import uvicorn

    from srz_tracker.clock import parse_now
    from srz_tracker.links import link_signer

    settings = state.settings
    link_signer(settings, required=True)  # no secret: refuse to start, before the port
    state.engine  # noqa: B018 (the database must be initialized and current)
    os.environ["SRZ_DATABASE_URL"] = settings.database_url
    if settings.config_path:
        os.environ["SRZ_CONFIG"] = str(settings.config_path)
    if now_text:
        os.environ["SRZ_WEB_NOW"] = parse_now(now_text).isoformat()
    click.echo(
        f"网页服务：http://{host}:{port}（{workers} 个工作进程）；邮件链接地址："
        f"{settings.web.base_url or '未设置 web.base_url，邮件中不带链接'}",
        err=True,
    )
    uvicorn.run(
        "srz_tracker.web.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # the app logs each request with its token left out
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
    )
