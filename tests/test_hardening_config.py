"""Configuration safety: a config file holding the SMTP password that others can read is
warned about (as ssh warns about a private key), and a login over a connection without
TLS is refused unless ``smtp.allow_plaintext_auth`` allows it: ``srz mail test``,
``srz run`` and ``srz remind`` exit 2 before anything is sent or claimed, ``srz status``
shows it as a problem."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from srz_tracker.cli import cli
from srz_tracker.config import Settings, SmtpSettings, load_settings
from srz_tracker.config_safety import exposed_password_warning, plaintext_auth_problem
from srz_tracker.errors import ConfigError
from tests.smtp_server import SmtpTestServer
from tests.srz_cli_helpers import NOW, row_counts

SETTING = "allow_plaintext_auth"
ENV_SETTING = "SRZ_SMTP_ALLOW_PLAINTEXT_AUTH"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No ./srz.toml and no SRZ_* from the developer's shell may leak into these tests.
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SRZ_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def write_config(path: Path, mode: int, server: SmtpTestServer | None = None, **smtp: str) -> Path:
    lines = ['mail_from = "srz@example.org"', f'maildir = "{path.parent / "maildir"}"', "[smtp]"]
    if server is not None:
        lines += [f'host = "{server.host}"', f"port = {server.port}"]
    lines += [f"{key} = {value}" for key, value in smtp.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def srz(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "240", **(env or {})})


# -- the settings ------------------------------------------------------------------------


def test_allow_plaintext_auth_is_read_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path / "srz.toml", 0o600, security='"none"')
    assert load_settings(config_path=path, environ={}).smtp.allow_plaintext_auth is False
    path = write_config(tmp_path / "srz.toml", 0o600, security='"none"', **{SETTING: "true"})
    assert load_settings(config_path=path, environ={}).smtp.allow_plaintext_auth is True
    path = write_config(tmp_path / "srz.toml", 0o600)
    assert load_settings(config_path=path, environ={ENV_SETTING: "1"}).smtp.allow_plaintext_auth
    path = write_config(tmp_path / "srz.toml", 0o600, **{SETTING: '"maybe"'})
    with pytest.raises(ConfigError, match=f"smtp.{SETTING}.*true 或 false"):
        load_settings(config_path=path, environ={})


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_password_file_others_can_read_is_warned_about(tmp_path: Path, mode: int) -> None:
    path = write_config(tmp_path / "srz.toml", mode, user='"bot"', password='"s3cret"')
    warning = exposed_password_warning(load_settings(config_path=path, environ={}))
    assert warning is not None
    assert str(path) in warning and f"chmod 600 {path}" in warning and f"{mode:04o}" in warning
    assert "s3cret" not in warning


def test_no_warning_for_a_private_file_or_a_file_without_password(tmp_path: Path) -> None:
    private = write_config(tmp_path / "a.toml", 0o600, user='"bot"', password='"s3cret"')
    assert exposed_password_warning(load_settings(config_path=private, environ={})) is None
    owner_only = write_config(tmp_path / "b.toml", 0o400, user='"bot"', password='"s3cret"')
    assert exposed_password_warning(load_settings(config_path=owner_only, environ={})) is None
    # The documented set-up: the file 0640 for the srz group, the password elsewhere.
    public = write_config(tmp_path / "c.toml", 0o644, user='"bot"')
    settings = load_settings(config_path=public, environ={"SRZ_SMTP_PASSWORD": "s3cret"})
    assert settings.smtp.password == "s3cret" and exposed_password_warning(settings) is None


def _settings(**smtp: object) -> Settings:
    return Settings(
        database_url="sqlite://", maildir=Path("md"), smtp=SmtpSettings(host="h", **smtp)
    )


def test_a_login_in_clear_is_a_problem_unless_allowed() -> None:
    problem = plaintext_auth_problem(_settings(security="none", user="bot", password="pw"))
    assert problem is not None
    assert "smtp.security" in problem and SETTING in problem and ENV_SETTING in problem
    assert "pw" not in problem.replace("password", "")
    allowed = _settings(security="none", user="bot", password="pw", allow_plaintext_auth=True)
    assert plaintext_auth_problem(allowed) is None
    for fine in (
        _settings(security="ssl", user="bot", password="pw"),
        _settings(security="starttls", user="bot", password="pw"),
        _settings(security="none", user="bot"),  # no password: no login
        _settings(security="none"),
    ):
        assert plaintext_auth_problem(fine) is None
    maildir = Settings(
        database_url="sqlite://",
        maildir=Path("md"),
        transport="maildir",
        smtp=SmtpSettings(host="h", security="none", user="bot", password="pw"),
    )
    assert plaintext_auth_problem(maildir) is None  # nothing goes over SMTP


# -- srz mail test -----------------------------------------------------------------------


def test_mail_test_refuses_a_login_in_clear_and_sends_nothing(
    smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "srz.toml", 0o600, smtp_server, security='"none"', user='"bot"'
    )
    env = {"SRZ_SMTP_PASSWORD": "s3cret"}
    result = srz("--config", str(config), "mail", "test", "--to", "a@example.org", env=env)
    assert result.exit_code == 2, result.output
    assert "错误：配置项 smtp.security 为 none" in result.stderr
    assert f"{SETTING} = true" in result.stderr and ENV_SETTING in result.stderr
    assert "s3cret" not in result.output
    assert smtp_server.messages == [] and smtp_server.logins == []
    assert smtp_server.connections == 0


def test_mail_test_logs_in_over_plain_smtp_when_allowed_and_warns_about_the_file(
    smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "srz.toml",
        0o644,
        smtp_server,
        security='"none"',
        user='"bot"',
        password='"s3cret"',
        **{SETTING: "true"},
    )
    result = srz("--config", str(config), "mail", "test", "--to", "a@example.org")
    assert result.exit_code == 0, result.output
    assert f"警告：配置文件 {config} 含有 SMTP 密码" in result.stderr
    assert f"chmod 600 {config}" in result.stderr
    assert "chmod" not in result.stdout  # the warning goes to stderr only
    assert smtp_server.logins == [("bot", "s3cret")] and len(smtp_server.messages) == 1

    config.chmod(0o600)
    result = srz("--config", str(config), "mail", "test", "--to", "a@example.org")
    assert result.exit_code == 0, result.output
    assert "chmod" not in result.output and "警告" not in result.stderr


def test_mail_test_with_the_environment_setting(smtp_server: SmtpTestServer) -> None:
    env = {
        "SRZ_SMTP_HOST": smtp_server.host,
        "SRZ_SMTP_PORT": str(smtp_server.port),
        "SRZ_SMTP_SECURITY": "none",
        "SRZ_SMTP_USER": "bot",
        "SRZ_SMTP_PASSWORD": "s3cret",
        "SRZ_MAIL_FROM": "srz@example.org",
    }
    assert srz("mail", "test", "--to", "a@example.org", env=env).exit_code == 2
    result = srz("mail", "test", "--to", "a@example.org", env={**env, ENV_SETTING: "1"})
    assert result.exit_code == 0, result.output
    assert smtp_server.logins == [("bot", "s3cret")]


# -- srz run, srz remind, srz status -----------------------------------------------------


def _plaintext_env(server: SmtpTestServer) -> dict[str, str]:
    return {
        "SRZ_SMTP_HOST": server.host,
        "SRZ_SMTP_PORT": str(server.port),
        "SRZ_SMTP_SECURITY": "none",
        "SRZ_SMTP_USER": "bot",
        "SRZ_SMTP_PASSWORD": "s3cret",
        "SRZ_SEND_HOUR": "0",
    }


def test_run_and_remind_refuse_a_login_in_clear_before_touching_anything(
    demo_db_url: str, smtp_server: SmtpTestServer
) -> None:
    env = _plaintext_env(smtp_server)
    before = row_counts(demo_db_url)
    for args in (("run", "--once"), ("run", "--interval", "1"), ("remind", "--now", NOW)):
        result = srz("--db", demo_db_url, *args, env=env)
        assert result.exit_code == 2, (args, result.output)
        assert "错误：配置项 smtp.security 为 none" in result.stderr, args
        assert SETTING in result.stderr
    assert row_counts(demo_db_url) == before  # no lease, no planned or claimed row
    assert smtp_server.connections == 0 and smtp_server.messages == []


def test_run_starts_with_the_warning_when_the_password_file_is_readable(
    db_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "srz.toml", 0o644, password='"s3cret"')  # maildir
    result = srz("--db", db_url, "--config", str(config), "run", "--once")
    assert result.exit_code == 0, result.output
    assert f"警告：配置文件 {config} 含有 SMTP 密码" in result.stderr
    assert f"chmod 600 {config}" in result.stderr


def test_status_shows_the_problem_and_the_warning(
    db_url: str, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    config = write_config(
        tmp_path / "srz.toml",
        0o664,
        smtp_server,
        security='"none"',
        user='"bot"',
        password='"s3cret"',
    )
    result = srz("--db", db_url, "--config", str(config), "status", "--format", "json")
    assert result.exit_code == 3  # no daemon: as before
    data = json.loads(result.stdout)
    [problem] = data["problems"]
    assert "smtp.security" in problem and SETTING in problem
    assert any(f"chmod 600 {config}" in w for w in data["warnings"])
    assert "s3cret" not in result.stdout

    result = srz("--db", db_url, "--config", str(config), "status")
    assert result.exit_code == 3
    assert "配置问题：配置项 smtp.security 为 none" in result.stderr
    assert f"警告：配置文件 {config} 含有 SMTP 密码" in result.stderr

    config.chmod(0o600)
    allowed = {ENV_SETTING: "1"}
    result = srz("--db", db_url, "--config", str(config), "status", "--format", "json", env=allowed)
    data = json.loads(result.stdout)
    assert data["problems"] == [] and not any("chmod" in w for w in data["warnings"])
