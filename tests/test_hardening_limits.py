"""Every text a user writes has one documented limit, the same on SQLite and PostgreSQL:
a value at the limit is stored whole on both, one character more (or a control
character) is refused before anything is written, exit 2, with a Chinese message naming
the file, row and column, or the option. Tried as a user would, through ``srz``."""

from __future__ import annotations

import email as email_lib
import re
from email.header import decode_header, make_header
from email.utils import getaddresses
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import String, select

from srz_tracker import limits
from srz_tracker.cli import cli
from srz_tracker.store import db
from srz_tracker.store.models import (
    Base,
    Certification,
    Contact,
    Institution,
    Notification,
    Task,
)
from tests.smtp_server import SmtpTestServer
from tests.srz_cli_helpers import BUNDLED_PLAN, NN_PLAIN, NOW, row_counts, srz, srz_json

INST_HEADER = "city,county,name,code,catl_status,catl_date,catl_no,cma_status,cma_date,cma_no"
CONTACT_HEADER = "scope,city,institution,role,name,email,phone"


# ----------------------------------------------------------------- the limits themselves


def test_every_limit_fits_the_columns_that_store_it() -> None:
    """The schema agrees with the check: no column is narrower than its limit, so no
    database truncates or refuses a value the check let through."""
    for limit in limits.ALL:
        for ref in limit.columns:
            table, column = ref.split(".")
            kind = Base.metadata.tables[table].c[column].type
            assert isinstance(kind, String), ref
            # Text has no length: it holds any limit
            assert kind.length is None or kind.length >= limit.max_length, (ref, limit)


def test_readme_lists_every_limit() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Limits", 1)[1].split("\n## ", 1)[0]
    for limit in limits.ALL:
        assert re.search(rf"\| {re.escape(limit.label)} \|[^\n]*\| {limit.max_length} \|", table), (
            limit
        )


@pytest.mark.parametrize(
    ("value", "multiline", "expected"),
    [
        ("张" * 64, False, None),
        ("张" * 65, False, "不能超过 64 个字符（现为 65 个）"),
        ("王\x00芳", False, "第 2 个字符是 U+0000（空字符 NUL）"),
        ("王\n芳", False, "第 2 个字符是 U+000A（换行符）"),
        ("王\t芳", False, "U+0009（制表符）"),
        ("abc\u202edcba", False, "U+202E（文字方向控制符）"),
        ("第一行\n第二行\t缩进", True, None),
        ("第一行\x00", True, "第 4 个字符是 U+0000（空字符 NUL）"),
        ("响铃\x07", True, "U+0007（控制字符）"),
    ],
)
def test_one_check_for_length_and_control_characters(
    value: str, multiline: bool, expected: str | None
) -> None:
    limit = limits.TextLimit("测试", 64, multiline=multiline)
    message = limits.problem(value, limit)
    if expected is None:
        assert message is None
    else:
        assert message is not None and expected in message


# ---------------------------------------------------------------------- the directory


def _planned(db_url: str) -> None:
    srz(db_url, "init")
    srz(db_url, "plan", "load", str(BUNDLED_PLAN), "--now", NOW)


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


def _institution(name: str = "南宁市测试县质检站", **cells: str) -> str:
    row = {
        "city": "南宁市",
        "county": "测试县",
        "name": name,
        "code": "NN-T1",
        "catl_status": "certified",
        "catl_date": "2023-05-01",
        "catl_no": "CATL-1",
        "cma_status": "none",
        "cma_date": "",
        "cma_no": "",
    } | cells
    return ",".join(_quoted(row[c]) for c in INST_HEADER.split(","))


def _contact(name: str = "王芳", email: str = "wang@nanning.example.org", **cells: str) -> str:
    row = {
        "scope": "city",
        "city": "南宁市",
        "institution": "",
        "role": "contact",
        "name": name,
        "email": email,
        "phone": "0771-1234567",
    } | cells
    return ",".join(_quoted(row[c]) for c in CONTACT_HEADER.split(","))


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n\r') else cell


