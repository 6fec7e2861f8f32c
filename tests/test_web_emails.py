"""Links in every email, sent through the loopback SMTP server: each task an email names
links to its page for that recipient, every email has "我的事项", the weekly summary links
to the city's page; without ``web.base_url`` the emails carry no link at all."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import update

from srz_tracker.clock import parse_now
from srz_tracker.config import SmtpSettings, with_overrides
from srz_tracker.kinds import LinkPurpose
from srz_tracker.links import link_signer
from srz_tracker.notify.passes import run_pass
from srz_tracker.store import db
from srz_tracker.store.models import Task
from tests.web_helpers import body_text, links_in, web_env, web_settings


def _send(db_url: str, tmp_path: Path, smtp_server, now: str, base_url: str | None, **kw):
    env = web_env(tmp_path, base_url or "")
    if base_url is None:
        env.pop("SRZ_WEB_BASE_URL")
    settings = with_overrides(
        web_settings(db_url, env),
        smtp=SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none"),
        transport="smtp",
    )
    run_pass(db.get_engine(db_url), settings, parse_now(now), **kw)
    return settings


def _html(message) -> str:
    part = message.get_body(preferencelist=("html",))
    return str(part.get_content())


def test_every_task_an_email_names_links_to_its_page(
    demo_db_url: str, tmp_path: Path, smtp_server
) -> None:
    settings = _send(
        demo_db_url, tmp_path, smtp_server, "2023-12-25T10:00", "https://srz.example.cn"
    )
    signer = link_signer(settings)
    assert signer is not None and smtp_server.messages
    now = parse_now("2023-12-25T10:00")
    for received in smtp_server.messages:
        text, html = body_text(received.message), _html(received.message)
        first_to = received.message["To"].addresses[0].addr_spec.lower()
        named = set(re.findall(r"srz done (\d+)", text))
        assert named, text
        for task_id in named:
            urls = [u for u in links_in(received.message) if f"/t/{task_id}/" in u]
            assert urls, f"task {task_id} has no link in:\n{text}"
            assert urls[0] in html
            token = urls[0].rsplit("/", 1)[-1]
            link = signer.check_for(token, LinkPurpose.TASK, int(task_id), now)
            assert link.email == first_to  # signed for this email's recipient
        mine = [u for u in links_in(received.message) if "/me/" in u]
        assert mine and "我的事项" in text and "我的事项" in html
        assert signer.check(mine[0].rsplit("/", 1)[-1], now).email == first_to


def test_the_weekly_summary_links_to_the_city_page(
    demo_db_url: str, tmp_path: Path, smtp_server
) -> None:
    with db.write_session(db.get_engine(demo_db_url)) as session:
        session.execute(update(Task).values(next_step_at=None))  # only the summaries
    settings = _send(
        demo_db_url,
        tmp_path,
        smtp_server,
        "2023-12-18T10:00",
        "https://srz.example.cn",
        weekly=True,
    )
    signer = link_signer(settings)
    assert signer is not None
    weekly = [m for m in smtp_server.messages if "工作周报" in str(m.message["Subject"])]
    assert len(weekly) == 12
    for received in weekly:
        city = [u for u in links_in(received.message) if "/c/" in u]
        assert city and "本市事项一览" in body_text(received.message)
        link = signer.check(city[0].rsplit("/", 1)[-1], parse_now("2023-12-18T10:00"))
        assert link.purpose == LinkPurpose.CITY and link.email in received.rcpt_tos


def test_without_a_base_url_emails_carry_no_links(
    demo_db_url: str, tmp_path: Path, smtp_server
) -> None:
    _send(demo_db_url, tmp_path, smtp_server, "2023-12-25T10:00", None, weekly=True)
    assert smtp_server.messages
    for received in smtp_server.messages:
        text, html = body_text(received.message), _html(received.message)
        assert "http" not in text and "http" not in html.lower()
        assert "在线办理" not in text and "我的事项" not in text
