"""Delivery through the real transports: a real SMTP server on loopback, a real Maildir."""

from __future__ import annotations

import email
import email.policy
import io
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest

from srz_tracker.config import Settings, SmtpSettings
from srz_tracker.errors import DeliveryError
from srz_tracker.mail.mime import OutgoingEmail, build_mime
from srz_tracker.mail.transports import (
    ConsoleTransport,
    MaildirTransport,
    NullTransport,
    SmtpTransport,
    make_transport,
)
from tests.smtp_server import SmtpTestServer, free_port, make_self_signed_cert

SCRIPTS = Path(__file__).resolve().parent / "scripts"

FROM = "srz-tracker@example.org"
FROM_NAME = "双认证工作提醒"
SUBJECT = (
    "【双认证·到期提醒】南宁市：报送“双认证”工作总结和绩效自评报告，"
    "截止 2023年12月29日（星期五），还剩 7 天"
)


def outgoing(n: int = 1, **changes) -> OutgoingEmail:
    fields = {
        "message_id": f"<srz.task-101.r-7.{n}@srz.example.org>",
        "to": [("wangfang@nn.example.cn", "王芳（南宁市农业农村局）")],
        "cc": [("liming@nn.example.cn", "李明")],
        "subject": SUBJECT,
        "text": "王芳同志：\n\n　　以下事项将于2023年12月29日（星期五）到期。\n",
        "html": "<p>王芳同志：</p><p>以下事项将于2023年12月29日（星期五）到期。</p>",
    }
    fields.update(changes)
    return OutgoingEmail(**fields)


def smtp_settings(server: SmtpTestServer, **changes) -> SmtpSettings:
    fields = {"host": server.host, "port": server.port, "security": "none", "timeout_seconds": 5}
    fields.update(changes)
    return SmtpSettings(**fields)


def transport_for(server: SmtpTestServer, **changes) -> SmtpTransport:
    return SmtpTransport(smtp_settings(server, **changes), FROM, FROM_NAME)


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    # set_content() ends each part with a newline; rendered templates end with one anyway.
    return text.get_content().removesuffix("\n"), html.get_content().removesuffix("\n")


# -- SMTP --------------------------------------------------------------------------------


def test_headers_addresses_and_chinese_decode_exactly(smtp_server: SmtpTestServer) -> None:
    email_ = outgoing()
    with transport_for(smtp_server) as transport:
        result = transport.send(email_)
    assert result.refused == {}
    [received] = smtp_server.messages
    msg = received.message
    assert received.mail_from == FROM
    assert received.rcpt_tos == ["wangfang@nn.example.cn", "liming@nn.example.cn"]
    # yagmail trap (a): To/Cc must carry the addresses, not just the names.
    assert getaddresses([str(msg["To"])]) == [
        ("王芳（南宁市农业农村局）", "wangfang@nn.example.cn")
    ]
    assert getaddresses([str(msg["Cc"])]) == [("李明", "liming@nn.example.cn")]
    assert msg["To"].addresses[0].addr_spec == "wangfang@nn.example.cn"
    assert msg["From"].addresses[0].display_name == FROM_NAME
    assert msg["From"].addresses[0].addr_spec == FROM
    # On the wire the Chinese is RFC 2047 encoded (pure ASCII headers), and decodes exactly.
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")
    assert b"=?utf-8?" in head
    assert msg["Subject"] == SUBJECT
    assert msg["Message-ID"] == email_.message_id
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = parts(msg)
    assert text == email_.text.removesuffix("\n")
    assert html == email_.html


def test_one_connection_for_several_messages(smtp_server: SmtpTestServer) -> None:
    with transport_for(smtp_server) as transport:
        for n in range(4):
            transport.send(outgoing(n))
    assert len(smtp_server.messages) == 4
    assert smtp_server.connections == 1  # yagmail trap (b): send() reconnects every time
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [
        f"<srz.task-101.r-7.{n}@srz.example.org>" for n in range(4)
    ]


