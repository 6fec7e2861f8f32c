"""Safety checks on the settings that the commands which send (or report) call: a
password file others may read, a password sent in clear."""

from __future__ import annotations

import stat

from srz_tracker.config import Settings
from srz_tracker.errors import ConfigError


def exposed_password_warning(settings: Settings) -> str | None:
    """The config file holds the SMTP password and others may read it (mode & 0o077),
    the way ssh warns about a private key file; None when all is well."""
    path = settings.config_path
    if path is None or not settings.password_in_config:
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None  # read a moment ago; gone now is not this check's business
    if not mode & 0o077:
        return None
    return (
        f"配置文件 {path} 含有 SMTP 密码，但其权限为 {mode:04o}，同组或其他用户可以读取。"
        f"请执行 chmod 600 {path}（仅文件属主可读写），"
        "或把密码移到只有运行用户可读的环境变量文件中（SRZ_SMTP_PASSWORD）"
    )


def plaintext_auth_problem(settings: Settings) -> str | None:
    """Logging in (AUTH) over a connection without TLS sends the password in clear:
    refused unless ``smtp.allow_plaintext_auth`` says so. None when there is no such
    login (no SMTP, TLS, or no user and password)."""
    smtp = settings.smtp
    if (
        settings.effective_transport != "smtp"
        or smtp.security != "none"
        or not (smtp.user and smtp.password)
        or smtp.allow_plaintext_auth
    ):
        return None
    return (
        "配置项 smtp.security 为 none（不加密），但配置了 SMTP 用户名和密码："
        '登录时密码将以明文在网络上传输，已拒绝。请改用 security = "ssl"（端口 465）'
        '或 "starttls"（端口 587）；如确需在可信的内部网络上明文登录，请在配置文件 [smtp] '
        "中设置 allow_plaintext_auth = true（或环境变量 SRZ_SMTP_ALLOW_PLAINTEXT_AUTH=1）"
    )


def require_safe_smtp(settings: Settings) -> None:
    """Raise ``ConfigError`` (exit 2) before anything is sent with a plaintext login."""
    problem = plaintext_auth_problem(settings)
    if problem:
        raise ConfigError(problem)
