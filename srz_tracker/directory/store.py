"""Writing the directory: institutions, their certifications, contacts. Cities come
from the plan's performance table, so a row naming another city is refused."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.directory.read import DirectoryData
from srz_tracker.errors import DirectoryError, NotFound, Problem, UsageError
from srz_tracker.kinds import CertKind, CertStatus, Scope
from srz_tracker.store import audit
from srz_tracker.store.models import Certification, City, Contact
from srz_tracker.store.models import Institution as Inst


@dataclass
class ImportResult:
    institutions_created: int
    institutions_updated: int
    contacts_created: int
    contacts_updated: int


def _check_references(session: Session, data: DirectoryData, problems: list[Problem]) -> None:
    cities = {c.name for c in session.scalars(select(City))}
    # institution name -> its city name, as this import will leave it
    inst_city = {
        name: city for name, city in session.execute(select(Inst.name, City.name).join(City))
    } | {r.name: r.city for r in data.institutions}
    hint = "（城市来自实施方案的绩效目标表，请先 srz plan load）" if not cities else ""
    for row in data.institutions:
        if row.city not in cities:
            problems.append(Problem(f"{row.where}, 列 city", f"未知的市 {row.city!r}{hint}"))
    for c in data.contacts:
        if c.city and c.city not in cities:
            problems.append(Problem(f"{c.where}, 列 city", f"未知的市 {c.city!r}{hint}"))
        if c.scope == Scope.INSTITUTION and c.institution not in inst_city:
            problems.append(
                Problem(f"{c.where}, 列 institution", f"未知的机构 {c.institution!r}（须在名录中）")
            )
        elif c.scope == Scope.INSTITUTION and c.city and c.city != inst_city[c.institution]:
            problems.append(
                Problem(
                    f"{c.where}, 列 city",
                    f"机构 {c.institution!r} 属于 {inst_city[c.institution]}，而不是 {c.city}",
                )
            )


_ROW = re.compile(r"^(.*?): 第 (\d+) 行")


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    files: dict[str, int] = {}

    def key(p: Problem) -> tuple[int, int]:
        match = _ROW.match(p.where)
        source = match[1] if match else p.where
        return files.setdefault(source, len(files)), int(match[2]) if match else 0

    return sorted(problems, key=key)


def import_directory(
    session: Session,
    data: DirectoryData,
    now: dt.datetime,
    actor: str,
    file_problems: list[Problem] | None = None,
) -> ImportResult:
    """Write the directory; ``file_problems`` are those ``read_directory`` found, so that
    one message lists every problem, and any problem means nothing is written."""
    problems = list(file_problems or [])
    _check_references(session, data, problems)
    if problems:
        raise DirectoryError(_in_file_order(problems))
    cities = {c.name: c for c in session.scalars(select(City))}
    insts = {i.name: i for i in session.scalars(select(Inst))}
    created = updated = 0
    for row in data.institutions:
        inst = insts.get(row.name)
        if inst is None:
            inst = Inst(
                name=row.name, city_id=cities[row.city].id, county=row.county, code=row.code
            )
            session.add(inst)
            session.flush()
            insts[row.name] = inst
            created += 1
        else:
            inst.city_id, inst.county, inst.code = cities[row.city].id, row.county, row.code
            updated += 1
        for cert in row.certs:
            _apply_cert(session, inst, cert.kind, cert.status, cert.on, cert.number)
    c_created = c_updated = 0
    existing = {
        (c.scope, c.city_id, c.institution_id, c.role, c.email): c
        for c in session.scalars(select(Contact))
    }
    for row in data.contacts:
        inst = insts.get(row.institution) if row.institution else None
        city_id = inst.city_id if inst else (cities[row.city].id if row.city else None)
        key = (
            row.scope,
            city_id if row.scope != Scope.REGION else None,
            inst.id if inst and row.scope == Scope.INSTITUTION else None,
            row.role,
            row.email,
        )
        contact = existing.get(key)
        if contact is None:
            contact = Contact(
                scope=row.scope,
                city_id=key[1],
                institution_id=key[2],
                role=row.role,
                name=row.name,
                email=row.email,
                phone=row.phone,
            )
            session.add(contact)
            existing[key] = contact
            c_created += 1
        else:
            contact.name, contact.phone, contact.active = row.name, row.phone, True
            c_updated += 1
    detail = {"institutions": len(data.institutions), "contacts": len(data.contacts)}
    audit.record(session, now, actor, "import", detail)
    session.flush()
    session.expire_all()
    return ImportResult(created, updated, c_created, c_updated)


def _apply_cert(
    session: Session, inst: Inst, kind: str, status: str, on: dt.date | None, number: str | None
) -> Certification:
    cert = session.scalar(
        select(Certification).where(
            Certification.institution_id == inst.id, Certification.kind == kind
        )
    )
    if cert is None:
        cert = Certification(institution_id=inst.id, kind=kind)
        session.add(cert)
    if status == CertStatus.CERTIFIED and cert.status != CertStatus.CERTIFIED:
        # A new certificate: the expiry date of the old one no longer applies.
        cert.expires_on = None
    cert.status = status
    if status == CertStatus.APPLIED:
        cert.applied_on = on or cert.applied_on
    elif status == CertStatus.CERTIFIED:
        cert.certified_on = on or cert.certified_on
    elif status == CertStatus.EXPIRED:
        cert.expires_on = on or cert.expires_on
    cert.certificate_no = number or cert.certificate_no
    return cert


def set_certification(
    session: Session,
    institution_name: str,
    kind: str,
    status: str,
    on: dt.date | None,
    number: str | None,
    now: dt.datetime,
    actor: str,
) -> None:
    kind = kind.upper()
    # ``in`` on the enum class itself rejects plain strings on Python 3.11: ask the members.
    if kind not in tuple(CertKind):
        raise UsageError(f"认证类型应为 {'/'.join(CertKind)}，而不是 {kind!r}")
    if status not in tuple(CertStatus):
        raise UsageError(f"认证状态应为 {'/'.join(CertStatus)} 之一，而不是 {status!r}")
    inst = session.scalar(select(Inst).where(Inst.name == institution_name))
    if inst is None:
        raise NotFound(f"未知的机构 {institution_name!r}（用 srz org list 查看机构）")
    _apply_cert(session, inst, kind, status, on, number)
    detail = {
        "institution": inst.name,
        "kind": kind,
        "status": status,
        "on": on.isoformat() if on else None,
        "number": number,
    }
    audit.record(session, now, actor, "cert", detail)
    session.flush()
