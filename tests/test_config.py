"""Settings with wrong numbers or booleans, as a user meets them: ``srz status`` or
``srz mail test`` exits with the settings error's code and one Chinese line that names
the setting and where it came from (file or environment variable), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from srz_tracker.cli import cli
from srz_tracker.errors import ConfigError
from tests.daemon_helpers import SRZ

SETTINGS_ERROR = ConfigError.exit_code  # 2, see errors.py


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No ./srz.toml of the checkout or the developer's shell is read by accident.
    monkeypatch.chdir(tmp_path)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str | None]:
    """CliRunner's environment: every SRZ_* of the developer's shell unset, then ``extra``."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SRZ_")}
    env.update({"XDG_DATA_HOME": str(tmp_path / "data"), "SRZ_USER": "测试员", **extra})
    return env


def invoke(tmp_path: Path, args: list[str], **env: str) -> Result:
    return CliRunner().invoke(cli, args, env=clean_env(tmp_path, **env))


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "srz.toml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_settings_error(result: Result, message: str) -> None:
    assert result.exit_code == SETTINGS_ERROR, result.output
    # click turned the error into its exit code: nothing escaped as an exception.
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == f"错误：{message}\n"
    assert result.stdout == ""


# -- from the config file, through `srz status` ----------------------------------------

FILE_CASES = [
    ("[smtp]\nport = 'abc'", "smtp.port", "应为整数，而不是 'abc'"),
    ("[smtp]\nport = true", "smtp.port", "应为整数，而不是 true"),
    ("[smtp]\nport = 465.5", "smtp.port", "应为整数，而不是 465.5"),
    ("[smtp]\nport = 70000", "smtp.port", "应为 1 到 65535 之间的整数，而不是 70000"),
    ("[smtp]\nport = -25", "smtp.port", "应为 1 到 65535 之间的整数，而不是 -25"),
    ("[smtp]\ntimeout_seconds = 'slow'", "smtp.timeout_seconds", "应为数字（秒），而不是 'slow'"),
    ("[smtp]\ntimeout_seconds = false", "smtp.timeout_seconds", "应为数字（秒），而不是 false"),
    ("[smtp]\ntimeout_seconds = 0", "smtp.timeout_seconds", "应为大于 0 的秒数，而不是 0"),
    ("[smtp]\ntimeout_seconds = -1.5", "smtp.timeout_seconds", "应为大于 0 的秒数，而不是 -1.5"),
    ("[smtp]\ntimeout_seconds = inf", "smtp.timeout_seconds", "应为大于 0 的秒数，而不是 inf"),
    ("send_hour = 25", "send_hour", "应为 0 到 23 之间的整数（整点），而不是 25"),
    ("send_hour = -1", "send_hour", "应为 0 到 23 之间的整数（整点），而不是 -1"),
    ("send_hour = 9.5", "send_hour", "应为整数，而不是 9.5"),
    ("send_hour = 'nine'", "send_hour", "应为整数，而不是 'nine'"),
    ("interval_seconds = -5", "interval_seconds", "应为正整数（秒），而不是 -5"),
    ("interval_seconds = 0", "interval_seconds", "应为正整数（秒），而不是 0"),
    ("interval_seconds = 0.5", "interval_seconds", "应为整数，而不是 0.5"),
    ("interval_seconds = 'fast'", "interval_seconds", "应为整数，而不是 'fast'"),
    ("interval_seconds = ''", "interval_seconds", "应为整数，而不是 ''"),
    ("weekly_summary = 'sometimes'", "weekly_summary", "应为 true 或 false，而不是 'sometimes'"),
    ("weekly_summary = 2", "weekly_summary", "应为 true 或 false，而不是 2"),
]


@pytest.mark.parametrize(("toml", "key", "complaint"), FILE_CASES)
def test_a_wrong_number_in_the_config_file_is_a_settings_error(
    tmp_path: Path, toml: str, key: str, complaint: str
) -> None:
    path = write_config(tmp_path, toml + "\n")
    result = invoke(tmp_path, ["--config", str(path), "status"])
    assert_settings_error(result, f"配置项 {key}（配置文件 {path}）{complaint}")