def test_nothing_to_send_opens_no_connection(smtp_server: SmtpTestServer) -> None:
    with transport_for(smtp_server):
        pass
    assert smtp_server.connections == 0


def test_one_recipient_refused_others_delivered(smtp_server: SmtpTestServer) -> None:
    smtp_server.reject_recipients = {"liming@nn.example.cn"}
    with transport_for(smtp_server) as transport:
        result = transport.send(outgoing())
        assert set(result.refused) == {"liming@nn.example.cn"}
        code, message = result.refused["liming@nn.example.cn"]
        assert code == 550 and "rejected" in message
        assert result.permanent == result.refused and result.temporary == {}
        # The connection is still good for the next message.
        assert set(transport.send(outgoing(2)).refused) == {"liming@nn.example.cn"}
    assert [m.rcpt_tos for m in smtp_server.messages] == [["wangfang@nn.example.cn"]] * 2
    assert smtp_server.connections == 1


def test_all_recipients_refused_permanently(smtp_server: SmtpTestServer) -> None:
    smtp_server.reject_recipients = {"wangfang@nn.example.cn", "liming@nn.example.cn"}
    with transport_for(smtp_server) as transport:
        result = transport.send(outgoing())
    assert set(result.refused) == {"wangfang@nn.example.cn", "liming@nn.example.cn"}
    assert all(code == 550 for code, _ in result.refused.values())
    assert smtp_server.messages == []


def test_all_recipients_refused_temporarily(smtp_server: SmtpTestServer) -> None:
    smtp_server.reject_recipients = {"wangfang@nn.example.cn"}
    smtp_server.defer_recipients = {"liming@nn.example.cn"}
    with transport_for(smtp_server) as transport, pytest.raises(DeliveryError) as info:
        transport.send(outgoing())
    assert info.value.permanent is False
    assert smtp_server.messages == []


def test_partial_temporary_refusal_is_reported(smtp_server: SmtpTestServer) -> None:
    smtp_server.defer_recipients = {"liming@nn.example.cn"}
    with transport_for(smtp_server) as transport:
        result = transport.send(outgoing())
    assert result.temporary == {"liming@nn.example.cn": result.refused["liming@nn.example.cn"]}
    assert result.refused["liming@nn.example.cn"][0] == 450
    assert len(smtp_server.messages) == 1


def test_server_down_is_temporary(smtp_server: SmtpTestServer) -> None:
    smtp_server.stop()
    started = time.monotonic()
    with transport_for(smtp_server) as transport:
        with pytest.raises(DeliveryError) as first:
            transport.send(outgoing(1))
        # The rest of the pass fails at once, without a new connection attempt each time.
        with pytest.raises(DeliveryError) as second:
            transport.send(outgoing(2))
    assert first.value.permanent is False and second.value.permanent is False
    assert "连接被拒绝" in str(first.value)
    assert time.monotonic() - started < 5


def test_nothing_listening_on_port() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout_seconds=2)
    with (
        SmtpTransport(settings, FROM, FROM_NAME) as transport,
        pytest.raises(DeliveryError) as info,
    ):
        transport.send(outgoing())
    assert info.value.permanent is False


def test_data_451_is_temporary_554_permanent(smtp_server: SmtpTestServer) -> None:
    with transport_for(smtp_server) as transport:
        smtp_server.fail_data_with = 451
        with pytest.raises(DeliveryError) as temp:
            transport.send(outgoing(1))
        assert temp.value.permanent is False
        assert "451" in str(temp.value)
        smtp_server.fail_data_with = 554
        with pytest.raises(DeliveryError) as perm:
            transport.send(outgoing(2))
        assert perm.value.permanent is True
        smtp_server.fail_data_with = None
        transport.send(outgoing(3))  # same connection still usable after the refusals
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [
        "<srz.task-101.r-7.3@srz.example.org>"
    ]
    assert smtp_server.connections == 1


