"""Reading the directory: institutions (with their CATL / CMA status) and contacts,
from CSV or XLSX (``directory.files`` reads them within bounds).

Which table a sheet or CSV holds is told by its header row. Every row is validated
before anything is written; each problem names the file, the row and the column.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srz_tracker.directory.files import Row, read_tables
from srz_tracker.errors import DirectoryError, Problem
from srz_tracker.kinds import CertStatus, ContactRole, Scope

# header aliases -> canonical column
_INSTITUTION_COLUMNS = {
    "city": ("city", "市", "所属市", "地市"),
    "county": ("county", "县", "县区", "县（市、区）"),
    "name": ("name", "institution", "机构名称", "机构"),
    "code": ("code", "机构代码"),
    "catl_status": ("catl_status", "catl状态"),
    "catl_date": ("catl_date", "catl日期"),
    "catl_no": ("catl_no", "catl证书编号"),
    "cma_status": ("cma_status", "cma状态"),
    "cma_date": ("cma_date", "cma日期"),
    "cma_no": ("cma_no", "cma证书编号"),
}
_CONTACT_COLUMNS = {
    "scope": ("scope", "层级"),
    "city": ("city", "市", "所属市"),
    "institution": ("institution", "机构", "机构名称"),
    "role": ("role", "角色"),
    "name": ("name", "姓名"),
    "email": ("email", "邮箱", "电子邮箱"),
    "phone": ("phone", "电话", "联系电话"),
}
_STATUS_ALIASES = {
    "": CertStatus.NONE,
    "none": CertStatus.NONE,
    "无": CertStatus.NONE,
    "未申请": CertStatus.NONE,
    "applied": CertStatus.APPLIED,
    "已申请": CertStatus.APPLIED,
    "申请中": CertStatus.APPLIED,
    "certified": CertStatus.CERTIFIED,
    "已通过": CertStatus.CERTIFIED,
    "通过": CertStatus.CERTIFIED,
    "expired": CertStatus.EXPIRED,
    "已过期": CertStatus.EXPIRED,
    "过期": CertStatus.EXPIRED,
}
_ROLE_ALIASES = {
    "contact": ContactRole.CONTACT,
    "联系人": ContactRole.CONTACT,
    "leader": ContactRole.LEADER,
    "分管领导": ContactRole.LEADER,
    "领导": ContactRole.LEADER,
    "office": ContactRole.OFFICE,
    "处室": ContactRole.OFFICE,
}
_SCOPE_ALIASES = {
    "region": Scope.REGION,
    "自治区": Scope.REGION,
    "区级": Scope.REGION,
    "city": Scope.CITY,
    "市": Scope.CITY,
    "市级": Scope.CITY,
    "institution": Scope.INSTITUTION,
    "机构": Scope.INSTITUTION,
    "县级质检机构": Scope.INSTITUTION,
}
_HEADER_SEARCH_ROWS = 5
# Columns people add for themselves; read and ignored.
_IGNORED_COLUMNS = ("note", "notes", "备注", "说明")
# Deliberately simple: one @, no spaces or angle brackets, a dotted domain.
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class CertRow:
    kind: str
    status: str
    on: dt.date | None
    number: str | None


@dataclass(frozen=True)
class InstitutionRow:
    where: str
    city: str
    county: str
    name: str
    code: str | None
    certs: tuple[CertRow, ...]


@dataclass(frozen=True)
class ContactRow:
    where: str
    scope: str
    city: str | None
    institution: str | None
    role: str
    name: str
    email: str
    phone: str | None


@dataclass
class DirectoryData:
    institutions: list[InstitutionRow] = field(default_factory=list)
    contacts: list[ContactRow] = field(default_factory=list)
    # file -> encoding, for the CSV files that were not UTF-8 (the CLI says so)
    encodings: dict[str, str] = field(default_factory=dict)


def valid_email(value: str) -> bool:
    return bool(_EMAIL.match(value)) and len(value) <= 254


def _canonical_header(headers: list[str], columns: dict[str, tuple[str, ...]]) -> dict[str, int]:
    lookup = {alias.lower(): canon for canon, aliases in columns.items() for alias in aliases}
    found: dict[str, int] = {}
    for i, h in enumerate(headers):
        canon = lookup.get(h.strip().lower())
        if canon and canon not in found:
            found[canon] = i
    return found


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_RowParser = Callable[[str, dict[str, str], "DirectoryData", list[Problem]], None]


def _find_header(
    rows: list[Row],
) -> tuple[int, list[str], _RowParser, dict[str, int], tuple[str, ...]] | None:
    """The header is the first row that names the columns; a title row above it (as
    office spreadsheets often have) is skipped. Row numbers stay those of the sheet."""
    for h, row in enumerate(rows[:_HEADER_SEARCH_ROWS]):
        headers = [_cell(x) for x in row]
        inst_cols = _canonical_header(headers, _INSTITUTION_COLUMNS)
        contact_cols = _canonical_header(headers, _CONTACT_COLUMNS)
        if {"email", "role"} <= set(contact_cols):
            return h, headers, _contact_row, contact_cols, ("scope", "role", "name", "email")
        if {"county", "name", "city"} <= set(inst_cols):
            return h, headers, _institution_row, inst_cols, ("city", "county", "name")
    return None


def _parse_table(source: str, rows: list[Row], out: DirectoryData, problems: list[Problem]) -> None:
    if not rows:
        problems.append(Problem(source, "没有表头行"))
        return
    found = _find_header(rows)
    if found is None:
        problems.append(
            Problem(
                f"{source}: 第 1 行",
                "无法识别表头：机构表需要 city, county, name 列；"
                "联系人表需要 scope, role, name, email 列",
            )
        )
        return
    h, headers, parse, cols, needed = found
    header_where = f"{source}: 第 {h + 1} 行"
    missing = [c for c in needed if c not in cols]
    if missing:
        problems.append(Problem(header_where, f"缺少列：{', '.join(missing)}"))
        return
    # A misspelt column (cma_stauts) would otherwise be dropped without a word and every
    # institution would read as not certified.
    known = {*cols.values()}
    for i, name in enumerate(headers):
        if i not in known and name and name.lower() not in _IGNORED_COLUMNS:
            expected = _INSTITUTION_COLUMNS if parse is _institution_row else _CONTACT_COLUMNS
            problems.append(
                Problem(
                    f"{header_where}, 列 {name}",
                    f"未知的列 {name!r}（可用：{', '.join(expected)}；备注列请命名为“备注”）",
                )
            )
    for n, raw in enumerate(rows[h + 1 :], start=h + 2):
        values = {canon: _cell(raw[i]) if i < len(raw) else "" for canon, i in cols.items()}
        if not any(values.values()):
            continue  # blank line, e.g. at the end of an Excel sheet
        parse(f"{source}: 第 {n} 行", values, out, problems)


def _date_or_none(where: str, column: str, value: str, problems: list[Problem]) -> dt.date | None:
    if not value:
        return None
    # Excel saves dates as 2023/6/15 in a Chinese locale; accept that spelling too.
    match = _DATE.match(value)
    try:
        if not match:
            raise ValueError
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        problems.append(Problem(f"{where}, 列 {column}", f"无效日期 {value!r}（应为 YYYY-MM-DD）"))
        return None


def _institution_row(
    where: str, v: dict[str, str], out: DirectoryData, problems: list[Problem]
) -> None:
    ok = True
    for column in ("city", "county", "name"):
        if not v.get(column):
            problems.append(Problem(f"{where}, 列 {column}", "不能为空"))
            ok = False
    certs = []
    for kind in ("catl", "cma"):
        raw_status = v.get(f"{kind}_status", "")
        status = _STATUS_ALIASES.get(raw_status.lower())
        if status is None:
            problems.append(
                Problem(
                    f"{where}, 列 {kind}_status",
                    f"未知的认证状态 {raw_status!r}（可用：{', '.join(CertStatus)}）",
                )
            )
            ok = False
            continue
        on = _date_or_none(where, f"{kind}_date", v.get(f"{kind}_date", ""), problems)
        if v.get(f"{kind}_date") and on is None:
            ok = False
        certs.append(CertRow(kind.upper(), status, on, v.get(f"{kind}_no") or None))
    if ok:
        out.institutions.append(
            InstitutionRow(
                where, v["city"], v["county"], v["name"], v.get("code") or None, tuple(certs)
            )
        )


def _contact_row(
    where: str, v: dict[str, str], out: DirectoryData, problems: list[Problem]
) -> None:
    ok = True
    scope = _SCOPE_ALIASES.get(v.get("scope", "").lower())
    if scope is None:
        problems.append(
            Problem(
                f"{where}, 列 scope",
                f"未知层级 {v.get('scope')!r}（可用：{', '.join(Scope)}）",
            )
        )
        ok = False
    role = _ROLE_ALIASES.get(v.get("role", "").lower())
    if role is None:
        problems.append(
            Problem(
                f"{where}, 列 role",
                f"未知角色 {v.get('role')!r}（可用：{', '.join(ContactRole)}）",
            )
        )
        ok = False
    email = v.get("email", "")
    if not valid_email(email):
        problems.append(Problem(f"{where}, 列 email", f"无效的电子邮箱地址 {email!r}"))
        ok = False
    if not v.get("name"):
        problems.append(Problem(f"{where}, 列 name", "不能为空"))
        ok = False
    if scope == Scope.CITY and not v.get("city"):
        problems.append(Problem(f"{where}, 列 city", "市级联系人须填写所属市"))
        ok = False
    if scope == Scope.INSTITUTION and not v.get("institution"):
        problems.append(Problem(f"{where}, 列 institution", "机构联系人须填写机构名称"))
        ok = False
    if ok:
        out.contacts.append(
            ContactRow(
                where,
                scope,
                v.get("city") or None,
                v.get("institution") or None,  # type: ignore[arg-type]
                role,
                v["name"],
                email.lower(),
                v.get("phone") or None,
            )
        )  # type: ignore[arg-type]


def read_directory_files(paths: list[str | Path]) -> DirectoryData:
    """Read and validate every file; raise ``DirectoryError`` with every problem found."""
    out, problems = read_directory(paths)
    if problems:
        raise DirectoryError(problems)
    return out


def read_directory(paths: list[str | Path]) -> tuple[DirectoryData, list[Problem]]:
    """Read and validate every file: the good rows and the problems of the others.
    ``orgstore.import_directory`` adds what only the database can tell (unknown cities)
    and refuses the whole import if there is any problem."""
    out = DirectoryData()
    problems: list[Problem] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.is_file():
            problems.append(Problem(str(path), "文件不存在"))
            continue
        tables, encoding = read_tables(path, problems)
        if encoding is not None:
            out.encodings[str(path)] = encoding
        for source, rows in tables:
            _parse_table(source, rows, out, problems)
    seen: dict[str, str] = {}
    for row in out.institutions:
        if row.name in seen:
            problems.append(Problem(row.where, f"机构 {row.name} 重复（{seen[row.name]} 已出现）"))
        seen[row.name] = row.where
    return out, problems
