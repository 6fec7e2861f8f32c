"""Hostile files and formula-like data (issue 11, parts 3 and 4).

Exports are data: CSV and XLSX never hold a live formula, numbers stay numbers. Inputs
are read within bounds: YAML anchors, aliases and deep nesting, oversized plan and
directory files, XLSX files whose <dimension> lies, old Mac line ends and Chinese
Windows encodings. Each refusal exits 2, names the file and writes nothing.
"""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from srz_tracker.directory import files as dirfiles
from srz_tracker.errors import MAX_SHOWN_PROBLEMS
from srz_tracker.exports import csv_text, formula_like
from tests.srz_cli_helpers import (
    BUNDLED_PLAN,
    NOW,
    SAMPLE_CONTACTS,
    SAMPLE_INSTITUTIONS,
    row_counts,
    srz,
    srz_json,
)

FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)"]
INST_HEADER = "city,county,name,code,catl_status,catl_date,cma_status,cma_date"


def _planned(db_url: str, plan: Path = BUNDLED_PLAN) -> None:
    srz(db_url, "init")
    srz(db_url, "plan", "load", str(plan), "--now", NOW)


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "Error:" not in text.replace("错误：", ""), text


# --------------------------------------------------------------------------- exports


def test_formula_like_text_is_quoted_and_numbers_are_not() -> None:
    for text in [*FORMULAS, "\tx", "\rx"]:
        assert formula_like(text)
        assert csv_text(text) == "'" + text
    for value in ["南宁市", "a=b", "", " =1", 5, -2, -2.5, None, True]:
        assert not formula_like(value)
        assert csv_text(value) == value