def test_dropped_connection_raises_and_never_resends(smtp_server: SmtpTestServer) -> None:
    smtp_server.drop_after_data = True
    with transport_for(smtp_server) as transport:
        with pytest.raises(DeliveryError) as info:
            transport.send(outgoing(1))
        assert info.value.permanent is False
        # yagmail trap (c): its send() would retry up to three times and deliver three
        # copies, then return False. We deliver once (the server kept it) and raise.
        assert len(smtp_server.messages) == 1
        smtp_server.drop_after_data = False
        transport.send(outgoing(2))  # the next message reconnects
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [
        "<srz.task-101.r-7.1@srz.example.org>",
        "<srz.task-101.r-7.2@srz.example.org>",
    ]
    assert smtp_server.connections == 2


def test_body_that_is_a_file_path_goes_out_as_text(
    smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET FILE CONTENT", encoding="utf-8")
    email_ = outgoing(text=str(secret), html=str(secret))
    with transport_for(smtp_server) as transport:
        transport.send(email_)
    msg = smtp_server.messages[0].message
    text, html = parts(msg)
    assert text == str(secret)  # yagmail trap (d): would attach the file
    assert html == str(secret)
    assert b"SECRET FILE CONTENT" not in smtp_server.messages[0].raw
    assert not any(part.get_filename() for part in msg.walk())


def test_header_injection_is_neutralized(smtp_server: SmtpTestServer) -> None:
    evil = "\r\nBcc: evil@example.org"
    email_ = outgoing(
        subject="提醒" + evil,
        to=[("wangfang@nn.example.cn", "王芳" + evil)],
        cc=[("liming@nn.example.cn", "李明\nX-Evil: yes")],
    )
    with transport_for(smtp_server) as transport:
        transport.send(email_)
    received = smtp_server.messages[0]
    msg = received.message
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert received.rcpt_tos == ["wangfang@nn.example.cn", "liming@nn.example.cn"]
    assert "evil@example.org" not in received.rcpt_tos
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in head.split(b"\r\n"))
    assert msg["Subject"] == "提醒 Bcc: evil@example.org"
    assert msg["To"].addresses[0].addr_spec == "wangfang@nn.example.cn"
    assert msg["To"].addresses[0].display_name == "王芳 Bcc: evil@example.org"
    assert sorted(k.lower() for k in msg) == sorted(
        [
            "from",
            "to",
            "cc",
            "subject",
            "date",
            "message-id",
            "auto-submitted",
            "x-auto-response-suppress",
            "content-type",
            "mime-version",
        ]
    )


def test_login_when_user_and_password_given(smtp_server: SmtpTestServer) -> None:
    smtp_server.accepted_credentials = {"srzbot": "s3cret"}
    with transport_for(smtp_server, user="srzbot", password="s3cret") as transport:
        transport.send(outgoing())
    # yagmail would log in as "srzbot@gmail.com"; the user name goes through verbatim.
    assert smtp_server.logins == [("srzbot", "s3cret")]
    assert len(smtp_server.messages) == 1


def test_wrong_password_is_a_clear_temporary_error(
    smtp_server: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.accepted_credentials = {"srzbot": "right"}
    transport = transport_for(smtp_server, user="srzbot", password="wrong-pw")
    with transport, pytest.raises(DeliveryError) as info:
        transport.send(outgoing())
    assert info.value.permanent is False
    assert "登录失败" in str(info.value)
    assert "wrong-pw" not in str(info.value)
    assert "wrong-pw" not in caplog.text


def test_no_password_means_no_login_and_no_prompt(
    smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    # yagmail trap (e): with a user but no password it asks the keyring, then prompts on
    # the terminal. Run in a child process with stdin closed and no keyring backend
    # reachable: it must neither prompt nor hang.
    host, port = smtp_server.host, smtp_server.port
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "send_without_password.py"), host, str(port)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parent.parent,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON_KEYRING_BACKEND": "x"},
    )
    assert done.returncode == 0, done.stderr
    assert "refused {}" in done.stdout
    assert "Password" not in done.stdout + done.stderr
    assert smtp_server.logins == []
    assert len(smtp_server.messages) == 1


