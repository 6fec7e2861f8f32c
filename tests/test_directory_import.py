"""The directory: institutions and contacts from CSV (with or without Excel's BOM) and
XLSX; every row validated first, a file with one bad row imports nothing, and the
message names the file, the row and the column."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.srz_cli_helpers import (
    BUNDLED_PLAN,
    NN_DUAL,
    NN_PLAIN,
    NOW,
    SAMPLE_CONTACTS,
    SAMPLE_INSTITUTIONS,
    row_counts,
    srz,
    srz_json,
)
from tests.test_plan_load import PLAN_TABLE

INST_HEADER = "city,county,name,code,catl_status,catl_date,cma_status,cma_date"
CONTACT_HEADER = "scope,city,institution,role,name,email,phone"


def _planned(db_url: str) -> None:
    """A database with the plan loaded (the cities come from its table), no directory."""
    srz(db_url, "init")
    srz(db_url, "plan", "load", str(BUNDLED_PLAN), "--now", NOW)


def _write(path: Path, *lines: str, bom: bool = False) -> Path:
    text = "\n".join(lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_sample_directory_matches_the_plan_table(db_url: str) -> None:
    _planned(db_url)
    result = srz(
        db_url, "org", "import", str(SAMPLE_INSTITUTIONS), str(SAMPLE_CONTACTS), "--now", NOW
    )
    contacts = _csv_rows(SAMPLE_CONTACTS)
    assert f"机构新增 24、更新 0；联系人新增 {len(contacts)}、更新 0" in result.stdout
    institutions = srz_json(db_url, "org", "list", "--now", NOW)
    per_city = Counter(row["city"] for row in institutions)
    assert per_city == {name: count for name, (_amount, count) in PLAN_TABLE.items()}
    # Placeholders, plainly marked; contacts only on reserved example domains.
    assert all("占位" in row["name"] for row in institutions)
    assert all(c["email"].split("@")[1].endswith("example.org") for c in contacts)
    assert {c["scope"] for c in contacts} == {"region", "city", "institution"}
    by_name = {row["name"]: row for row in institutions}
    assert by_name[NN_DUAL]["dual_certified"] is True
    assert by_name[NN_PLAIN]["dual_certified"] is False
    assert (by_name[NN_PLAIN]["CATL"], by_name[NN_PLAIN]["CMA"]) == ("none", "none")


def test_reimport_updates_instead_of_duplicating(demo_db_url: str, tmp_path: Path) -> None:
    db_url = demo_db_url
    before = row_counts(db_url)
    result = srz(
        db_url, "org", "import", str(SAMPLE_INSTITUTIONS), str(SAMPLE_CONTACTS), "--now", NOW
    )
    assert "机构新增 0、更新 24" in result.stdout and "任务新增 0" in result.stdout
    after = row_counts(db_url)
    for table in ("institutions", "contacts", "certifications", "tasks", "cities"):
        assert after[table] == before[table], table
    # A changed phone number and county are updated in place.
    lines = SAMPLE_CONTACTS.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("0771-0000000", "0771-1234567")
    srz(db_url, "org", "import", str(_write(tmp_path / "c.csv", *lines)), "--now", NOW)
    assert row_counts(db_url)["contacts"] == before["contacts"]
    moved = SAMPLE_INSTITUTIONS.read_text(encoding="utf-8").splitlines()
    moved[1] = moved[1].replace("南宁示例县甲", "南宁示例县丙", 1)
    srz(db_url, "org", "import", str(_write(tmp_path / "i.csv", *moved)), "--now", NOW)
    counties = {r["name"]: r["county"] for r in srz_json(db_url, "org", "list", "--now", NOW)}
    assert counties[NN_PLAIN] == "南宁示例县丙"
    assert row_counts(db_url)["institutions"] == before["institutions"]


def test_csv_with_excel_bom(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    inst = _write(
        tmp_path / "机构.csv",
        INST_HEADER,
        "南宁市,测试县,南宁市测试县质检机构（占位）,,certified,2022/6/1,已通过,2022-07-01",
        bom=True,
    )
    contacts = _write(
        tmp_path / "联系人.csv",
        CONTACT_HEADER,
        "institution,南宁市,南宁市测试县质检机构（占位）,contact,测试,T@Example.org,",
        bom=True,
    )
    result = srz(db_url, "org", "import", str(inst), str(contacts), "--now", NOW)
    assert "机构新增 1" in result.stdout and "联系人新增 1" in result.stdout
    [row] = srz_json(db_url, "org", "list", "--now", NOW)
    assert row["name"] == "南宁市测试县质检机构（占位）"  # the BOM is not part of "city"
    assert row["dual_certified"] is True


def test_xlsx_with_two_sheets(db_url: str, tmp_path: Path) -> None:
    import datetime as dt

    _planned(db_url)
    wb = Workbook()
    ws = wb.active
    ws.title = "机构"
    ws.append(["市", "县", "机构名称", "CATL状态", "CATL日期", "CMA状态", "CMA日期", "备注"])
    ws.append(["柳州市", "测试县", "柳州市测试县质检机构（占位）", "已申请", dt.date(2023, 3, 1)])
    ws.append(
        [
            *["百色市", "测试县", "百色市测试县质检机构（占位）"],
            *["certified", dt.datetime(2021, 5, 6), "certified", dt.date(2021, 9, 1), "双认证"],
        ]
    )
    ws.append([None] * 8)  # trailing empty row, as Excel leaves them
    contacts = wb.create_sheet("联系人")
    contacts.append(["层级", "所属市", "机构", "角色", "姓名", "邮箱", "电话"])
    contacts.append(["市级", "柳州市", None, "分管领导", "柳州领导", "leader@lz.example.org", None])
    contacts.append(
        [
            "机构",
            None,
            "百色市测试县质检机构（占位）",
            "联系人",
            "百色联系人",
            "bs@example.org",
            123,
        ]
    )
    contacts.append(["自治区", None, None, "处室", "监管处", "office@example.org", "0771"])
    path = tmp_path / "名录.xlsx"
    wb.save(path)
    result = srz(db_url, "org", "import", str(path), "--now", NOW)
    assert "机构新增 2" in result.stdout and "联系人新增 3" in result.stdout
    rows = {r["name"]: r for r in srz_json(db_url, "org", "list", "--now", NOW)}
    assert rows["柳州市测试县质检机构（占位）"]["CATL"] == "applied"
    assert rows["百色市测试县质检机构（占位）"]["dual_certified"] is True
    # The dual-certified one got a proficiency test, the other an application task.
    tasks = srz_json(db_url, "tasks", "--now", NOW)
    owners = {t["institution"] for t in tasks if t["obligation"] == "proficiency-test"}
    assert owners == {"百色市测试县质检机构（占位）"}
    owners = {t["institution"] for t in tasks if t["obligation"] == "certification-application"}
    assert owners == {"柳州市测试县质检机构（占位）"}


def test_xlsx_title_row_and_row_numbers(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    before = row_counts(db_url)
    wb = Workbook()
    ws = wb.active
    ws.title = "联系人"
    ws["A1"] = "2023年联系人名录"  # a title above the header, as office sheets have
    ws.append([])
    ws.append(["scope", "city", "institution", "role", "name", "email", "phone"])
    ws.append(["city", "南宁市", None, "contact", "甲", "a@example.org", None])
    ws.append(["city", "南宁市", None, "contact", "乙", "b@example", None])
    path = tmp_path / "contacts.xlsx"
    wb.save(path)
    result = srz(db_url, "org", "import", str(path), "--now", NOW, code=2)
    assert f"{path} [联系人]: 第 5 行, 列 email: 无效的电子邮箱地址 'b@example'" in result.stderr
    assert row_counts(db_url) == before
    ws["F5"] = "b@example.org"
    wb.save(path)
    assert "联系人新增 2" in srz(db_url, "org", "import", str(path), "--now", NOW).stdout


# --------------------------------------------------------------------------- bad files


def _inst_file(tmp_path: Path, bad_row: str) -> Path:
    """The sample institutions with one row replaced (file row 3) by ``bad_row``."""
    lines = SAMPLE_INSTITUTIONS.read_text(encoding="utf-8").splitlines()
    lines[2] = bad_row
    return _write(tmp_path / "institutions.csv", *lines)


def _contact_file(tmp_path: Path, bad_row: str) -> Path:
    lines = SAMPLE_CONTACTS.read_text(encoding="utf-8").splitlines()
    lines[3] = bad_row  # file row 4
    return _write(tmp_path / "contacts.csv", *lines)


BAD_ROWS = {
    # name: (which file, the row, expected row number, column, message)
    "bad-email": (
        "contacts",
        "city,南宁市,,leader,南宁市分管领导（示例）,leader@@nanning,",
        4,
        "email",
        "无效的电子邮箱地址 'leader@@nanning'",
    ),
    "unknown-city": (
        "institutions",
        "南京市,南京县,南京市县级质检机构（占位）,,none,,none,",
        3,
        "city",
        "未知的市 '南京市'",
    ),
    "unknown-institution": (
        "contacts",
        "institution,南宁市,不存在的机构,contact,某人,someone@example.org,",
        4,
        "institution",
        "未知的机构 '不存在的机构'",
    ),
    "bad-status": (
        "institutions",
        "南宁市,南宁示例县乙,南宁市示例县乙县级质检机构（占位）,,通过了吧,,none,",
        3,
        "catl_status",
        "未知的认证状态 '通过了吧'",
    ),
    "impossible-date": (
        "institutions",
        "南宁市,南宁示例县乙,南宁市示例县乙县级质检机构（占位）,,certified,2023-02-30,none,",
        3,
        "catl_date",
        "无效日期 '2023-02-30'",
    ),
    "bad-role": (
        "contacts",
        "city,南宁市,,boss,某人,someone@example.org,",
        4,
        "role",
        "未知角色 'boss'",
    ),
    "institution-in-other-city": (
        "contacts",
        f"institution,柳州市,{NN_PLAIN},contact,某人,someone@example.org,",
        4,
        "city",
        "属于 南宁市",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_one_bad_row_imports_nothing(db_url: str, tmp_path: Path, case: str) -> None:
    which, row, number, column, message = BAD_ROWS[case]
    _planned(db_url)
    before = row_counts(db_url)
    if which == "contacts":
        bad = _contact_file(tmp_path, row)
        files = [SAMPLE_INSTITUTIONS, bad]
    else:
        bad = _inst_file(tmp_path, row)
        files = [bad, SAMPLE_CONTACTS]
    result = srz(db_url, "org", "import", *map(str, files), "--now", NOW, code=2)
    expected = f"{bad}: 第 {number} 行, 列 {column}: "
    assert any(
        line.startswith(expected) and message in line for line in result.stderr.splitlines()
    ), result.stderr
    assert "未写入任何数据" in result.stderr
    assert row_counts(db_url) == before


def test_bad_rows_leave_a_loaded_directory_untouched(demo_db_url: str, tmp_path: Path) -> None:
    db_url = demo_db_url
    before = row_counts(db_url)
    tasks = srz_json(db_url, "tasks", "--now", NOW)
    # Every problem of the file is reported at once.
    lines = SAMPLE_CONTACTS.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("contact@nanning.example.org", "not-an-email")
    lines[5] = "city,南京市,,contact,某人,x@example.org,"
    bad = _write(tmp_path / "contacts.csv", *lines)
    result = srz(db_url, "org", "import", str(bad), "--now", NOW, code=2)
    assert f"{bad}: 第 3 行, 列 email" in result.stderr
    assert f"{bad}: 第 6 行, 列 city" in result.stderr
    assert row_counts(db_url) == before
    assert srz_json(db_url, "tasks", "--now", NOW) == tasks


def test_non_utf8_csv(db_url: str, tmp_path: Path) -> None:
    # GB18030 (Excel on a Chinese Windows) imports now (tests/test_hardening_inputs.py);
    # bytes that are neither UTF-8 nor GB18030 are still refused.
    _planned(db_url)
    before = row_counts(db_url)
    path = tmp_path / "latin1.csv"
    path.write_bytes(SAMPLE_INSTITUTIONS.read_bytes() + b"\xff\x80\n")
    result = srz(db_url, "org", "import", str(path), "--now", NOW, code=2)
    assert f"{path}: " in result.stderr and "不是 UTF-8" in result.stderr
    assert row_counts(db_url) == before


def test_unknown_and_missing_headers(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    before = row_counts(db_url)
    typo = INST_HEADER.replace("cma_status", "cma_stauts")
    rows = SAMPLE_INSTITUTIONS.read_text(encoding="utf-8").splitlines()[1:]
    path = _write(tmp_path / "typo.csv", typo, *rows)
    result = srz(db_url, "org", "import", str(path), "--now", NOW, code=2)
    assert f"{path}: 第 1 行, 列 cma_stauts: 未知的列 'cma_stauts'" in result.stderr
    unknown = _write(tmp_path / "other.csv", "foo,bar", "1,2")
    result = srz(db_url, "org", "import", str(unknown), "--now", NOW, code=2)
    assert f"{unknown}: 第 1 行: 无法识别表头" in result.stderr
    result = srz(db_url, "org", "import", str(tmp_path / "missing.csv"), code=2)
    assert "文件不存在" in result.stderr
    text = _write(tmp_path / "list.txt", INST_HEADER)
    result = srz(db_url, "org", "import", str(text), code=2)
    assert "只支持 .csv 与 .xlsx" in result.stderr
    assert row_counts(db_url) == before


def test_import_before_plan_says_what_to_do(db_url: str) -> None:
    srz(db_url, "init")
    result = srz(db_url, "org", "import", str(SAMPLE_INSTITUTIONS), code=2)
    assert "未知的市" in result.stderr and "srz plan load" in result.stderr
    assert sum(row_counts(db_url).values()) == 0


def test_duplicate_institution_in_file(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    lines = SAMPLE_INSTITUTIONS.read_text(encoding="utf-8").splitlines()
    path = _write(tmp_path / "dup.csv", *lines, lines[1])
    result = srz(db_url, "org", "import", str(path), code=2)
    assert f"{path}: 第 {len(lines) + 1} 行" in result.stderr and "重复" in result.stderr
    assert row_counts(db_url)["institutions"] == 0
