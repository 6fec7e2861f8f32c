"""End to end, with real parts: ``srz remind`` sends a reminder through the loopback SMTP
server; the link is taken out of the email as received and opened in headless Chromium
(Debian's, driven by Playwright) against ``srz serve`` running as a real process; the
form is filled in, a real PDF uploaded and submitted; then the CLI shows the task done,
the log names the contact and 网页, ``srz show`` lists the file with its sha256, and the
next pass sends nothing about the task. Refusals (tampered or foreign links, an expired
one, no CSRF token, a GET that tries to act, an oversized file, an executable named .pdf,
a date in the future) each show a Chinese page and write nothing. Screenshots at 375 px
(a phone, WeChat's browser) and 1280 px go to ``test-artifacts/web/``.

Two ``srz serve`` processes on one database answer as one (no state in memory)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from srz_tracker.clock import parse_now
from srz_tracker.links import link_signer
from srz_tracker.tasks.evidence import EvidenceStore
from tests.daemon_helpers import srz_run
from tests.smtp_server import free_port
from tests.srz_cli_helpers import row_counts
from tests.web_helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ELF_BYTES,
    ServerProcess,
    body_text,
    links_in,
    make_pdf,
    summary_task,
    task_link,
    web_env,
    web_settings,
)

pytestmark = pytest.mark.slow

REMIND_AT = "2023-12-25T10:00"
SERVE_AT = "2023-12-26T10:00"
NEXT_PASS = "2023-12-29T10:00"


@pytest.fixture
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("SRZ_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (scripts/test installs Debian's chromium)")
        pytest.skip(f"no {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.close()


def _srz(db_url: str, env: dict, cwd: Path, *args: str) -> str:
    result = srz_run(db_url, env, cwd, *args, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _shots(db_url: str) -> Path:
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    folder = ARTIFACTS / "web" / backend
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_reminder_link_opens_the_page_and_closes_the_task(
    demo_db_url: str, tmp_path: Path, smtp_server, browser, servers
) -> None:
    port = free_port()
    env = web_env(tmp_path, f"http://127.0.0.1:{port}", smtp=smtp_server)
    target = summary_task(demo_db_url)
    store = EvidenceStore(tmp_path / "data" / "evidence")
    shots = _shots(demo_db_url)

    # The reminder, as the office's server sends it, received by the SMTP server.
    _srz(demo_db_url, env, tmp_path, "remind", "--now", REMIND_AT)
    mine = [m for m in smtp_server.messages if target.email in m.rcpt_tos]
    assert mine, "no reminder reached the city contact"
    email = next(m for m in mine if f"/t/{target.task_id}/" in body_text(m.message))
    link = task_link(email.message, target.task_id)
    assert link.startswith(f"http://127.0.0.1:{port}/t/{target.task_id}/")
    servers.append(ServerProcess(demo_db_url, env, tmp_path, "--now", SERVE_AT, port=port))

    phone = browser.new_page(
        viewport={"width": 375, "height": 812}, device_scale_factor=2, locale="zh-CN"
    )
    answer = phone.goto(link)
    assert answer.status == 200
    assert phone.locator("h1").inner_text() == "报送县级质检机构“双认证”工作总结和绩效自评报告"
    assert "2023年12月30日（星期六）" in phone.content()
    assert phone.input_value("#name") == target.name  # prefilled from the directory
    assert phone.input_value("#on") == "2023-12-26"  # today, as the server sees it
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways on a phone ({width} px)"
    phone.screenshot(path=str(shots / "task-375.png"), full_page=True)
    desk = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    desk.goto(link)
    desk.screenshot(path=str(shots / "task-1280.png"), full_page=True)

    before = row_counts(demo_db_url)
    _refusals(phone, link, target, tmp_path, env, shots)
    assert row_counts(demo_db_url) == before
    assert store.stored_files() == []

    # 办结 as a person does it: date, name, note, a real PDF, submit.
    pdf = make_pdf("2023 summary report")
    pdf_path = tmp_path / "南宁市2023年工作总结.pdf"
    pdf_path.write_bytes(pdf)
    phone.goto(link)
    phone.fill("#on", "2023-12-22")
    phone.fill("#note", "已加盖公章，原件另行报送")
    phone.set_input_files("#files", str(pdf_path))
    with phone.expect_navigation():
        phone.click("text=提交办结")
    assert "已登记办结" in phone.content()
    assert "南宁市2023年工作总结.pdf" in phone.content()
    phone.screenshot(path=str(shots / "done-375.png"), full_page=True)
    desk.goto(link)
    desk.screenshot(path=str(shots / "done-1280.png"), full_page=True)

    tasks = json.loads(_srz(demo_db_url, env, tmp_path, "tasks", "--format", "json"))
    row = next(t for t in tasks if t["id"] == target.task_id)
    assert row["status"] == "done" and row["completed_on"] == "2023-12-22"
    log = json.loads(
        _srz(demo_db_url, env, tmp_path, "log", "--task", str(target.task_id), "--format", "json")
    )
    assert [(e["actor"], e["detail"]["source"]) for e in log if e["action"] == "done"] == [
        (target.email, "网页")
    ]
    table = _srz(demo_db_url, env, tmp_path, "log", "--task", str(target.task_id))
    assert target.email in table and "网页" in table
    sha = hashlib.sha256(pdf).hexdigest()
    shown = _srz(demo_db_url, env, tmp_path, "show", str(target.task_id))
    assert sha in shown and "南宁市2023年工作总结.pdf" in shown
    assert [p.name for p in store.stored_files()] == [sha]

    # The next pass sends no reminder about it (R-1 of the 30th would be due).
    smtp_server.reset()
    _srz(demo_db_url, env, tmp_path, "remind", "--now", NEXT_PASS)
    assert smtp_server.messages, "the next pass sent nothing at all: nothing was tested"
    for message in smtp_server.messages:
        assert f"/t/{target.task_id}/" not in body_text(message.message)
        assert "city-summary-report:南宁市:2023" not in body_text(message.message)

    # 我的事项 from the email's footer link.
    mine_link = next(u for u in links_in(email.message) if "/me/" in u)
    phone.goto(mine_link)
    assert "我的事项" in phone.content()
    phone.screenshot(path=str(shots / "mine-375.png"), full_page=True)
    desk.goto(mine_link)
    desk.screenshot(path=str(shots / "mine-1280.png"), full_page=True)


def _refusals(page, link: str, target, tmp_path: Path, env: dict, shots: Path) -> None:
    """Each refusal on purpose, on the target task's own page, before it is done."""
    base, token = link.rsplit("/", 1)
    origin = base.rsplit("/t/", 1)[0]

    tampered = page.goto(f"{base}/{token[:-3]}{'xyz' if token[-3:] != 'xyz' else 'abc'}")
    assert tampered.status == 403 and "链接无效" in page.content()
    page.screenshot(path=str(shots / "refused-tampered-375.png"))
    other = page.goto(f"{origin}/t/{target.other_task_id}/{token}")
    assert other.status == 403 and "链接无效" in page.content()

    settings = web_settings("sqlite:///unused.db", env)
    signer = link_signer(settings)
    assert signer is not None
    old = parse_now(SERVE_AT) - signer.lifetime - dt.timedelta(days=1)
    expired = page.goto(signer.task_url(target.task_id, target.email, old))
    assert expired.status == 403 and "链接已过期" in page.content()
    assert "发送新链接到 co***@nanning.example.org" in page.content()
    page.screenshot(path=str(shots / "refused-expired-375.png"))

    acting_get = page.goto(f"{link}/done?on=2023-12-22&name=x")
    assert acting_get.status == 405 and "不会办理任何事项" in page.content()

    no_csrf = page.request.post(
        f"{link}/done",
        multipart={"on": "2023-12-22", "name": "王芳", "nonce": "n" * 24},
    )
    assert no_csrf.status == 403 and "页面已失效" in no_csrf.text()

    def submit(files: list[Path] | None = None, on: str | None = None) -> tuple[int, str]:
        page.goto(link)
        if on is not None:
            # An older browser ignores max=; the server must refuse on its own.
            page.evaluate("document.getElementById('on').removeAttribute('max')")
            page.fill("#on", on)
        if files:
            page.set_input_files("#files", [str(f) for f in files])
        else:
            page.fill("#reason", "纸质材料已报送")
        with page.expect_navigation() as navigation:
            page.click("text=提交办结")
        return navigation.value.status, page.content()

    big = tmp_path / "扫描件.pdf"
    with big.open("wb") as fh:
        fh.write(make_pdf())
        fh.write(b"%" + b"0" * (20 * 1024 * 1024))
    status, html = submit([big])
    assert status == 413 and "超过 20 MB" in html and "未作任何登记" in html
    page.screenshot(path=str(shots / "refused-oversized-375.png"), full_page=True)
    exe = tmp_path / "报告.pdf"
    exe.write_bytes(ELF_BYTES)
    status, html = submit([exe])
    assert status == 415 and "内容不是" in html
    status, html = submit(on="2023-12-27")
    assert status == 400 and "晚于今天" in html
    page.screenshot(path=str(shots / "refused-future-375.png"), full_page=True)


