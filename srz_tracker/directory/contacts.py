"""Who receives a step: city-scope tasks go to the city's contacts, institution tasks to
the institution's contacts and the city's, region tasks to the office. Escalations go to
the city's leaders (contacts in copy) and then to the region office. An address never
appears twice on one message."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from srz_tracker.kinds import ContactRole, Scope
from srz_tracker.store.models import Contact


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None
    role: str
    field: str  # "to" | "cc"


class Recipients:
    """Active contacts, loaded once per pass."""

    def __init__(self, contacts: list[Contact]) -> None:
        self.by_key: dict[tuple[str, int | None, str], list[Contact]] = defaultdict(list)
        for c in contacts:
            if not c.active:
                continue
            if c.scope == Scope.REGION:
                self.by_key[(Scope.REGION, None, c.role)].append(c)
            elif c.scope == Scope.CITY:
                self.by_key[(Scope.CITY, c.city_id, c.role)].append(c)
            else:
                self.by_key[(Scope.INSTITUTION, c.institution_id, c.role)].append(c)

    @classmethod
    def load(cls, session: Session) -> Recipients:
        return cls(list(session.scalars(select(Contact).where(Contact.active.is_(True)))))

    def office(self) -> list[Contact]:
        return self.by_key[(Scope.REGION, None, ContactRole.OFFICE)]

    def _people(self, role: str, city_id: int | None, institution_id: int | None) -> list[Contact]:
        if role == ContactRole.OFFICE:
            return self.office()
        people: list[Contact] = []
        if institution_id is not None:
            people += self.by_key[(Scope.INSTITUTION, institution_id, role)]
        if city_id is not None:
            people += self.by_key[(Scope.CITY, city_id, role)]
        if city_id is None and institution_id is None:
            people += self.office()  # region tasks: the office acts and is reminded
        return people

    def for_step(
        self, to_role: str, cc_role: str | None, city_id: int | None, institution_id: int | None
    ) -> list[Recipient]:
        to = self._people(to_role, city_id, institution_id)
        if not to and to_role != ContactRole.OFFICE:
            # Nobody in that role: tell the office rather than drop the step silently.
            to = self.office()
        cc = self._people(cc_role, city_id, institution_id) if cc_role else []
        seen: set[str] = set()
        out: list[Recipient] = []
        for field, people in (("to", to), ("cc", cc)):
            for c in people:
                if c.email.lower() in seen:
                    continue
                seen.add(c.email.lower())
                out.append(Recipient(c.email.lower(), c.name, c.role, field))
        return out


def contacts_with_email(session: Session, email: str) -> list[Contact]:
    """The active directory entries of one address (a person may be contact of a city and
    of an institution, or a leader and a contact)."""
    return list(
        session.scalars(
            select(Contact)
            .where(Contact.email == email.lower(), Contact.active.is_(True))
            .order_by(Contact.id)
        )
    )