def test_invalid_address_is_permanent(smtp_server: SmtpTestServer) -> None:
    with transport_for(smtp_server) as transport, pytest.raises(DeliveryError) as info:
        transport.send(outgoing(to=[("not an address", "某人")]))
    assert info.value.permanent is True
    assert smtp_server.messages == []


# -- Maildir, console, null ------------------------------------------------------------


def test_maildir_file_parses_back(tmp_path: Path) -> None:
    box = tmp_path / "deep" / "maildir"
    email_ = outgoing()
    with MaildirTransport(box, FROM, FROM_NAME) as transport:
        assert transport.send(email_).refused == {}
        transport.send(outgoing(2))
    files = sorted((box / "new").iterdir())
    assert len(files) == 2
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    msg = next(m for m in parsed if m["Message-ID"] == email_.message_id)
    assert msg["Subject"] == SUBJECT
    assert msg["To"].addresses[0].addr_spec == "wangfang@nn.example.cn"
    assert msg["To"].addresses[0].display_name == "王芳（南宁市农业农村局）"
    assert msg["Cc"].addresses[0].addr_spec == "liming@nn.example.cn"
    assert msg.get_content_type() == "multipart/alternative"
    assert parts(msg) == (email_.text.removesuffix("\n"), email_.html)
    for part in msg.iter_parts():
        assert part.get_content_charset() == "utf-8"


def test_maildir_and_smtp_send_the_same_format(smtp_server: SmtpTestServer, tmp_path: Path) -> None:
    email_ = outgoing()
    with transport_for(smtp_server) as transport:
        transport.send(email_)
    with MaildirTransport(tmp_path / "md", FROM, FROM_NAME) as transport:
        transport.send(email_)
    [stored] = list((tmp_path / "md" / "new").iterdir())
    a = smtp_server.messages[0].message
    b = email.message_from_bytes(stored.read_bytes(), policy=email.policy.default)
    for header in ("From", "To", "Cc", "Subject", "Message-ID"):
        assert str(a[header]) == str(b[header])
    assert parts(a) == parts(b)


def test_console_prints_headers_and_text() -> None:
    out = io.StringIO()
    with ConsoleTransport(FROM, FROM_NAME, stream=out) as transport:
        transport.send(outgoing())
    printed = out.getvalue()
    assert f"Subject: {SUBJECT}" in printed
    assert "wangfang@nn.example.cn" in printed
    assert "以下事项将于2023年12月29日（星期五）到期。" in printed
    assert "<p>" not in printed


def test_null_discards() -> None:
    with NullTransport() as transport:
        assert transport.send(outgoing()).refused == {}
    assert transport.sent == 1


def test_make_transport_follows_settings(tmp_path: Path) -> None:
    base = Settings(database_url="sqlite://", maildir=tmp_path / "md")
    assert isinstance(make_transport(base), MaildirTransport)
    smtp = Settings(database_url="sqlite://", maildir=tmp_path, smtp=SmtpSettings(host="h"))
    assert isinstance(make_transport(smtp), SmtpTransport)
    console = Settings(database_url="sqlite://", maildir=tmp_path, transport="console")
    assert isinstance(make_transport(console), ConsoleTransport)
    null = Settings(database_url="sqlite://", maildir=tmp_path, transport="null")
    assert isinstance(make_transport(null), NullTransport)


def test_build_mime_keeps_message_id_and_rejects_malformed_one() -> None:
    msg = build_mime(outgoing(), FROM, FROM_NAME)
    assert msg["Message-ID"] == "<srz.task-101.r-7.1@srz.example.org>"
    with pytest.raises(DeliveryError):
        build_mime(outgoing(message_id="no-brackets"), FROM, FROM_NAME)


