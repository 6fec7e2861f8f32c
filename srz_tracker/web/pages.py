"""Rendering the pages: jinja2 templates in ``web/templates`` (autoescaped, strict), one
stylesheet in ``web/static``, no scripts, and the headers every answer carries.

A link's token is in the page's address, so nothing on a page may send it elsewhere:
no external resource, no referrer (``Referrer-Policy: no-referrer``), and a content
security policy that allows the server's own stylesheet and forms only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from srz_tracker.text import cn_date, cn_date_short, cn_datetime, days_phrase

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "x-robots-tag": "noindex, nofollow",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def mask_email(email: str) -> str:
    """``wangfang@nn.example.cn`` → ``wa***@nn.example.cn``: enough to recognise one's
    own address on a page somebody else may see over one's shoulder."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}" if domain else email


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES), encoding="utf-8"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("j2",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        cn_date=cn_date,
        cn_date_short=cn_date_short,
        cn_datetime=cn_datetime,
        days_phrase=days_phrase,
        mask_email=mask_email,
    )
    return env


class Pages:
    """The page renderer of one app; ``plan`` is the plan's header (titles, contact line)."""

    def __init__(self) -> None:
        self.env = _env()

    def render(self, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        html = self.env.get_template(name).render(context)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