def test_values_at_the_limit_are_stored_whole_on_both_databases(
    db_url: str, tmp_path: Path
) -> None:
    _planned(db_url)
    name = "南" * limits.INSTITUTION.max_length
    inst = _write(
        tmp_path / "inst.csv",
        INST_HEADER,
        _institution(
            name,
            county="县" * limits.COUNTY.max_length,
            code="C" * limits.INSTITUTION_CODE.max_length,
            catl_no="号" * limits.CERT_NUMBER.max_length,
        ),
    )
    email = "a" * 65 + "@" + ".".join(["d" * 61] * 3) + ".cn"
    assert len(email) == limits.EMAIL.max_length
    contacts = _write(
        tmp_path / "contacts.csv",
        CONTACT_HEADER,
        _contact("名" * limits.CONTACT_NAME.max_length, email, phone="9" * limits.PHONE.max_length),
        _contact("A" * limits.CONTACT_NAME.max_length, "long-ascii@nanning.example.org"),
    )
    srz(db_url, "org", "import", str(inst), str(contacts), "--now", NOW)
    with db.read_session(db.get_engine(db_url)) as session:
        stored = session.scalar(select(Institution).where(Institution.name == name))
        assert stored is not None
        assert (stored.county, stored.code) == ("县" * 64, "C" * 32)
        cert = session.scalar(
            select(Certification).where(
                Certification.institution_id == stored.id, Certification.kind == "CATL"
            )
        )
        assert cert is not None and cert.certificate_no == "号" * 64
        contact = session.scalar(select(Contact).where(Contact.email == email))
        assert contact is not None
        assert (contact.name, contact.phone) == ("名" * 64, "9" * 32)


@pytest.mark.parametrize(
    ("file", "row", "column", "expected"),
    [
        # The case: a 5000-character ASCII name, accepted before on SQLite only.
        ("contacts", _contact("A" * 5000), "name", "姓名不能超过 64 个字符（现为 5000 个）"),
        ("contacts", _contact("王" * 65), "name", "姓名不能超过 64 个字符（现为 65 个）"),
        ("contacts", _contact("王\x00芳"), "name", "U+0000（空字符 NUL）"),
        ("contacts", _contact("王\n芳"), "name", "U+000A（换行符）"),
        ("contacts", _contact(phone="1" * 33), "phone", "电话不能超过 32 个字符"),
        (
            "contacts",
            _contact(email="a" * 250 + "@example.org"),
            "email",
            "电子邮箱不能超过 254 个字符",
        ),
        ("institutions", _institution("机" * 129), "name", "机构名称不能超过 128 个字符"),
        # CSV is read with universal newlines (old Excel's bare CR line ends), so a CR
        # inside a quoted value arrives as LF: still refused, named as the LF it became.
        ("institutions", _institution(county="县\r区"), "county", "U+000A（换行符）"),
        ("institutions", _institution(code="X" * 33), "code", "机构代码不能超过 32 个字符"),
        ("institutions", _institution(catl_no="N" * 65), "catl_no", "证书编号不能超过 64 个字符"),
    ],
)
def test_a_value_over_its_limit_refuses_the_whole_import(
    db_url: str, tmp_path: Path, file: str, row: str, column: str, expected: str
) -> None:
    _planned(db_url)
    header = CONTACT_HEADER if file == "contacts" else INST_HEADER
    good = _contact() if file == "contacts" else _institution("南宁市另一质检站")
    path = _write(tmp_path / f"{file}.csv", header, good, row)
    before = row_counts(db_url)
    result = srz(db_url, "org", "import", str(path), "--now", NOW, code=2)
    [line] = [x for x in result.output.splitlines() if x.startswith(str(path))]
    assert line.startswith(f"{path}: 第 3 行, 列 {column}: ") and expected in line
    assert "未写入任何数据" in result.output and "Traceback" not in result.output
    assert row_counts(db_url) == before
    # The message never repeats a huge value.
    assert len(result.output) < 1000


def test_an_xlsx_cell_with_a_line_break_is_refused(db_url: str, tmp_path: Path) -> None:
    from openpyxl import Workbook

    _planned(db_url)
    wb = Workbook()
    ws = wb.active
    ws.append(CONTACT_HEADER.split(","))
    ws.append(["city", "南宁市", "", "contact", "王芳\n（新）", "w@nanning.example.org", ""])
    path = tmp_path / "contacts.xlsx"
    wb.save(path)
    before = row_counts(db_url)
    result = srz(db_url, "org", "import", str(path), "--now", NOW, code=2)
    assert "第 2 行, 列 name: 姓名不能包含换行符、制表符等控制字符" in result.output
    assert row_counts(db_url) == before