# -- srz mail test -----------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No ./srz.toml and no SRZ_* from the developer's shell may leak into the CLI tests.
    monkeypatch.chdir(tmp_path)
    for name in ("SRZ_CONFIG", "SRZ_TRANSPORT", "SRZ_SMTP_HOST", "SRZ_SMTP_USER"):
        monkeypatch.delenv(name, raising=False)


def _srz(*args: str, env: dict[str, str]):
    from click.testing import CliRunner

    from srz_tracker.cli import cli

    return CliRunner().invoke(cli, list(args), env=env)


def _smtp_env(server: SmtpTestServer) -> dict[str, str]:
    return {
        "SRZ_SMTP_HOST": server.host,
        "SRZ_SMTP_PORT": str(server.port),
        "SRZ_SMTP_SECURITY": "none",
        "SRZ_MAIL_FROM": FROM,
    }


def test_cli_mail_test_over_smtp(smtp_server: SmtpTestServer, cli_env: None) -> None:
    result = _srz("mail", "test", "--to", "office@example.org", env=_smtp_env(smtp_server))
    assert result.exit_code == 0, result.output
    assert f"{smtp_server.host}:{smtp_server.port}" in result.output
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["office@example.org"]
    assert "测试邮件" in received.message["Subject"]


def test_cli_mail_test_server_down(smtp_server: SmtpTestServer, cli_env: None) -> None:
    smtp_server.stop()
    result = _srz("mail", "test", "--to", "office@example.org", env=_smtp_env(smtp_server))
    assert result.exit_code == 1
    assert "测试邮件发送失败" in result.output and "连接被拒绝" in result.output


def test_cli_mail_test_refused_recipient(smtp_server: SmtpTestServer, cli_env: None) -> None:
    smtp_server.reject_recipients = {"gone@example.org"}
    result = _srz("mail", "test", "--to", "gone@example.org", env=_smtp_env(smtp_server))
    assert result.exit_code == 1
    assert "拒收" in result.output and "550" in result.output


def test_cli_mail_test_to_maildir(tmp_path: Path, cli_env: None) -> None:
    box = tmp_path / "maildir"
    result = _srz("mail", "test", "--to", "a@example.org", env={"SRZ_MAILDIR": str(box)})
    assert result.exit_code == 0, result.output
    assert "本地邮件目录" in result.output
    [stored] = list((box / "new").iterdir())
    assert str(stored) in result.output
    msg = email.message_from_bytes(stored.read_bytes(), policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "a@example.org"


def test_cli_mail_test_rejects_bad_address(tmp_path: Path, cli_env: None) -> None:
    result = _srz("mail", "test", "--to", "not-an-address", env={"SRZ_MAILDIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "不是有效的邮件地址" in result.output


# -- TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_with_a_trusted_certificate(
    security: str, tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_cert
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate
    with SmtpTestServer(tls=security, cert=cert, key=key) as server:
        server.accepted_credentials = {"srzbot": "s3cret"}
        settings = smtp_settings(server, security=security, user="srzbot", password="s3cret")
        with SmtpTransport(settings, FROM, FROM_NAME) as transport:
            transport.send(outgoing(1))
            transport.send(outgoing(2))
        assert len(server.messages) == 2
        assert server.connections == 1
        assert server.logins == [("srzbot", "s3cret")]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_certificate_is_verified(
    security: str, tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = tls_cert
    empty = tmp_path / "no-ca.pem"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))  # trust nothing
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with SmtpTestServer(tls=security, cert=cert, key=key) as server:
        transport = SmtpTransport(smtp_settings(server, security=security), FROM, FROM_NAME)
        with transport, pytest.raises(DeliveryError) as info:
            transport.send(outgoing())
        assert info.value.permanent is False
        assert "TLS" in str(info.value)
        assert server.messages == []