# -- from the environment, through `srz mail test` -------------------------------------

ENV_CASES = [
    ("SRZ_SMTP_PORT", "abc", "smtp.port", "应为整数，而不是 'abc'"),
    ("SRZ_SMTP_PORT", "25.0", "smtp.port", "应为整数，而不是 '25.0'"),
    ("SRZ_SMTP_PORT", "-25", "smtp.port", "应为 1 到 65535 之间的整数，而不是 -25"),
    ("SRZ_SMTP_PORT", "0", "smtp.port", "应为 1 到 65535 之间的整数，而不是 0"),
    ("SRZ_SEND_HOUR", "25", "send_hour", "应为 0 到 23 之间的整数（整点），而不是 25"),
    ("SRZ_SEND_HOUR", "9点", "send_hour", "应为整数，而不是 '9点'"),
    ("SRZ_WEEKLY_SUMMARY", "maybe", "weekly_summary", "应为 true 或 false，而不是 'maybe'"),
]


@pytest.mark.parametrize(("variable", "value", "key", "complaint"), ENV_CASES)
def test_a_wrong_number_in_the_environment_is_a_settings_error(
    tmp_path: Path, variable: str, value: str, key: str, complaint: str
) -> None:
    result = invoke(tmp_path, ["mail", "test", "--to", "a@example.org"], **{variable: value})
    assert_settings_error(result, f"配置项 {key}（环境变量 {variable}）{complaint}")
    assert not (tmp_path / "data").exists()  # nothing was sent or written


def test_the_message_names_the_source_that_won(tmp_path: Path) -> None:
    """The environment overrides the file: a wrong variable is blamed on the variable,
    and a wrong file value hidden by a good variable is no error at all."""
    path = write_config(tmp_path, "send_hour = 8\n[smtp]\nport = 'abc'\n")
    args = ["--config", str(path), "mail", "test", "--to", "a@example.org"]
    wrong_env = invoke(tmp_path, args, SRZ_SEND_HOUR="24", SRZ_SMTP_PORT="2525")
    assert_settings_error(
        wrong_env,
        "配置项 send_hour（环境变量 SRZ_SEND_HOUR）应为 0 到 23 之间的整数（整点），而不是 24",
    )
    hidden = invoke(tmp_path, args, SRZ_SMTP_PORT="2525", SRZ_TRANSPORT="null")
    assert hidden.exit_code == 0, hidden.output
    assert "测试邮件已丢弃" in hidden.stdout


def test_good_numbers_are_taken_as_written(db_url: str, tmp_path: Path) -> None:
    """Whole numbers as TOML integers, whole floats or text, and booleans as text, are
    what `srz status` then reports in effect."""
    path = write_config(
        tmp_path,
        "interval_seconds = 600.0\nweekly_summary = 'off'\n"
        "[smtp]\nhost = 'smtp.example.org'\nport = '2525'\ntimeout_seconds = 7.5\n",
    )
    result = invoke(
        tmp_path,
        ["--db", db_url, "--config", str(path), "status", "--format", "json"],
        SRZ_SEND_HOUR=" 7 ",
    )
    assert result.exit_code == 3, result.output  # no daemon runs: a monitoring failure only
    config = json.loads(result.stdout)["config"]
    assert config["smtp_port"] == 2525 and config["send_hour"] == 7
    assert config["interval_seconds"] == 600 and config["weekly_summary"] is False


def test_the_srz_executable_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    """The real entry point, as a shell user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRZ_")}
    env.update({"XDG_DATA_HOME": str(tmp_path / "data"), "SRZ_SMTP_PORT": "abc"})
    proc = subprocess.run(
        [SRZ, "mail", "test", "--to", "a@example.org"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == SETTINGS_ERROR
    assert proc.stderr == "错误：配置项 smtp.port（环境变量 SRZ_SMTP_PORT）应为整数，而不是 'abc'\n"
    assert proc.stdout == ""
