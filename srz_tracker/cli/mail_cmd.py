"""``srz templates check`` and ``srz mail test``: the email layer without a database."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from srz_tracker.cli.common import CliState, check_sending_config, pass_state

if TYPE_CHECKING:
    from srz_tracker.mail.mime import OutgoingEmail


@click.group(
    "templates",
    epilog="示例：srz templates check",
)
def templates_group() -> None:
    """邮件模板检查。"""


@templates_group.command(
    "check",
    epilog="示例：srz templates check    （--dir 检查修改过的模板副本）",
)
@click.option(
    "--dir",
    "templates_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="模板目录（默认取配置项 templates_dir，即项目自带的 email_templates/）",
)
@pass_state
def check_command(state: CliState, templates_dir: Path | None) -> None:
    """编译全部邮件模板，并用示例数据渲染每一类邮件。

    \b
    检查：缺少的模板文件、语法错误（文件:行号）、未定义的变量、空主题，
    以及单项邮件缺少的必要信息（事项、条款原文、期限、责任主体、办结命令、联系方式）。
    有问题时逐条列出，并以状态码 1 退出。
    """
    from srz_tracker.mail.render import KINDS, Renderer

    directory = templates_dir or state.settings.templates_dir
    problems = Renderer(directory).check()
    if problems:
        click.echo(f"模板检查发现 {len(problems)} 个问题（{directory}）：", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    click.echo(f"模板检查通过：{len(KINDS)} 类邮件，模板目录 {directory}")


@click.group("mail", epilog="示例：srz mail test --to someone@example.org")
def mail_group() -> None:
    """邮件发送测试。"""


@mail_group.command(
    "test",
    epilog=(
        "\b\n示例：\n  srz mail test --to office@example.org\n"
        "  SRZ_TRANSPORT=console srz mail test --to a@example.org"
    ),
)
@click.option("--to", "to_addr", required=True, metavar="ADDRESS", help="收件地址")
@pass_state
def test_command(state: CliState, to_addr: str) -> None:
    """发送一封简短的测试邮件，并显示邮件去向。

    \b
    使用当前配置的发送方式（SMTP、本地邮件目录或控制台），
    用于检查 SMTP 服务器、账号和发件地址是否配置正确。
    发送失败时显示原因，并以状态码 1 退出；未加密连接上的明文登录被拒绝（状态码 2）。
    """
    from srz_tracker.errors import DeliveryError
    from srz_tracker.mail.transports import MaildirTransport, make_transport

    settings = state.settings
    address = to_addr.strip()
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(c.isspace() for c in address):
        raise click.BadParameter(f"{to_addr!r} 不是有效的邮件地址", param_hint="--to")

    check_sending_config(settings)
    message = _test_message(address, settings.mail_from, settings.effective_transport)
    transport = make_transport(settings)
    try:
        with transport:
            result = transport.send(message)
    except DeliveryError as exc:
        kind = "永久性错误，重试无效，请检查地址或配置" if exc.permanent else "可稍后重试"
        click.echo(f"测试邮件发送失败（{kind}）：{exc}", err=True)
        click.echo(f"发送方式：{transport.description}", err=True)
        sys.exit(1)
    if result.refused:
        for refused, (code, text) in result.refused.items():
            click.echo(f"服务器拒收 {refused}：{code} {text}", err=True)
        sys.exit(1)
    kind = settings.effective_transport
    if kind == "smtp":
        click.echo(f"测试邮件已交给 {transport.description}，收件人 {address}")
        click.echo(f"发件人 {settings.mail_from}，Message-ID {message.message_id}")
    elif kind == "maildir":
        assert isinstance(transport, MaildirTransport)
        where = settings.maildir / "new" / (transport.last_key or "")
        click.echo(f"测试邮件已写入本地邮件目录（未实际发出）：{where}")
        click.echo("如需真正发出，请配置 SMTP 服务器（SRZ_SMTP_HOST 或 srz.toml 的 [smtp]）。")
    elif kind == "console":
        click.echo("测试邮件已显示在上方（控制台方式，未实际发出）。")
    else:
        click.echo("测试邮件已丢弃（发送方式为 null，仅用于性能测试）。")


def _test_message(address: str, mail_from: str, transport: str) -> OutgoingEmail:
    from email.utils import make_msgid
    from html import escape

    from srz_tracker.mail.mime import OutgoingEmail
    from srz_tracker.text import cn_datetime

    now = dt.datetime.now(dt.UTC)
    domain = mail_from.rpartition("@")[2] or "localhost"
    when = cn_datetime(now)
    text = (
        "这是一封来自“双认证”工作提醒系统的测试邮件。\n\n"
        f"发送时间：{when}（北京时间）\n"
        f"发送方式：{transport}\n"
        f"发件地址：{mail_from}\n\n"
        "收到本邮件说明邮件发送配置正确，无需回复。\n"
    )
    html = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>测试邮件</title></head>"
        "<body style=\"font-family:'Microsoft YaHei','PingFang SC',sans-serif;"
        'font-size:15px;line-height:1.75;color:#1f2328;">'
        "<p>这是一封来自“双认证”工作提醒系统的测试邮件。</p>"
        f"<p>发送时间：{when}（北京时间）<br>发送方式：{escape(transport)}<br>"
        f"发件地址：{escape(mail_from)}</p>"
        "<p>收到本邮件说明邮件发送配置正确，无需回复。</p></body></html>"
    )
    return OutgoingEmail(
        message_id=make_msgid("srz-test", domain=domain),
        to=[(address, None)],
        cc=[],
        subject="【双认证·测试邮件】邮件发送配置检查",
        text=text,
        html=html,
        date=now,
    )
