"""Settings: ``srz.toml`` (or the file named by ``SRZ_CONFIG``) overlaid by ``SRZ_*``
environment variables, overlaid by command-line options. Validated once, at the edge.

Precedence for the database: ``--db URL`` > ``SRZ_DATABASE_URL`` > config file > default.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from srz_tracker.errors import ConfigError
from srz_tracker.resources import EMAIL_TEMPLATES, bundled_dir


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "srz-tracker"


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    security: str = "ssl"  # ssl | starttls | none
    timeout_seconds: float = 30.0
    allow_plaintext_auth: bool = False  # AUTH with security "none": refused unless set

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return {"ssl": 465, "starttls": 587}.get(self.security, 25)


DEFAULT_LINK_DAYS = 60
DEFAULT_UPLOAD_MB = 20


@dataclass(frozen=True)
class WebSettings:
    """``[web]``: the pages that email links open (``srz serve``). The secret signs the
    links; it is read when a link is made or checked, never shown."""

    base_url: str | None = None  # public address in emails; None: emails carry no links
    secret: str | None = field(default=None, repr=False)
    secret_file: Path | None = None
    link_days: int = DEFAULT_LINK_DAYS
    max_upload_mb: int = DEFAULT_UPLOAD_MB
    max_files: int = 10

    def load_secret(self) -> bytes:
        """The signing key; ConfigError when there is none (never prints it)."""
        if self.secret:
            return self.secret.encode()
        if self.secret_file:
            try:
                value = self.secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"无法读取 web.secret_file {self.secret_file}：{exc.strerror}"
                ) from None
            if len(value) >= 16:
                return value.encode()
            raise ConfigError(f"web.secret_file {self.secret_file} 中的密钥太短（至少 16 个字符）")
        raise ConfigError(
            "没有配置网页链接的签名密钥：请设置环境变量 SRZ_WEB_SECRET，"
            "或在配置文件 [web] 中设置 secret_file（至少 16 个字符的随机串）"
        )


@dataclass(frozen=True)
class Settings:
    database_url: str
    maildir: Path
    mail_from: str = "srz-tracker@localhost"
    mail_from_name: str = "双认证工作提醒"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    transport: str | None = None  # smtp | maildir | console; None: smtp if host else maildir
    send_hour: int | None = None  # overrides the plan's hour when set
    interval_seconds: int = 900
    weekly_summary: bool = True  # the daemon sends each city's weekly summary
    digest_max_items: int | None = None  # overrides the plan's digest_max_items when set
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    templates_dir: Path = field(default_factory=lambda: bundled_dir(EMAIL_TEMPLATES))
    config_path: Path | None = None
    # Where uploaded evidence lives (``<data_dir>/evidence``); shared by every web worker.
    data_dir: Path = field(default_factory=lambda: default_data_dir())
    web: WebSettings = field(default_factory=WebSettings)
    password_in_config: bool = False  # the config file itself holds smtp.password

    @property
    def effective_transport(self) -> str:
        if self.transport:
            return self.transport
        return "smtp" if self.smtp.host else "maildir"

    def describe(self) -> dict[str, Any]:
        """What ``srz status`` may show: never the password."""
        return {
            "database": redact_url(self.database_url),
            "config_file": str(self.config_path) if self.config_path else None,
            "transport": self.effective_transport,
            "smtp_host": self.smtp.host,
            "smtp_port": self.smtp.effective_port if self.smtp.host else None,
            "smtp_security": self.smtp.security if self.smtp.host else None,
            "smtp_user": self.smtp.user,
            "mail_from": self.mail_from,
            "maildir": str(self.maildir),
            "send_hour": self.send_hour,
            "interval_seconds": self.interval_seconds,
            "weekly_summary": self.weekly_summary,
            "digest_max_items": self.digest_max_items,
            "holiday_overrides": len(self.holidays),
            "workday_overrides": len(self.workdays),
            "data_dir": str(self.data_dir),
            "web_base_url": self.web.base_url,
            "web_secret_set": bool(self.web.secret or self.web.secret_file),
        }


def redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'srz.db'}"


def _parse_date_list(values: Any, where: str) -> frozenset[dt.date]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise ConfigError(f"{where}：应为日期列表（YYYY-MM-DD）")
    out = set()
    for v in values:
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            out.add(v)
            continue
        try:
            out.add(dt.date.fromisoformat(str(v)))
        except ValueError:
            raise ConfigError(f"{where}：{v!r} 不是有效日期（YYYY-MM-DD）") from None
    return frozenset(out)


class _Reader:
    """Values from the environment over the config file, each with the words that name
    it in an error: ``配置项 smtp.port（环境变量 SRZ_SMTP_PORT）``."""

    def __init__(self, data: dict[str, Any], path: Path | None, env: Any) -> None:
        self.data = data
        self.path = path
        self.env = env

    def get(self, key: str, env_key: str | None = None, default: Any = None) -> tuple[Any, str]:
        # An empty variable counts as unset (``SRZ_SEND_HOUR= srz ...``).
        if env_key and self.env.get(env_key):
            return self.env[env_key], f"配置项 {key}（环境变量 {env_key}）"
        table: Any = self.data
        *sections, name = key.split(".")
        for section in sections:
            table = table.get(section, {})
        # Only a value read from the file can be wrong; defaults are not.
        return table.get(name, default), f"配置项 {key}（配置文件 {self.path}）"


def _shown(value: Any) -> str:
    """A wrong value as the user wrote it: TOML's true/false, a string quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _parse_int(value: Any, label: str, low: int, high: int | None, expected: str) -> int:
    """An integer in ``[low, high]``: a TOML integer (or a whole float such as 900.0) or
    its text (environment variables are text)."""
    whole = (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and value.is_integer())
        or (isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value) is not None)
    )
    if not whole:
        raise ConfigError(f"{label}应为整数，而不是 {_shown(value)}")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise ConfigError(f"{label}应为{expected}，而不是 {number}")
    return number


