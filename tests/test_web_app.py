"""The web pages in process (Starlette's test client over the real app, real databases,
real files on disk): what a link opens, the 办结 and 申请延期 forms, evidence files, and
every refusal with its Chinese page and nothing written."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from srz_tracker.clock import parse_now
from srz_tracker.kinds import LinkPurpose
from srz_tracker.links import link_signer
from srz_tracker.store import db
from srz_tracker.store.models import AuditEvent, Notification, Task
from srz_tracker.tasks.evidence import EvidenceStore
from srz_tracker.web.app import create_app, redact
from tests.srz_cli_helpers import NN_PLAIN, row_counts, srz, srz_json
from tests.web_helpers import ELF_BYTES, MZ_BYTES, Target, make_pdf, summary_task, web_env

NOW = "2023-12-25T10:00"
# A file input left empty, as a browser sends it (and the form stays multipart).
NO_FILE = [("files", ("", b"", "application/octet-stream"))]


class Site:
    def __init__(self, db_url: str, tmp_path: Path, **env: str) -> None:
        self.db_url = db_url
        self.env = web_env(tmp_path, "https://srz.example.cn", **env)
        from tests.web_helpers import web_settings

        self.settings = web_settings(db_url, self.env)
        self.now = parse_now(NOW)
        self.signer = link_signer(self.settings)
        assert self.signer is not None
        self.client = TestClient(create_app(self.settings, self.now))
        self.store = EvidenceStore.of(self.settings)
        self.target: Target = summary_task(db_url)

    def path(self, purpose: LinkPurpose, target: int | None, email: str, now=None) -> str:
        url = self.signer.url(purpose, target, email, now or self.now)
        return url.removeprefix("https://srz.example.cn")

    def task_path(self, task_id: int | None = None, email: str | None = None, now=None) -> str:
        return self.path(
            LinkPurpose.TASK, task_id or self.target.task_id, email or self.target.email, now
        )

    def form_tokens(self, path: str) -> dict[str, str]:
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert csrf and nonce
        return {"csrf": csrf.group(1), "nonce": nonce.group(1)}

    def done(self, path: str, files=None, **fields: str):
        data = {**self.form_tokens(path), "on": "2023-12-20", "name": "王芳", **fields}
        return self.client.post(
            path + "/done", data=data, files=files or NO_FILE, follow_redirects=False
        )

    def srz(self, *args: str) -> str:
        """``srz`` with this site's environment (its data directory)."""
        from click.testing import CliRunner

        from srz_tracker.cli import cli

        result = CliRunner().invoke(cli, ["--db", self.db_url, *args], env=self.env)
        assert result.exit_code == 0, result.output
        return result.stdout

    def task(self, task_id: int | None = None) -> dict:
        rows = srz_json(self.db_url, "tasks", "--now", NOW)
        return next(r for r in rows if r["id"] == (task_id or self.target.task_id))


@pytest.fixture
def site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    yield Site(demo_db_url, tmp_path)


def _pdf(name: str = "工作总结.pdf", data: bytes | None = None):
    return [("files", (name, data or make_pdf(), "application/pdf"))]


