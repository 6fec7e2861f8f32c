"""Who is acting, for the audit log: --by, else SRZ_USER, else the login name.

Checked against the same limit as everything else a user writes (README.md, "Limits"),
naming where the value came from, so a long or multi-line name is refused before any
write instead of being cut (or refused with a traceback) by the database."""

from __future__ import annotations

import getpass
import os

from srz_tracker import limits


def current_actor(by: str | None = None) -> str:
    if by:
        return limits.require(by, limits.ACTOR, "--by") or by
    if os.environ.get("SRZ_USER"):
        user = os.environ["SRZ_USER"]
        return limits.require(user, limits.ACTOR, "环境变量 SRZ_USER") or user
    try:
        login = getpass.getuser()
    except Exception:
        return "unknown"
    return limits.require(login, limits.ACTOR, "登录名") or login