def _parse_seconds(value: Any, label: str) -> float:
    """A duration in seconds greater than 0 (integer or decimal)."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None:
        raise ConfigError(f"{label}应为数字（秒），而不是 {_shown(value)}")
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"{label}应为大于 0 的秒数，而不是 {_shown(value)}")
    return number


def _parse_bool(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{label}应为 true 或 false，而不是 {_shown(value)}")


_KNOWN_TOP = {
    "database_url",
    "maildir",
    "mail_from",
    "mail_from_name",
    "transport",
    "send_hour",
    "interval_seconds",
    "weekly_summary",
    "digest_max_items",
    "templates_dir",
    "smtp",
    "calendar",
    "data_dir",
    "web",
}
_KNOWN_SMTP = {
    "host",
    "port",
    "user",
    "password",
    "security",
    "timeout_seconds",
    "allow_plaintext_auth",
}
_KNOWN_CAL = {"holidays", "workdays"}
_KNOWN_WEB = {"base_url", "secret", "secret_file", "link_days", "max_upload_mb", "max_files"}


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"找不到配置文件 {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"配置文件 {path} 格式有误：{exc}") from None
    for key in data:
        if key not in _KNOWN_TOP:
            raise ConfigError(f"配置文件 {path}：未知的设置项 {key!r}")
    for section, known in (("smtp", _KNOWN_SMTP), ("calendar", _KNOWN_CAL), ("web", _KNOWN_WEB)):
        sub = data.get(section, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"配置文件 {path}：[{section}] 应为表（table）")
        for key in sub:
            if key not in known:
                raise ConfigError(f"配置文件 {path}：未知的设置项 {section}.{key}")
    return data


def load_settings(
    db_url: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    env = os.environ if environ is None else environ
    path: Path | None = None
    if config_path:
        path = Path(config_path)
    elif env.get("SRZ_CONFIG"):
        path = Path(env["SRZ_CONFIG"])
    elif Path("srz.toml").is_file():
        path = Path("srz.toml")
    data = _read_file(path) if path else {}
    smtp_data = data.get("smtp", {})
    cal = data.get("calendar", {})
    where = str(path) if path else "config"

    read = _Reader(data, path, env)

    def pick(env_key: str, file_value: Any) -> Any:
        return env[env_key] if env.get(env_key) else file_value

    security = str(pick("SRZ_SMTP_SECURITY", smtp_data.get("security", "ssl"))).lower()
    if security not in ("ssl", "starttls", "none"):
        raise ConfigError(f"SMTP security 应为 ssl、starttls 或 none，而不是 {security!r}")
    port_raw, port_label = read.get("smtp.port", "SRZ_SMTP_PORT")
    port = None
    if port_raw not in (None, ""):
        port = _parse_int(port_raw, port_label, 1, 65535, " 1 到 65535 之间的整数")
    timeout_raw, timeout_label = read.get("smtp.timeout_seconds", default=30.0)
    plaintext_raw, plaintext_label = read.get(
        "smtp.allow_plaintext_auth", "SRZ_SMTP_ALLOW_PLAINTEXT_AUTH", default=False
    )
    smtp = SmtpSettings(
        host=pick("SRZ_SMTP_HOST", smtp_data.get("host")) or None,
        port=port,
        user=pick("SRZ_SMTP_USER", smtp_data.get("user")) or None,
        password=pick("SRZ_SMTP_PASSWORD", smtp_data.get("password")) or None,
        security=security,
        timeout_seconds=_parse_seconds(timeout_raw, timeout_label),
        allow_plaintext_auth=_parse_bool(plaintext_raw, plaintext_label),
    )
    transport = pick("SRZ_TRANSPORT", data.get("transport"))
    if transport is not None and transport not in ("smtp", "maildir", "console", "null"):
        raise ConfigError(f"transport 应为 smtp、maildir、console 或 null，而不是 {transport!r}")
    if transport == "smtp" and not smtp.host:
        raise ConfigError("transport 为 smtp，但没有配置 SMTP 服务器（SRZ_SMTP_HOST）")
    send_hour_raw, send_hour_label = read.get("send_hour", "SRZ_SEND_HOUR")
    send_hour = None
    if send_hour_raw not in (None, ""):
        send_hour = _parse_int(send_hour_raw, send_hour_label, 0, 23, " 0 到 23 之间的整数（整点）")
    interval_raw, interval_label = read.get("interval_seconds", default=900)
    interval_seconds = _parse_int(interval_raw, interval_label, 1, None, "正整数（秒）")
    weekly_raw, weekly_label = read.get("weekly_summary", "SRZ_WEEKLY_SUMMARY", default=True)
    digest_raw = pick("SRZ_DIGEST_MAX_ITEMS", data.get("digest_max_items"))
    digest_max_items = None
    if digest_raw not in (None, ""):
        try:
            digest_max_items = int(digest_raw)
        except ValueError:
            digest_max_items = 0
        if not 1 <= digest_max_items <= 500:
            raise ConfigError(f"digest_max_items 应为 1 到 500 的整数，而不是 {digest_raw!r}")
    data_dir = Path(pick("SRZ_DATA_DIR", data.get("data_dir")) or default_data_dir())
    maildir = Path(pick("SRZ_MAILDIR", data.get("maildir")) or default_data_dir() / "maildir")
    settings = Settings(
        database_url=db_url
        or env.get("SRZ_DATABASE_URL")
        or data.get("database_url")
        or _default_database_url(),
        maildir=maildir,
        mail_from=pick("SRZ_MAIL_FROM", data.get("mail_from"))
        or smtp.user
        or "srz-tracker@localhost",
        mail_from_name=data.get("mail_from_name", "双认证工作提醒"),
        smtp=smtp,
        transport=transport,
        send_hour=send_hour,
        interval_seconds=interval_seconds,
        digest_max_items=digest_max_items,
        weekly_summary=_parse_bool(weekly_raw, weekly_label),
        holidays=_parse_date_list(cal.get("holidays"), f"{where}: calendar.holidays"),
        workdays=_parse_date_list(cal.get("workdays"), f"{where}: calendar.workdays"),
        templates_dir=Path(data.get("templates_dir") or bundled_dir(EMAIL_TEMPLATES)),
        config_path=path,
        data_dir=data_dir,
        web=_web_settings(data.get("web", {}), read, env),
        password_in_config=bool(smtp_data.get("password")),
    )
    return settings


def _web_settings(web: dict[str, Any], read: _Reader, env: Any) -> WebSettings:
    base_url = (env.get("SRZ_WEB_BASE_URL") or web.get("base_url") or "").strip().rstrip("/")
    if base_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base_url):
        raise ConfigError(
            f"配置项 web.base_url 应为网址，如 https://srz.example.cn，而不是 {base_url!r}"
        )
    secret_file = env.get("SRZ_WEB_SECRET_FILE") or web.get("secret_file")
    days_raw, days_label = read.get("web.link_days", "SRZ_WEB_LINK_DAYS", DEFAULT_LINK_DAYS)
    mb_raw, mb_label = read.get("web.max_upload_mb", "SRZ_WEB_MAX_UPLOAD_MB", DEFAULT_UPLOAD_MB)
    files_raw, files_label = read.get("web.max_files", default=10)
    return WebSettings(
        base_url=base_url or None,
        secret=env.get("SRZ_WEB_SECRET") or web.get("secret") or None,
        secret_file=Path(secret_file) if secret_file else None,
        link_days=_parse_int(days_raw, days_label, 1, 3650, " 1 到 3650 之间的天数"),
        max_upload_mb=_parse_int(mb_raw, mb_label, 1, 1024, " 1 到 1024 之间的整数（MB）"),
        max_files=_parse_int(files_raw, files_label, 1, 100, " 1 到 100 之间的整数"),
    )


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