# ---------------------------------------------------------------- the writing commands


def _task_id(db_url: str, obligation: str = "city-summary-report") -> str:
    rows = srz_json(db_url, "tasks", "--obligation", obligation, "--city", "南宁市", "--now", NOW)
    return str(rows[0]["id"])


def test_writing_commands_accept_values_at_the_limit(demo_db_url: str) -> None:
    task = _task_id(demo_db_url)
    note, by = "备" * limits.NOTE.max_length, "人" * limits.ACTOR.max_length
    evidence = "证" * limits.EVIDENCE.max_length
    srz(demo_db_url, "done", task, "--note", note, "--evidence", evidence, "--by", by)
    with db.read_session(db.get_engine(demo_db_url)) as session:
        stored = session.get(Task, int(task))
        assert stored is not None
        assert (stored.note, stored.evidence, stored.completed_by) == (note, evidence, by)
    srz(demo_db_url, "reopen", task, "--by", by)
    reason = "理\n由" * (limits.REASON.max_length // 3)
    srz(demo_db_url, "extend", task, "--to", "2024-01-31", "--reason", reason, "--by", by)
    srz(demo_db_url, "waive", task, "--reason", reason)
    number = "N" * limits.CERT_NUMBER.max_length
    srz(demo_db_url, "cert", "set", NN_PLAIN, "CMA", "applied", "--number", number, "--by", by)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["done", "{task}", "--note", "x" * 2001],
            "--note（备注）不能超过 2000 个字符（现为 2001 个）",
        ),
        (["done", "{task}", "--note", "a\x00b"], "--note（备注）不能包含控制字符"),
        (["done", "{task}", "--evidence", "文号\n2023"], "--evidence（佐证材料）不能包含换行符"),
        (["done", "{task}", "--evidence", "x" * 501], "--evidence（佐证材料）不能超过 500 个字符"),
        (
            ["done", "{task}", "--no-evidence-reason", "y" * 2001],
            "--no-evidence-reason（无佐证材料的原因）不能超过 2000 个字符",
        ),
        (["done", "{task}", "--evidence", "回执", "--by", "人" * 65], "--by（操作人）不能超过 64"),
        (["done", "{task}", "--evidence", "回执", "--by", "王\t芳"], "--by（操作人）不能包含"),
        (["waive", "{task}", "--reason", "r" * 2001], "--reason（理由）不能超过 2000 个字符"),
        (
            ["extend", "{task}", "--to", "2024-01-31", "--reason", "延\x00期"],
            "--reason（理由）不能包含控制字符",
        ),
        (["reopen", "{task}", "--by", "x" * 65], "--by（操作人）不能超过 64"),
        (
            [
                "expense",
                "add",
                "--city",
                "南宁市",
                "--amount",
                "1",
                "--category",
                "training",
                "--on",
                "2023-10-01",
                "--note",
                "n" * 2001,
            ],
            "--note（备注）不能超过 2000 个字符",
        ),
        (
            ["incident", "add", "--city", "南宁市", "--on", "2023-10-01", "--note", "事件\x1b[31m"],
            "--note（备注）不能包含控制字符",
        ),
        (
            ["cert", "set", NN_PLAIN, "CMA", "applied", "--number", "N" * 65],
            "--number（证书编号）不能超过 64 个字符",
        ),
    ],
)
def test_writing_commands_refuse_a_value_over_its_limit_naming_the_option(
    demo_db_url: str, args: list[str], expected: str
) -> None:
    task = _task_id(demo_db_url)
    argv = [a.replace("{task}", task) for a in args]
    if argv[0] in ("done", "waive", "extend", "reopen", "expense", "incident", "cert"):
        argv += ["--now", "2023-11-02T10:00"]
    before = row_counts(demo_db_url)
    result = srz(demo_db_url, *argv, code=2)
    assert f"错误：{expected}" in result.output
    assert "Traceback" not in result.output and len(result.output) < 1000
    assert row_counts(demo_db_url) == before


