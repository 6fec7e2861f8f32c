"""The web application (Starlette): routes, security headers, an access log that never
writes a token, and Chinese pages for every refusal and error.

Nothing a request needs lives in process memory: links and form tokens are checked
from the secret, the rest is in the database and the shared data directory, so several
``srz serve`` workers behind one proxy answer as one.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from srz_tracker.config import Settings
from srz_tracker.links import link_signer
from srz_tracker.mail.links_context import plan_head
from srz_tracker.store import db
from srz_tracker.store.schema_version import require_current
from srz_tracker.tasks.evidence import EvidenceStore
from srz_tracker.web import list_views, task_views
from srz_tracker.web.access import Refusal, Web
from srz_tracker.web.pages import SECURITY_HEADERS, STATIC

log = logging.getLogger("srz_tracker.web")

# /t/77/<token>, /me/<token>, /c/3/<token>, /renew/<token>: the token never reaches a log.
_TOKEN = re.compile(r"^(/(?:t/\d+|c/\d+|me|renew))/[^/?]+")


def redact(path: str) -> str:
    return _TOKEN.sub(r"\1/…", path)


class Headers:
    """Security headers on every answer, and one access-log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            log.info(
                "%s %s %s %.0f ms",
                scope["method"],
                redact(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )


def _plan(request: Request) -> dict[str, Any]:
    try:
        with db.read_session(request.app.state.web.engine) as session:
            return plan_head(session)
    except Exception:
        return {"short_title": "双认证", "title": "", "contact_line": "", "office": ""}


def _page(request: Request, status: int, heading: str, message: str, **extra: Any) -> Response:
    context = {
        "plan": _plan(request),
        "title": heading,
        "heading": heading,
        "message": message,
        "renew_token": None,
        **extra,
    }
    return request.app.state.web.pages.render("message.html.j2", context, status)


async def on_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return _page(request, exc.status, exc.title, exc.message, **exc.extra)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _page(
            request,
            405,
            "此操作需要提交表单",
            "直接打开此地址不会办理任何事项，也没有作任何登记。请在事项页面上填写表单后点击提交按钮。",
        )
    if exc.status_code == 404:
        return _page(
            request, 404, "页面不存在", "找不到此页面。请直接点击邮件中的链接，不要手工修改地址。"
        )
    return _page(request, exc.status_code, "请求无法处理", "请求无法处理，请稍后重试。")


async def on_error(request: Request, exc: Exception) -> Response:
    log.exception("error answering %s %s", request.method, redact(request.url.path))
    return _page(
        request,
        500,
        "服务器出错",
        "服务器处理请求时出错，本次操作未完成。请稍后重试；如仍有问题，请与自治区农业农村厅"
        "农产品质量安全监管处联系。",
    )


def create_app(settings: Settings, now: dt.datetime | None = None) -> Starlette:
    """The app for ``settings``; ``now`` fixes the clock (trials and tests, like every
    command's ``--now``). Refuses to start without a secret or on an old schema."""
    signer = link_signer(settings, required=True)
    assert signer is not None
    engine = db.get_engine(settings.database_url)
    require_current(engine)
    web = Web(settings, engine, signer, EvidenceStore.of(settings), fixed_now=now)
    (web.store.root / "tmp").mkdir(parents=True, exist_ok=True)
    task = "/t/{task_id:int}/{token}"
    routes = [
        Route("/", list_views.home),
        Route("/healthz", list_views.health),
        Route(task, task_views.task_get),
        Route(task + "/done", task_views.task_done, methods=["POST"]),
        Route(task + "/extension", task_views.task_extension, methods=["POST"]),
        Route(task + "/files/{file_id:int}", task_views.task_file),
        Route("/me/{token}", list_views.mine),
        Route("/c/{city_id:int}/{token}", list_views.city),
        Route("/renew/{token}", list_views.renew, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            Refusal: on_refusal,
            HTTPException: on_http_error,
            Exception: on_error,
        },
    )
    app.state.web = web
    app.add_middleware(Headers)
    return app