def test_the_task_page_shows_the_task_and_a_get_changes_nothing(site: Site) -> None:
    before = row_counts(site.db_url)
    path = site.task_path()
    page = site.client.get(path)
    assert page.status_code == 200
    text = page.text
    assert "报送县级质检机构“双认证”工作总结和绩效自评报告" in text
    assert "2023年12月30日（星期六）" in text and "还剩 5 天" in text
    assert "四（二）" in text and "请各市农业农村局于12月30日前" in text
    assert 'value="南宁市联系人（示例）"' in text  # the name, prefilled from the directory
    assert 'value="2023-12-25"' in text and 'max="2023-12-25"' in text
    # A GET that tries to act: query parameters are only ever read for a message.
    site.client.get(path + "?ok=done&on=2023-12-20&action=done&name=x")
    site.client.get(path + "/done?on=2023-12-20")
    assert row_counts(site.db_url) == before
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_done_with_a_pdf_runs_the_same_operation_as_srz_done(site: Site) -> None:
    pdf = make_pdf("summary")
    answer = site.done(site.task_path(), files=_pdf(data=pdf), note="已盖章报送")
    assert answer.status_code == 303, answer.text
    page = site.client.get(answer.headers["location"])
    assert "已登记办结" in page.text and "工作总结.pdf" in page.text
    row = site.task()
    assert row["status"] == "done" and row["completed_on"] == "2023-12-20"
    log = srz_json(site.db_url, "log", "--task", str(site.target.task_id))
    done = [e for e in log if e["action"] == "done"]
    assert done[0]["actor"] == site.target.email
    assert done[0]["detail"]["source"] == "网页" and done[0]["detail"]["by"] == "王芳"
    sha = hashlib.sha256(pdf).hexdigest()
    assert site.store.path_of(sha).read_bytes() == pdf
    shown = srz(site.db_url, "show", str(site.target.task_id)).stdout
    assert sha in shown and "工作总结.pdf" in shown
    with db.read_session(db.get_engine(site.db_url)) as session:
        pending = session.scalars(
            select(Notification.status).where(Notification.task_id == site.target.task_id)
        ).all()
    assert "pending" not in pending
    # The file goes back to the link that uploaded it.
    info = srz_json(site.db_url, "show", str(site.target.task_id))
    file_id = info["files"][0]["id"]
    got = site.client.get(f"{site.task_path()}/files/{file_id}")
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"] == "application/pdf"
    # ... not to another recipient of the same task (the city's leader) ...
    leader = site.task_path(email="leader@nanning.example.org")
    refused = site.client.get(f"{leader}/files/{file_id}")
    assert refused.status_code == 403 and "只能由上传者本人" in refused.text
    # ... and to the office.
    office = site.task_path(email="office@gx-agri.example.org")
    assert site.client.get(f"{office}/files/{file_id}").content == pdf
    # srz evidence get exports it.
    out = Path(site.env["SRZ_DATA_DIR"]).parent / "exported.pdf"
    site.srz("evidence", "get", str(file_id), "-o", str(out))
    assert out.read_bytes() == pdf


def test_a_form_sent_twice_counts_once(site: Site, demo_db_url: str) -> None:
    # Key staff training: counted (2 a year); each 办结 records one session.
    task_id = srz_json(
        demo_db_url, "tasks", "--obligation", "key-staff-training", "--institution", NN_PLAIN
    )[0]["id"]
    path = site.task_path(task_id, "inst01@nanning.example.org")
    data = {**site.form_tokens(path), "on": "2023-06-12", "name": "陈刚"}
    first = site.client.post(path + "/done", data=data, files=_pdf("签到表.pdf"))
    again = site.client.post(path + "/done", data=data, files=_pdf("签到表.pdf"))
    assert first.status_code == again.status_code == 200
    assert "已登记完成一次" in first.text and "已经提交过" in again.text
    assert site.task(task_id)["progress"] == "1/2"
    assert site.task(task_id)["status"] == "open"


