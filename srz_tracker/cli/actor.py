"""Who is acting, for the audit log: --by, else SRZ_USER, else the login name."""

from __future__ import annotations

import getpass
import os


def current_actor(by: str | None = None) -> str:
    if by:
        return by
    if os.environ.get("SRZ_USER"):
        return os.environ["SRZ_USER"]
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
