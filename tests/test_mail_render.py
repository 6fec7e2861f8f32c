"""The email templates: every kind renders, strict variables, escaping, the check command."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from srz_tracker.cli import cli
from srz_tracker.config import PROJECT_ROOT
from srz_tracker.mail.render import (
    KINDS,
    SINGLE_ITEM_KINDS,
    RenderedEmail,
    Renderer,
    RenderError,
)
from srz_tracker.mail.samples import sample_context, sample_contexts
from srz_tracker.text import cn_date, days_phrase

TEMPLATES = PROJECT_ROOT / "email_templates"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES)


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(TEMPLATES, target)
    return target


def test_bundled_templates_pass_the_check(renderer: Renderer) -> None:
    assert renderer.check() == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_every_sample(renderer: Renderer, kind: str) -> None:
    for context in sample_contexts(kind):
        rendered = renderer.render(kind, context)
        assert isinstance(rendered, RenderedEmail)
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.subject == " ".join(rendered.subject.split())
        assert rendered.text.strip() and rendered.html.strip()
        assert context["plan"]["contact_line"] in rendered.text
        assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
        lowered = rendered.html.lower()
        assert "<script" not in lowered and "<link" not in lowered and "http" not in lowered


@pytest.mark.parametrize("kind", SINGLE_ITEM_KINDS)
def test_single_item_email_is_complete(renderer: Renderer, kind: str) -> None:
    context = sample_context(kind)
    [item] = context["items"]
    rendered = renderer.render(kind, context)
    due = cn_date(item["due_on"])
    assert "（星期" in due
    # A weekday-formatted date in the subject: the checkpoint's for a checkpoint email.
    subject_date = item["checkpoint"]["due_on"] if kind == "checkpoint" else item["due_on"]
    assert cn_date(subject_date) in rendered.subject
    for body in (rendered.text, rendered.html):
        assert item["title"] in body
        assert f"依据《实施方案》{item['clause']}：“{item['quote']}”" in body
        assert item["subject_label"] in body
        assert due in body
        assert days_phrase(item["days_left"]) in body
        assert item["actor"] in body
        assert item["done_command"] in body
        assert context["plan"]["contact_line"] in body
        if item["evidence"]:
            assert item["evidence"] in body
        if item["required_count"] > 1:
            assert f"{item['done_count']}/{item['required_count']}" in body


def test_counted_task_shows_progress(renderer: Renderer) -> None:
    rendered = renderer.render("checkpoint", sample_context("checkpoint"))
    assert "已完成 0/2 次" in rendered.text
    assert "2023年6月30日（星期五）" in rendered.text
    assert "0/2" in rendered.subject


def test_escalations_say_overdue_and_who_is_told(renderer: Renderer) -> None:
    leader = renderer.render("escalation_leader", sample_context("escalation_leader"))
    assert "已逾期 4 天" in leader.subject
    assert "本通报发送给：李明（分管领导）" in leader.text
    assert "抄送：王芳（南宁市农业农村局联系人）" in leader.text
    office = renderer.render("escalation_office", sample_context("escalation_office"))
    assert "已逾期 11 天" in office.text
    assert "本通报发送给：自治区农业农村厅农产品质量安全监管处" in office.text


def test_digest_groups_overdue_today_upcoming(renderer: Renderer) -> None:
    context = sample_context("digest")
    rendered = renderer.render("digest", context)
    text = rendered.text
    overdue, today, upcoming = (
        text.index("已逾期事项"),
        text.index("今日到期事项"),
        text.index("即将到期事项"),
    )
    assert overdue < today < upcoming
    for item in context["items"]:
        assert item["done_command"] in text and item["done_command"] in rendered.html
        assert f"“{item['quote']}”" in text
    assert "逾期 1 项" in rendered.subject and "即将到期 2 项" in rendered.subject
    # The office digest also lists failed deliveries.
    office = renderer.render("digest", sample_contexts("digest")[1])
    assert "投递失败" in office.text and "old-contact@nn-nyncj.example.cn" in office.html


def test_delivery_failure_lists_every_failure(renderer: Renderer) -> None:
    context = sample_context("delivery_failure")
    rendered = renderer.render("delivery_failure", context)
    assert "2 封" in rendered.subject
    for failure in context["failures"]:
        assert failure["recipient_email"] in rendered.text
        assert failure["error"] in rendered.text
    assert "srz show 101" in rendered.text


def test_html_escapes_data_text_does_not(renderer: Renderer) -> None:
    context = sample_context("reminder")
    context["items"][0]["title"] = "<script>alert('x')</script>"
    context["recipient"]["name"] = "王<b>芳</b>"
    rendered = renderer.render("reminder", context)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "<b>芳</b>" not in rendered.html
    assert "<script>alert('x')</script>" in rendered.text  # plain text stays as it is


def test_subject_is_one_safe_line(renderer: Renderer) -> None:
    context = sample_context("reminder")
    context["items"][0]["subject_label"] = "南宁市\r\nBcc: evil@example.org"
    rendered = renderer.render("reminder", context)
    assert "\r" not in rendered.subject and "\n" not in rendered.subject
    assert "南宁市 Bcc: evil@example.org" in rendered.subject


def test_missing_variable_is_an_error(renderer: Renderer) -> None:
    context = sample_context("reminder")
    del context["plan"]["contact_line"]
    with pytest.raises(RenderError) as info:
        renderer.render("reminder", context)
    assert "contact_line" in str(info.value)


def test_unknown_kind(renderer: Renderer) -> None:
    with pytest.raises(RenderError):
        renderer.render("nonsense", sample_context("reminder"))


def test_check_reports_undefined_variable_with_file_and_line(template_copy: Path) -> None:
    path = template_copy / "due_today.txt.j2"
    path.write_text(
        path.read_text(encoding="utf-8") + "\n{{ items[0].no_such_field }}\n", encoding="utf-8"
    )
    problems = Renderer(template_copy).check()
    assert problems
    assert any("due_today.txt.j2:" in p and "no_such_field" in p for p in problems), problems


def test_check_reports_undefined_top_level_name_in_html(template_copy: Path) -> None:
    path = template_copy / "reminder.html.j2"
    text = path.read_text(encoding="utf-8").replace("{{ plan.office }}", "{{ plan_office }}", 1)
    path.write_text(text, encoding="utf-8")
    problems = Renderer(template_copy).check()
    assert any(p.startswith("reminder.html.j2:") and "plan_office" in p for p in problems)


def test_check_reports_syntax_error_with_line(template_copy: Path) -> None:
    (template_copy / "checkpoint.subject.j2").write_text("{% if %}\n", encoding="utf-8")
    problems = Renderer(template_copy).check()
    assert any(p.startswith("checkpoint.subject.j2:1:") and "语法" in p for p in problems)


def test_check_reports_missing_file_and_empty_subject(template_copy: Path) -> None:
    (template_copy / "digest.html.j2").unlink()
    (template_copy / "reminder.subject.j2").write_text("{# nothing #}\n", encoding="utf-8")
    problems = Renderer(template_copy).check()
    assert any("digest.html.j2" in p and "缺少" in p for p in problems)
    assert any("reminder.subject.j2" in p and "主题为空" in p for p in problems)


def test_check_reports_dropped_required_fact(template_copy: Path) -> None:
    path = template_copy / "_macros.txt.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace("{{ item.done_command }}", "（略）"),
        encoding="utf-8",
    )
    problems = Renderer(template_copy).check()
    assert any("reminder.txt.j2" in p and "srz done 101" in p for p in problems)


def test_check_reports_external_resources(template_copy: Path) -> None:
    path = template_copy / "_layout.html.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "</body>", '<img src="https://example.org/track.png"></body>'
        ),
        encoding="utf-8",
    )
    problems = Renderer(template_copy).check()
    assert any("外部资源" in p for p in problems)


def test_sample_contexts_are_fresh_copies() -> None:
    a = sample_context("reminder")
    a["items"][0]["title"] = "changed"
    assert sample_context("reminder")["items"][0]["title"] != "changed"


def test_rendered_email_survives_mime_round_trip(renderer: Renderer) -> None:
    from srz_tracker.mail.mime import OutgoingEmail, build_mime

    rendered = renderer.render("digest", sample_context("digest"))
    msg = build_mime(
        OutgoingEmail(
            "<d@srz.example.org>",
            [("a@example.org", "王芳")],
            [],
            rendered.subject,
            rendered.text,
            rendered.html,
            dt.datetime(2023, 12, 22, 9, 0, tzinfo=dt.UTC),
        ),
        "srz@example.org",
        "双认证工作提醒",
    )
    back = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert back["Subject"] == rendered.subject
    assert back.get_body(("plain",)).get_content() == rendered.text


# -- CLI -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_local_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No ./srz.toml and no SRZ_* from the developer's shell may leak into the CLI tests.
    monkeypatch.chdir(tmp_path)
    for name in ("SRZ_CONFIG", "SRZ_TRANSPORT", "SRZ_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env or {})


def test_cli_templates_check_passes() -> None:
    result = _run("templates", "check")
    assert result.exit_code == 0, result.output
    assert "模板检查通过" in result.output


def test_cli_templates_check_fails_on_broken_dir(template_copy: Path) -> None:
    (template_copy / "reminder.txt.j2").write_text("{{ nope }}\n", encoding="utf-8")
    result = _run("templates", "check", "--dir", str(template_copy))
    assert result.exit_code == 1
    assert "reminder.txt.j2:1" in result.output and "nope" in result.output


def test_cli_short_help_option_has_examples() -> None:
    # ``--help`` of every command is checked in test_tasks_cli; ``-h`` works as well.
    for args in (["templates", "check", "-h"], ["mail", "test", "-h"]):
        result = _run(*args)
        assert result.exit_code == 0
        assert "示例：" in result.output


def test_digest_without_items_but_with_failures(renderer: Renderer) -> None:
    context = sample_context("digest")
    context["items"] = []
    context["failures"] = sample_context("delivery_failure")["failures"]
    rendered = renderer.render("digest", context)
    assert "2 封邮件投递失败" in rendered.subject