def _assert_nothing_written(site: Site, before: dict[str, int]) -> None:
    assert row_counts(site.db_url) == before
    assert site.store.stored_files() == []
    assert list((site.store.root / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("future date", 400, "晚于今天"),
        ("before the period", 400, "早于本期"),
        ("executable renamed .pdf", 415, "内容不是"),
        ("windows executable", 415, "内容不是"),
        ("png named .pdf", 415, "与文件扩展名不符"),
        ("no evidence, no reason", 400, "请上传文件"),
        ("no csrf", 403, "页面已失效"),
        ("wrong csrf", 403, "页面已失效"),
    ],
)
def test_refused_submissions_write_nothing(site: Site, case: str, status: int, words: str):
    before = row_counts(site.db_url)
    path = site.task_path()
    tokens = site.form_tokens(path)
    data = {**tokens, "on": "2023-12-20", "name": "王芳"}
    files = _pdf()
    if case == "future date":
        data["on"] = "2023-12-26"
    elif case == "before the period":
        data["on"] = "2022-12-31"
    elif case == "executable renamed .pdf":
        files = _pdf("报告.pdf", ELF_BYTES)
    elif case == "windows executable":
        files = _pdf("报告.pdf", MZ_BYTES)
    elif case == "png named .pdf":
        files = _pdf("报告.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    elif case == "no evidence, no reason":
        files = NO_FILE
    elif case == "no csrf":
        del data["csrf"]
    elif case == "wrong csrf":
        data["csrf"] = site.signer.csrf(site.task_path(site.target.other_task_id).split("/")[-1])
    answer = site.client.post(path + "/done", data=data, files=files)
    assert answer.status_code == status, answer.text
    assert words in answer.text and "提交" in answer.text
    _assert_nothing_written(site, before)


def test_an_oversized_file_is_refused_while_streaming(demo_db_url: str, tmp_path: Path) -> None:
    site = Site(demo_db_url, tmp_path, SRZ_WEB_MAX_UPLOAD_MB="1")
    before = row_counts(site.db_url)
    big = make_pdf() + b"%" + b"0" * (1024 * 1024 + 10)
    answer = site.done(site.task_path(), files=_pdf("大文件.pdf", big))
    assert answer.status_code == 413
    assert "超过 1 MB" in answer.text
    _assert_nothing_written(site, before)


def test_links_that_open_nothing(site: Site) -> None:
    before = row_counts(site.db_url)
    path = site.task_path()
    token = path.rsplit("/", 1)[-1]
    tampered = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    page = site.client.get(tampered)
    assert page.status_code == 403 and "链接无效" in page.text
    other = site.client.get(f"/t/{site.target.other_task_id}/{token}")
    assert other.status_code == 403 and "链接无效" in other.text
    mine_token = site.path(LinkPurpose.MINE, None, site.target.email).rsplit("/", 1)[-1]
    assert site.client.get(f"/t/{site.target.task_id}/{mine_token}").status_code == 403
    # A link signed for somebody who is not the task's contact (another city's).
    stranger = site.client.get(site.task_path(email="contact@liuzhou.example.org"))
    assert stranger.status_code == 403 and "无权访问" in stranger.text
    # POSTs under such links are refused before anything is read.
    posted = site.client.post(tampered + "/done", data={"on": "2023-12-20"}, files=_pdf())
    assert posted.status_code == 403
    get_act = site.client.get(path + "/extension")
    assert get_act.status_code == 405 and "不会办理任何事项" in get_act.text
    assert site.client.get("/nothing-here").status_code == 404
    assert row_counts(site.db_url) == before


def test_an_expired_link_offers_a_fresh_one_to_the_same_address(site: Site, smtp_server):
    old = site.now - dt.timedelta(days=61)
    path = site.task_path(now=old)
    page = site.client.get(path)
    assert page.status_code == 403 and "链接已过期" in page.text
    assert "co***@nanning.example.org" in page.text
    token = path.rsplit("/", 1)[-1]
    csrf = site.signer.csrf(token)
    before = row_counts(site.db_url)
    refused = site.client.post(f"/renew/{token}", data={"csrf": "x"}, files=NO_FILE)
    assert refused.status_code == 403 and row_counts(site.db_url) == before
    sent = site.client.post(f"/renew/{token}", data={"csrf": csrf}, files=NO_FILE)
    assert sent.status_code == 200 and "新链接将发送到" in sent.text
    again = site.client.post(f"/renew/{token}", data={"csrf": csrf}, files=NO_FILE)
    assert "今天已向" in again.text
    from srz_tracker.config import SmtpSettings, with_overrides
    from srz_tracker.notify.passes import run_pass

    settings = with_overrides(
        site.settings,
        smtp=SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none"),
        transport="smtp",
    )
    with db.write_session(db.get_engine(site.db_url)) as session:
        session.execute(
            Task.__table__.update().values(next_step_at=None)  # only the fresh link is due
        )
    run_pass(db.get_engine(site.db_url), settings, site.now)
    fresh = [m for m in smtp_server.messages if "新链接" in str(m.message["Subject"])]
    assert len(fresh) == 1 and fresh[0].rcpt_tos == [site.target.email]
    from tests.web_helpers import task_link

    url = task_link(fresh[0].message, site.target.task_id)
    assert site.client.get(url.removeprefix("https://srz.example.cn")).status_code == 200


def test_extension_request_is_recorded_for_the_office(site: Site) -> None:
    path = site.task_path()
    tokens = site.form_tokens(path)
    data = {**tokens, "to": "2024-01-15", "name": "王芳", "ext_reason": "等待财政批复"}
    answer = site.client.post(path + "/extension", data=data, files=NO_FILE)
    assert answer.status_code == 200 and "延期申请已提交" in answer.text
    assert "延期申请审核中" in answer.text
    row = site.task()
    assert row["extension_request"] == {"to": "2024-01-15", "reason": "等待财政批复"}
    assert row["due_on"] == "2023-12-30"  # nothing changes until the office decides
    table = srz(site.db_url, "tasks", "--city", "南宁市", "--now", NOW).stdout
    assert "申请延至 2024-01-15" in table
    srz(site.db_url, "extend", str(site.target.task_id), "--to", "2024-01-15", "--reason", "同意")
    assert site.task()["extension_request"] is None
    assert "延期申请" not in srz(site.db_url, "tasks", "--now", NOW).stdout
    with db.read_session(db.get_engine(site.db_url)) as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.task_id == site.target.task_id)
        ).all()
    assert "extension_request" in actions


