"""Who a task is about: the region, a city, or an institution."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from srz_tracker.kinds import Scope
from srz_tracker.store.models import City, Institution

# The region's subject key is its scope's name; cities and institutions add their id.
REGION_KEY: str = Scope.REGION.value
REGION_LABEL = "自治区"


@dataclass(frozen=True)
class Subject:
    type: Scope
    key: str
    label: str
    city_id: int | None = None
    institution_id: int | None = None
    institution: Institution | None = None


def city_key(city_id: int) -> str:
    return f"city:{city_id}"


def institution_key(institution_id: int) -> str:
    return f"institution:{institution_id}"


def all_subjects(session: Session) -> dict[str, list[Subject]]:
    cities = session.scalars(select(City).order_by(City.id)).all()
    institutions = session.scalars(
        select(Institution)
        .where(Institution.participating.is_(True))
        .options(selectinload(Institution.certifications), selectinload(Institution.city))
        .order_by(Institution.id)
    ).all()
    return {
        Scope.REGION: [Subject(Scope.REGION, REGION_KEY, REGION_LABEL)],
        Scope.CITY: [Subject(Scope.CITY, city_key(c.id), c.name, city_id=c.id) for c in cities],
        Scope.INSTITUTION: [
            Subject(
                Scope.INSTITUTION,
                institution_key(i.id),
                i.name,
                city_id=i.city_id,
                institution_id=i.id,
                institution=i,
            )
            for i in institutions
        ],
    }
