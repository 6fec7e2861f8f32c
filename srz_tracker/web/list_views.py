"""The list pages (我的事项, a city's page), the fresh-link form of an expired link, and
the small pages around them (home, health, errors)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from srz_tracker.clock import DEFAULT_TZ, local_date
from srz_tracker.kinds import LinkPurpose
from srz_tracker.links import LinkExpired, LinkInvalid, path_for
from srz_tracker.mail.links_context import plan_head
from srz_tracker.notify.renewal import request_fresh_link
from srz_tracker.store import db
from srz_tracker.tasks.access import Audience, city_name, city_tasks, tasks_for
from srz_tracker.tasks.page import task_summary
from srz_tracker.web.access import INVALID, Refusal, Web, csrf_failed, not_yours
from srz_tracker.web.pages import mask_email
from srz_tracker.web.upload import FormError, read_form


def _web(request: Request) -> Web:
    return request.app.state.web  # type: ignore[no-any-return]


def _rows(web: Web, tasks: list[Any], email: str, now: dt.datetime, today: dt.date) -> list:
    rows = []
    for task in tasks:
        row = task_summary(task, today)
        token = web.signer.token(LinkPurpose.TASK, task.id, email, now)
        row["href"] = path_for(LinkPurpose.TASK, task.id, token)
        rows.append(row)
    return rows


def _counts(rows: list[dict[str, Any]], today: dt.date) -> dict[str, int]:
    due = [r for r in rows if r["due_on"] <= today or not r["open"]]
    done = sum(1 for r in rows if r["status"] == "done")
    return {
        "open": sum(1 for r in rows if r["open"]),
        "overdue": sum(1 for r in rows if r["open"] and r["days_left"] < 0),
        "soon": sum(1 for r in rows if r["open"] and 0 <= r["days_left"] <= 14),
        "done": done,
        "due": len(due),
    }


def mine(request: Request) -> Response:
    web = _web(request)
    token = str(request.path_params["token"])
    now = web.now()
    link = web.open_link(token, LinkPurpose.MINE, None, now)
    today = local_date(now, DEFAULT_TZ)
    with db.read_session(web.engine) as session:
        audience = Audience.of(session, link.email)
        if not audience.known:
            raise not_yours("任何事项")
        rows = _rows(web, tasks_for(session, audience, today), link.email, now, today)
        plan = plan_head(session)
    context = {
        "plan": plan,
        "title": "我的事项",
        "heading": "我的事项",
        "lead": f"{audience.name or mask_email(link.email)}负责或抄送的事项",
        "rows": rows,
        "counts": _counts(rows, today),
        "today": today,
        "mine": None,
    }
    return web.pages.render("list.html.j2", context)


def city(request: Request) -> Response:
    web = _web(request)
    city_id, token = int(request.path_params["city_id"]), str(request.path_params["token"])
    now = web.now()
    link = web.open_link(token, LinkPurpose.CITY, city_id, now)
    today = local_date(now, DEFAULT_TZ)
    with db.read_session(web.engine) as session:
        name = city_name(session, city_id)
        audience = Audience.of(session, link.email)
        if name is None or not audience.may_open_city(city_id):
            raise not_yours("该市")
        rows = _rows(web, city_tasks(session, city_id, today), link.email, now, today)
        plan = plan_head(session)
    mine_token = web.signer.token(LinkPurpose.MINE, None, link.email, now)
    context = {
        "plan": plan,
        "title": f"{name}事项一览",
        "heading": f"{name}事项一览",
        "lead": f"{name}及所属县级质检机构的事项（{today.year} 年及以前未办结的）",
        "rows": rows,
        "counts": _counts(rows, today),
        "today": today,
        "mine": path_for(LinkPurpose.MINE, None, mine_token),
    }
    return web.pages.render("list.html.j2", context)


async def renew(request: Request) -> Response:
    """POST from an expired link's page: email a fresh link to the same address."""
    web = _web(request)
    token = str(request.path_params["token"])
    now = web.now()
    try:
        link = web.signer.check(token, now)
    except LinkInvalid:
        raise Refusal(403, *INVALID) from None
    except LinkExpired as exc:
        link = exc.link
    else:
        # Still valid: nothing to send, open what it opens.
        return RedirectResponse(path_for(link.purpose, link.target, token), 303)
    try:
        form = await read_form(
            request.headers.get("content-type", ""), request.stream(), web.store, 1, 0, 1 << 16
        )
    except FormError as exc:
        raise Refusal(exc.status, "提交未成功", str(exc)) from None
    form.discard()
    if not web.signer.csrf_ok(token, form.get("csrf")):
        raise csrf_failed()

    def queue() -> Any:
        with db.write_session(web.engine) as session:
            return request_fresh_link(session, link, now), plan_head(session)

    result, plan = await run_in_threadpool(queue)
    if not result.allowed:
        raise not_yours()
    address = mask_email(link.email)
    message = (
        f"新链接将发送到 {address}，请稍后查收邮件（如未收到，请查看垃圾邮件）。"
        if result.queued
        else f"今天已向 {address} 发送过新链接，请查收邮件（如未收到，请查看垃圾邮件）。"
    )
    context = {"plan": plan, "title": "新链接", "heading": "新链接已安排发送", "message": message}
    return web.pages.render("message.html.j2", context)


def home(request: Request) -> Response:
    web = _web(request)
    with db.read_session(web.engine) as session:
        plan = plan_head(session)
    context = {
        "plan": plan,
        "title": "事项办理",
        "heading": "事项办理",
        "message": "请通过提醒邮件中的链接打开需要办理的事项。本网站无需登录；"
        "每个链接只能打开邮件中对应的事项，请勿转发。",
    }
    return web.pages.render("message.html.j2", context)


def health(request: Request) -> Response:
    web = _web(request)
    with db.read_session(web.engine) as session:
        plan_head(session)
    return JSONResponse({"ok": True}, headers={"cache-control": "no-store"})