def test_a_long_srz_user_is_refused_naming_the_variable(demo_db_url: str) -> None:
    task = _task_id(demo_db_url)
    before = row_counts(demo_db_url)
    result = CliRunner().invoke(
        cli,
        ["--db", demo_db_url, "done", task, "--evidence", "回执"],
        env={"SRZ_USER": "u" * 65},
    )
    assert result.exit_code == 2
    assert "错误：环境变量 SRZ_USER（操作人）不能超过 64 个字符（现为 65 个）" in result.output
    assert row_counts(demo_db_url) == before


# --------------------------------------------------------------------------- the plan


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    title: 组织县级质检机构人员参加部、区举办的检验检测质量管理和检测技术培训班",
            "    title: " + "长" * 201,
            "title（义务标题）不能超过 200 个字符（现为 201 个）",
        ),
        ("    clause: 三（一）", "    clause: " + "条" * 33, "clause（条款）不能超过 32 个字符"),
        (
            "    clause: 三（一）",
            '    clause: "三（一）\\0"',
            "clause（条款）不能包含换行符、制表符等控制字符（第 5 个字符是 U+0000",
        ),
        ("  training: 业务培训", "  training: " + "训" * 65, "经费类别名称）不能超过 64 个字符"),
        (
            "  training: 业务培训",
            "  " + "t" * 33 + ": 业务培训",
            "经费类别代码）不能超过 32 个字符",
        ),
    ],
)
def test_a_plan_value_over_its_limit_is_refused_at_its_line(
    db_url: str, tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    line = text.split(old, 1)[0].count("\n") + 1
    srz(db_url, "init")
    before = row_counts(db_url)
    result = srz(db_url, "plan", "load", str(path), "--now", NOW, code=2)
    assert f"{path}:{line}: " in result.output and expected in result.output
    assert "Traceback" not in result.output
    assert row_counts(db_url) == before


def test_a_plan_city_name_over_its_limit_is_refused(db_url: str, tmp_path: Path) -> None:
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("南宁市", "南" * 65), encoding="utf-8")
    srz(db_url, "init")
    before = row_counts(db_url)
    result = srz(db_url, "plan", "load", str(path), "--now", NOW, code=2)
    assert "name（市名）不能超过 64 个字符（现为 65 个）" in result.output
    assert row_counts(db_url) == before


def test_a_contact_at_every_limit_is_planned_and_mailed_on_both_databases(
    demo_db_url: str, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    """The longest address and name the directory accepts go through planning (their
    outbox key is longer than its column: it ends in a digest) and out by SMTP."""
    email = "b" * 65 + "@" + ".".join(["e" * 61] * 3) + ".cn"
    name = "南宁市农业农村局" * 8
    contacts = _write(tmp_path / "contacts.csv", CONTACT_HEADER, _contact(name, email))
    srz(demo_db_url, "org", "import", str(contacts), "--now", NOW)
    env = {
        "SRZ_USER": "测试员",
        "SRZ_SMTP_HOST": smtp_server.host,
        "SRZ_SMTP_PORT": str(smtp_server.port),
        "SRZ_SMTP_SECURITY": "none",
        "SRZ_MAIL_FROM": "srz@gx-agri.example.org",
    }
    result = CliRunner().invoke(
        cli, ["--db", demo_db_url, "remind", "--now", "2023-12-20T09:30"], env=env
    )
    assert result.exit_code == 0, result.output
    with db.read_session(db.get_engine(demo_db_url)) as session:
        rows = session.scalars(select(Notification).where(Notification.recipient_email == email))
        keys = [r.dedupe_key for r in rows]
    assert keys and all(len(k) <= 255 for k in keys)
    messages = [m for m in smtp_server.messages if email in m.rcpt_tos]
    assert messages  # a digest to the contact, the leaders' escalation in copy
    for message in messages:
        parsed = email_lib.message_from_bytes(message.raw)
        pairs = getaddresses(parsed.get_all("To", []) + parsed.get_all("Cc", []))
        assert (name, email) in [(str(make_header(decode_header(n))), a) for n, a in pairs]
        assert max(len(line) for line in message.raw.split(b"\r\n")) <= 998
