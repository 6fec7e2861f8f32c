"""The task page: GET shows (and never changes anything: mail scanners open links), the
two forms POST (办结 with evidence files, 申请延期), each with the link's CSRF token and
a nonce, and a file goes back only to the link that uploaded it (or to the office)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from srz_tracker.clock import local_date, parse_date
from srz_tracker.errors import NotFound, UsageError
from srz_tracker.kinds import LinkPurpose
from srz_tracker.links import Link, path_for
from srz_tracker.mail.links_context import plan_head
from srz_tracker.store import db
from srz_tracker.tasks.access import Audience
from srz_tracker.tasks.evidence import (
    ACCEPT,
    ALLOWED_TEXT,
    UploadRefused,
    UploadTooLarge,
    get_file,
    may_download,
)
from srz_tracker.tasks.page import load_task, plan_timezone_of, task_page
from srz_tracker.tasks.submissions import (
    DoneForm,
    ExtensionForm,
    Outcome,
    submit_done,
    submit_extension,
)
from srz_tracker.web.access import Refusal, Web, csrf_failed, not_yours
from srz_tracker.web.upload import FormError, StreamedForm, read_form

FLASH = {
    "done": "已登记办结，谢谢！办结信息已记录，系统不再就此事项发送提醒。",
    "progress": "已登记完成一次，谢谢！",
    "dup": "此表单已经提交过，未重复登记。",
    "ext": "延期申请已提交，自治区农业农村厅农产品质量安全监管处审核后生效；"
    "在此之前仍按原期限提醒。",
}


def _web(request: Request) -> Web:
    return request.app.state.web  # type: ignore[no-any-return]


def _ids(request: Request) -> tuple[int, str]:
    return int(request.path_params["task_id"]), str(request.path_params["token"])


def render_task(
    web: Web,
    link: Link,
    token: str,
    now: dt.datetime,
    *,
    status: int = 200,
    error: str | None = None,
    flash: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    with db.read_session(web.engine) as session:
        task = load_task(session, link.target)
        if task is None:
            raise Refusal(404, "事项不存在", "该事项不存在或已被删除。")
        audience = Audience.of(session, link.email)
        if not audience.may_open_task(task):
            raise not_yours()
        today = local_date(now, plan_timezone_of(task))
        data = task_page(session, task, audience, today)
        plan = plan_head(session)
    base = path_for(LinkPurpose.TASK, task.id, token)
    form = {
        "on": today.isoformat(),
        "name": data["default_name"],
        "note": "",
        "reason": "",
        "to": "",
        "ext_reason": "",
        **(values or {}),
    }
    context: dict[str, Any] = {
        "plan": plan,
        "task": data,
        "today": today,
        "base": base,
        "csrf": web.signer.csrf(token),
        "nonce_done": secrets.token_urlsafe(18),
        "nonce_ext": secrets.token_urlsafe(18),
        "form": form,
        "error": error,
        "flash": flash,
        "accept": ACCEPT,
        "allowed_text": ALLOWED_TEXT,
        "max_mb": web.settings.web.max_upload_mb,
        "max_files": web.settings.web.max_files,
        "mine": path_for(
            LinkPurpose.MINE, None, web.signer.token(LinkPurpose.MINE, None, link.email, now)
        ),
        "viewer": link.email,
        "title": data["title"],
    }
    return web.pages.render("task.html.j2", context, status)


def task_get(request: Request) -> Response:
    web = _web(request)
    task_id, token = _ids(request)
    now = web.now()
    link = web.open_link(token, LinkPurpose.TASK, task_id, now)
    # Only picks a message to show: a GET changes nothing, whatever its query says.
    flash = FLASH.get(request.query_params.get("ok", ""))
    return render_task(web, link, token, now, flash=flash)


async def _read(request: Request, web: Web) -> StreamedForm:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > web.body_cap:
        raise Refusal(
            413, "提交未成功", "提交的内容过大，请减少或压缩文件后重新提交。未作任何登记。"
        )
    try:
        return await read_form(
            request.headers.get("content-type", ""),
            request.stream(),
            web.store,
            web.file_limit,
            web.settings.web.max_files,
            web.body_cap,
        )
    except FormError as exc:
        raise Refusal(exc.status, "提交未成功", f"{exc}。未作任何登记。") from None


def _checked_task(session: Any, link: Link) -> None:
    task = load_task(session, link.target)
    if task is None:
        raise Refusal(404, "事项不存在", "该事项不存在或已被删除。")
    if not Audience.of(session, link.email).may_open_task(task):
        raise not_yours()


def _submit_done(web: Web, link: Link, form: DoneForm, now: dt.datetime) -> Outcome:
    with db.write_session(web.engine) as session:
        _checked_task(session, link)
        return submit_done(session, link.target or 0, link.email, form, web.store, now)


def _submit_extension(web: Web, link: Link, form: ExtensionForm, now: dt.datetime) -> Outcome:
    with db.write_session(web.engine) as session:
        _checked_task(session, link)
        return submit_extension(session, link.target or 0, link.email, form, now)


async def _post(request: Request, action: str) -> Response:
    web = _web(request)
    task_id, token = _ids(request)
    now = web.now()
    link = web.open_link(token, LinkPurpose.TASK, task_id, now)
    form = await _read(request, web)
    values = {k: form.get(k) for k in ("on", "name", "note", "reason", "to", "ext_reason")}
    try:
        if not web.signer.csrf_ok(token, form.get("csrf")):
            raise csrf_failed()
        nonce = form.get("nonce").strip()
        if not (16 <= len(nonce) <= 64):
            raise csrf_failed()
        try:
            if action == "done":
                if form.too_many_files:
                    raise UsageError(f"一次最多上传 {web.settings.web.max_files} 个文件")
                files = [upload.finish() for upload in form.uploads]
                done = DoneForm(
                    nonce=nonce,
                    on=parse_date(form.get("on") or "", "完成日期"),
                    name=form.get("name"),
                    note=form.get("note"),
                    no_evidence_reason=form.get("reason"),
                    files=files,
                )
                outcome = await run_in_threadpool(_submit_done, web, link, done, now)
                key = (
                    "dup"
                    if outcome.duplicate
                    else ("done" if outcome.status == "done" else "progress")
                )
            else:
                ext = ExtensionForm(
                    nonce=nonce,
                    to=parse_date(form.get("to") or "", "新期限"),
                    name=form.get("name"),
                    reason=form.get("ext_reason"),
                )
                outcome = await run_in_threadpool(_submit_extension, web, link, ext, now)
                key = "dup" if outcome.duplicate else "ext"
        except UploadTooLarge as exc:
            return await _again(web, link, token, now, str(exc), 413, values)
        except UploadRefused as exc:
            return await _again(web, link, token, now, str(exc), 415, values)
        except NotFound as exc:
            raise Refusal(404, "事项不存在", str(exc)) from None
        except UsageError as exc:
            return await _again(web, link, token, now, str(exc), 400, values)
    finally:
        form.discard()
    return RedirectResponse(f"{path_for(LinkPurpose.TASK, task_id, token)}?ok={key}", 303)


async def _again(
    web: Web, link: Link, token: str, now: dt.datetime, error: str, status: int, values: dict
) -> Response:
    """The page again, with what went wrong on top and what was typed kept."""
    message = f"{error}（本次未作任何登记；如需上传文件，请重新选择。）"
    return await run_in_threadpool(
        lambda: render_task(web, link, token, now, status=status, error=message, values=values)
    )


async def task_done(request: Request) -> Response:
    return await _post(request, "done")


async def task_extension(request: Request) -> Response:
    return await _post(request, "extension")


def task_file(request: Request) -> Response:
    web = _web(request)
    task_id, token = _ids(request)
    now = web.now()
    link = web.open_link(token, LinkPurpose.TASK, task_id, now)
    with db.read_session(web.engine) as session:
        task = load_task(session, task_id)
        audience = Audience.of(session, link.email)
        if task is None or not audience.may_open_task(task):
            raise not_yours()
        try:
            row = get_file(session, int(request.path_params["file_id"]))
        except NotFound:
            raise Refusal(404, "文件不存在", "该文件不存在。") from None
        if not may_download(row, task_id, link.email, audience.office):
            raise Refusal(
                403,
                "无权下载",
                "此文件只能由上传者本人（通过上传时使用的链接）或自治区农业农村厅农产品质量"
                "安全监管处下载。",
            )
        path, filename, mime = web.store.path_of(row.sha256), row.filename, row.content_type
    if not path.is_file():
        raise Refusal(404, "文件不存在", "该文件已不在服务器上，请与管理员联系。")
    return FileResponse(
        path, media_type=mime, filename=filename, headers={"cache-control": "no-store"}
    )