def test_my_tasks_and_the_city_page(site: Site) -> None:
    mine = site.client.get(site.path(LinkPurpose.MINE, None, site.target.email))
    assert mine.status_code == 200 and "我的事项" in mine.text
    assert f"/t/{site.target.task_id}/" in mine.text
    assert f"/t/{site.target.other_task_id}/" not in mine.text
    city = site.client.get(site.path(LinkPurpose.CITY, site.target.city_id, site.target.email))
    assert city.status_code == 200 and "南宁市事项一览" in city.text
    other_city = site.path(LinkPurpose.CITY, site.target.city_id + 1, site.target.email)
    assert site.client.get(other_city).status_code == 403
    # Each task link on the list opens its page.
    first = re.search(r'href="(/t/\d+/[^"]+)"', mine.text)
    assert first and site.client.get(first.group(1)).status_code == 200


def test_docx_and_xlsx_are_told_from_their_content(site: Site) -> None:
    def office_zip(part: str) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr(part, "<x/>")
        return buffer.getvalue()

    files = [
        ("files", ("总结.docx", office_zip("word/document.xml"), "application/octet-stream")),
        ("files", ("台账.xlsx", office_zip("xl/workbook.xml"), "application/octet-stream")),
        ("files", ("照片.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100, "image/jpeg")),
    ]
    assert site.done(site.task_path(), files=files).status_code == 303
    types = {
        f["filename"]: f["content_type"]
        for f in srz_json(site.db_url, "show", str(site.target.task_id))["files"]
    }
    assert types["总结.docx"].endswith("wordprocessingml.document")
    assert types["台账.xlsx"].endswith("spreadsheetml.sheet")
    assert types["照片.jpg"] == "image/jpeg"


def test_the_access_log_leaves_tokens_out() -> None:
    assert redact("/t/26/WyJ0YXNrIl0.abc/done") == "/t/26/…/done"
    assert redact("/me/WyJtaW5lIl0.x") == "/me/…"
    assert redact("/c/3/abc") == "/c/3/…" and redact("/renew/abc") == "/renew/…"


def test_serve_refuses_to_start_without_a_secret(demo_db_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from srz_tracker.cli import cli

    env = {k: "" for k in ("SRZ_WEB_SECRET", "SRZ_WEB_SECRET_FILE", "SRZ_CONFIG")}
    result = CliRunner().invoke(cli, ["--db", demo_db_url, "serve", "--port", "1"], env=env)
    assert result.exit_code == 2
    assert "SRZ_WEB_SECRET" in result.output