def test_two_servers_on_one_database_answer_as_one(
    demo_db_url: str, tmp_path: Path, servers
) -> None:
    env = web_env(tmp_path, "https://srz.example.cn")
    target = summary_task(demo_db_url)
    a = ServerProcess(demo_db_url, env, tmp_path, "--now", SERVE_AT)
    servers.append(a)
    b = ServerProcess(demo_db_url, env, tmp_path, "--now", SERVE_AT)
    servers.append(b)
    signer = link_signer(web_settings(demo_db_url, env))
    assert signer is not None
    path = urllib.parse.urlsplit(
        signer.task_url(target.task_id, target.email, parse_now(SERVE_AT))
    ).path
    with httpx.Client(timeout=30) as client:
        page = client.get(a.base + path).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        nonce = re.search(r'name="nonce" value="([^"]+)"', page)
        assert csrf and nonce
        pdf = make_pdf("two workers")
        fields = {
            "csrf": csrf.group(1),
            "nonce": nonce.group(1),
            "on": "2023-12-21",
            "name": "王芳",
        }
        # The page came from A; its form goes to B, and B takes it.
        answer = client.post(
            b.base + path + "/done", data=fields, files={"files": ("a.pdf", pdf, "application/pdf")}
        )
        assert answer.status_code == 303, answer.text
        # The same form sent to A now: recorded once.
        again = client.post(
            a.base + path + "/done", data=fields, files={"files": ("a.pdf", pdf, "application/pdf")}
        )
        assert again.status_code == 303 and again.headers["location"].endswith("?ok=dup")
        # The file B stored is served by A.
        shown = client.get(a.base + path).text
        file_path = re.search(r'href="(/t/\d+/[^"]+/files/\d+)"', shown)
        assert file_path
        assert client.get(a.base + file_path.group(1)).content == pdf
    # Several workers of one `srz serve` too.
    many = ServerProcess(demo_db_url, env, tmp_path, "--now", SERVE_AT, "--workers", "2")
    servers.append(many)
    with httpx.Client(timeout=30) as client:
        for _ in range(4):
            assert "已办结" in client.get(many.base + path).text