def test_tasks_csv_holds_no_formula(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    path = tmp_path / "formulas.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(INST_HEADER.split(","))
        for i, name in enumerate(FORMULAS):
            writer.writerow(["南宁市", f"县{i}", name, "", "none", "", "none", ""])
    srz(db_url, "org", "import", str(path), "--now", NOW)
    task = srz_json(db_url, "tasks", "--institution", FORMULAS[0], "--now", NOW)[0]
    srz(db_url, "done", str(task["id"]), "--evidence", "=1+1", "--note", "=1+1", "--now", NOW)
    out = srz(db_url, "tasks", "--format", "csv", "--now", NOW, "--status", "all").stdout
    table = list(csv.DictReader(io.StringIO(out)))
    institutions = {r["institution"] for r in table}
    assert {"'" + name for name in FORMULAS} <= institutions
    assert not any(formula_like(v) for r in table for v in r.values()), "a live formula"
    # Numbers are plain numbers: the id column is not quoted.
    assert all(re.fullmatch(r"\d+", r["id"]) for r in table)


def _formula_plan(tmp_path: Path) -> Path:
    """The bundled plan with four cities renamed to formula-like text."""
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    for old, new in zip(["南宁市", "柳州市", "桂林市", "梧州市"], FORMULAS, strict=True):
        quoted = '"' + new.replace('"', '\\"') + '"'
        text = text.replace(f"{{name: {old},", f"{{name: {quoted},")
    path = tmp_path / "formula-plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_report_csv_and_xlsx_hold_no_formula(db_url: str, tmp_path: Path) -> None:
    _planned(db_url, _formula_plan(tmp_path))
    csv_path, xlsx_path = tmp_path / "r.csv", tmp_path / "r.xlsx"
    srz(db_url, "report", "-o", str(csv_path), "--now", NOW)
    srz(db_url, "report", "-o", str(xlsx_path), "--now", NOW)

    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    cities = [row[0] for row in table[1:]]
    assert ["'" + name for name in FORMULAS] == cities[:4]
    assert not any(formula_like(cell) for row in table for cell in row)
    assert float(table[1][1]) == 40  # 项目金额 stays a number

    wb = load_workbook(xlsx_path)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    by_value = {c.value: c for c in cells if isinstance(c.value, str)}
    for name in FORMULAS:
        assert by_value[name].data_type == "s" and by_value[name].quotePrefix
    ws = wb["绩效自评"]
    amounts = [ws.cell(row, 2).value for row in range(7, 11)]
    assert amounts == [40, 55, 40, 40]  # numbers stay numbers
    assert all(ws.cell(row, 2).data_type == "n" for row in range(7, 11))


# --------------------------------------------------------------------------- YAML


BOMB = "\n".join(
    [f'a: &a ["{"lol" * 3}"' + f', "{"lol" * 3}"' * 8 + "]"]
    + [
        f"{n}: &{n} [" + ", ".join([f"*{p}"] * 9) + "]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def _plan_check(path: Path) -> tuple[str, float]:
    started = time.perf_counter()
    result = srz(None, "plan", "check", str(path), code=2)
    seconds = time.perf_counter() - started
    _no_traceback(result.output)
    return result.stderr, seconds


def test_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "\n", encoding="utf-8")
    assert 400 <= path.stat().st_size <= 600
    stderr, seconds = _plan_check(path)
    assert f"{path}:1: 不支持 YAML 锚点 &a" in stderr
    assert seconds < 0.5


def test_anchor_alias_and_merge_key_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text("plan:\n  id: x\n  title: *name\n", encoding="utf-8")
    stderr, _ = _plan_check(path)
    assert f"{path}:3: 不支持 YAML 别名 *name" in stderr
    merge = tmp_path / "merge.yaml"
    merge.write_text("plan:\n  <<: {id: x}\n", encoding="utf-8")
    stderr, _ = _plan_check(merge)
    assert f"{merge}:2: 不支持 YAML 合并键 <<" in stderr


@pytest.mark.parametrize(
    "text",
    [
        "[" * 20_000 + "]" * 20_000,
        "a: " + "{b: " * 20_000 + "1" + "}" * 20_000,
        "\n".join(" " * i + "k:" for i in range(200)),
    ],
    ids=["brackets", "braces", "indentation"],
)
def test_deep_nesting_is_a_problem_not_a_recursion_error(text: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    stderr, seconds = _plan_check(path)
    assert f"{path}:" in stderr and "嵌套超过 64 层" in stderr
    assert seconds < 2


def test_oversized_plan_is_refused_before_parsing(db_url: str, tmp_path: Path) -> None:
    srz(db_url, "init")
    before = row_counts(db_url)
    path = tmp_path / "big.yaml"
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    padding = "# " + "填充" * 100 + "\n"
    path.write_text(text + padding * (2 * 2**20 // len(padding.encode()) + 1), encoding="utf-8")
    started = time.perf_counter()
    result = srz(db_url, "plan", "load", str(path), "--now", NOW, code=2)
    assert time.perf_counter() - started < 2
    assert f"{path}: 文件过大：实施方案文件不得超过 2 MB" in result.stderr
    _no_traceback(result.output)
    assert row_counts(db_url) == before


# --------------------------------------------------------------------------- directory files


def _refused(db_url: str, path: Path, *needles: str) -> str:
    before = row_counts(db_url)
    result = srz(db_url, "org", "import", str(path), "--now", NOW, code=2)
    _no_traceback(result.output)
    assert str(path) in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert "未写入任何数据" in result.stderr
    assert row_counts(db_url) == before
    return result.stderr


def test_problem_list_is_capped(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    path = tmp_path / "bad.csv"
    bad = [f"南宁市,县{i},机构{i},,bogus,,none," for i in range(120)]
    path.write_text("\n".join([INST_HEADER, *bad]) + "\n", encoding="utf-8")
    stderr = _refused(db_url, path, "另有 70 个问题", "共 120 个问题")
    problem_lines = [line for line in stderr.splitlines() if line.startswith(f"{path}: ")]
    assert len(problem_lines) == MAX_SHOWN_PROBLEMS
    assert problem_lines[0].startswith(f"{path}: 第 2 行")


def test_oversized_directory_file_is_refused_unread(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.write((INST_HEADER + "\n").encode())
        f.truncate(dirfiles.MAX_FILE_BYTES + 1)  # sparse: nothing to write, nothing read
    _refused(db_url, path, "文件过大", "名录文件不得超过 50 MB")


def test_csv_over_the_row_cap_is_refused(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    path = tmp_path / "many.csv"
    rows = (f"南宁市,县{i},机构{i},,none,,none," for i in range(dirfiles.MAX_ROWS + 1))
    path.write_text(INST_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    _refused(db_url, path, f"有内容的行超过 {dirfiles.MAX_ROWS} 行")


def _xlsx_with_sheet_xml(tmp_path: Path, name: str, sheet_data: str, dimension: str) -> Path:
    """An XLSX made by openpyxl whose sheet body and <dimension> are replaced by hand,
    as another program (or an attacker) may write them."""
    seed = tmp_path / f"seed-{name}"
    wb = Workbook()
    wb.active.title = "机构"
    wb.active.append(["x"])
    wb.save(seed)
    path = tmp_path / name
    with zipfile.ZipFile(seed) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                xml = data.decode()
                xml = re.sub(r"<dimension[^>]*/>", dimension, xml)
                xml = re.sub(
                    r"<sheetData>.*</sheetData>", f"<sheetData>{sheet_data}</sheetData>", xml
                )
                data = xml.encode()
            dst.writestr(info, data)
    return path


def _xml_row(r: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{chr(65 + i)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values)
        if v
    )
    return f'<row r="{r}">{cells}</row>'


def test_xlsx_with_a_false_dimension_is_read_by_its_rows(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    rows = [INST_HEADER.split(","), ["南宁市", "县甲", "机构甲"], ["南宁市", "县乙", "机构乙"]]
    rows = [r + [""] * (8 - len(r)) for r in rows]
    rows[1][4] = rows[1][6] = rows[2][4] = rows[2][6] = "none"
    body = "".join(_xml_row(i, r) for i, r in enumerate(rows, start=1))
    path = _xlsx_with_sheet_xml(tmp_path, "lying.xlsx", body, '<dimension ref="A1:XFD1048576"/>')
    started = time.perf_counter()
    result = srz(db_url, "org", "import", str(path), "--now", NOW)
    assert time.perf_counter() - started < 5
    assert "机构新增 2" in result.stdout


def test_xlsx_without_dimension_over_the_row_cap_is_refused(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CSV test above uses the real cap; openpyxl needs seconds per 100,000 rows.
    monkeypatch.setattr(dirfiles, "MAX_ROWS", 2_000)
    _planned(db_url)
    header = _xml_row(1, INST_HEADER.split(","))
    body = header + "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>南宁市</t></is></c></row>'
        for r in range(2, dirfiles.MAX_ROWS + 3)
    )
    path = _xlsx_with_sheet_xml(tmp_path, "long.xlsx", body, "")
    _refused(db_url, path, f"有内容的行超过 {dirfiles.MAX_ROWS} 行")


def test_xlsx_unpacking_past_the_limit_is_refused(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The declared unpacked size is what zipfile will ever produce; a small limit here
    # stands in for a zip bomb of gigabytes.
    _planned(db_url)
    monkeypatch.setattr(dirfiles, "MAX_XLSX_UNPACKED_BYTES", 4096)
    body = "".join(_xml_row(r, ["南宁市"] * 8) for r in range(1, 200))
    path = _xlsx_with_sheet_xml(tmp_path, "bomb.xlsx", body, "")
    _refused(db_url, path, "XLSX 文件解压后超过")


def test_csv_with_bare_cr_line_ends_imports(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    path = tmp_path / "mac.csv"
    lines = SAMPLE_INSTITUTIONS.read_text(encoding="utf-8").splitlines()
    path.write_bytes("\r".join(lines).encode("utf-8") + b"\r")
    result = srz(db_url, "org", "import", str(path), "--now", NOW)
    assert "机构新增 24" in result.stdout


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf8", "utf8-bom"])
def test_utf8_csv_imports_without_an_encoding_note(db_url: str, tmp_path: Path, bom: bytes) -> None:
    _planned(db_url)
    path = tmp_path / "inst.csv"
    path.write_bytes(bom + SAMPLE_INSTITUTIONS.read_bytes())
    result = srz(db_url, "org", "import", str(path), "--now", NOW)
    assert "机构新增 24" in result.stdout and "注意" not in result.output


def test_gb18030_csv_from_chinese_excel_imports_and_says_so(db_url: str, tmp_path: Path) -> None:
    _planned(db_url)
    inst, contacts = tmp_path / "机构.csv", tmp_path / "联系人.csv"
    # Excel and WPS on a Chinese Windows save "CSV" as GBK/GB18030 with CRLF line ends.
    inst.write_bytes(
        SAMPLE_INSTITUTIONS.read_text(encoding="utf-8").replace("\n", "\r\n").encode("gb18030")
    )
    contacts.write_bytes(SAMPLE_CONTACTS.read_text(encoding="utf-8").encode("gb18030"))
    result = srz(db_url, "org", "import", str(inst), str(contacts), "--now", NOW)
    assert f"注意：{inst} 不是 UTF-8 编码，已按 GB18030 读取" in result.stdout
    assert f"注意：{contacts} 不是 UTF-8 编码，已按 GB18030 读取" in result.stdout
    assert "机构新增 24" in result.stdout
    names = {row["name"] for row in srz_json(db_url, "org", "list", "--now", NOW)}
    assert "南宁市示例县甲县级质检机构（占位）" in names
