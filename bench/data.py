"""Synthetic nationwide data of a given size, built from the bundled obligations.

A directory of up to 2,800 county institutions in ~330 cities (DESIGN.md "Scale"), each
with contacts, half of them dual-certified; then tasks year by year, oldest first, until
the wanted number of tasks is reached: past years are history (mostly done, each done
task with one sent reminder in the outbox), the current year holds the open tasks with
``next_step_at`` set to their next step after ``now``, so that a pass at ``now`` finds
nothing due. Everything goes in with SQLAlchemy Core ``insert()`` and lists of dicts.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

from srz_tracker.resources import BUNDLED_PLAN as BUNDLED_PLAN_NAME
from srz_tracker.resources import bundled_file
from srz_tracker.store import db, migrate
from srz_tracker.store.models import (
    Certification,
    City,
    Contact,
    Institution,
    Notification,
    Obligation,
    Plan,
    Task,
)
from srz_tracker.timing.steps import NEEDS_PLANNING

BUNDLED_PLAN = bundled_file(BUNDLED_PLAN_NAME)
TZ = ZoneInfo("Asia/Shanghai")
# The instant every figure is measured at: a working day in the plan year, in the middle
# of the reminder season (the calendar library knows this year).
BENCH_NOW = dt.datetime(2023, 11, 1, 10, 0, tzinfo=TZ).astimezone(dt.UTC)
NATIONWIDE_INSTITUTIONS = 2800
MAX_YEARS = 35
TASKS_PER_INSTITUTION_YEAR = 6.0  # the bundled obligations give about that, cities included
INSTITUTIONS_PER_CITY = 8.5
CHUNK = 10_000
MAIL_DOMAIN = "bench.example.org"


@dataclass
class Built:
    """What the measurements need to know about a built database."""

    url: str
    size: int
    cities: int
    institutions: int
    contacts: int
    years: list[int]
    tasks: int
    open_tasks: int
    overdue_tasks: int
    notifications: int
    seconds: float
    city_name: str  # the city the CLI figures list
    done_ids: list[int] = field(default_factory=list)  # open tasks `srz done` may close

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["url"] = redact(self.url)
        out.pop("done_ids")
        return out


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def directory_shape(size: int) -> tuple[int, int]:
    """(institutions, cities): below ~18k tasks, as many as make one year of tasks about
    the size asked for; then the nationwide 2,800; beyond ~600k, more, so that the
    history stays within MAX_YEARS (at 1M: ~29,000 tasks a year, DESIGN.md's "some
    30,000 tasks a year"; and no dates before 1970, which Taskwarrior refuses)."""
    institutions = max(10, min(NATIONWIDE_INSTITUTIONS, round(size / 6.3)))
    institutions = max(institutions, math.ceil(size / MAX_YEARS / TASKS_PER_INSTITUTION_YEAR))
    cities = max(12, math.ceil(institutions / INSTITUTIONS_PER_CITY))
    return institutions, cities


def _chunks(rows: Iterator[dict[str, Any]], n: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(engine: Engine, table: Any, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]):
    with engine.begin() as conn:
        for batch in _chunks(iter(rows)):
            conn.execute(insert(table), batch)


def _load_plan(engine: Engine) -> None:
    """The plan, its 12 cities and obligations through the product's own store (no tasks:
    the benchmark writes its own, for a bigger directory)."""
    from srz_tracker.plan.schema import load_plan_file
    from srz_tracker.plan.store import store_plan

    spec = load_plan_file(BUNDLED_PLAN)
    with db.write_session(engine) as session:
        store_plan(session, spec, BENCH_NOW, "bench")


class _Subject(SimpleNamespace):
    pass


def _directory(engine: Engine, n_inst: int, n_cities: int, rng: random.Random) -> dict:
    with engine.connect() as conn:
        cities = [tuple(r) for r in conn.execute(select(City.id, City.name).order_by(City.id))]
    next_id = max(c[0] for c in cities) + 1
    extra = []
    for k in range(len(cities) + 1, n_cities + 1):
        extra.append({"id": next_id, "name": f"合成{k:03d}市", "code": None})
        cities.append((next_id, f"合成{k:03d}市"))
        next_id += 1
    _insert(engine, City.__table__, extra)
    institutions = []
    certs = []
    for i in range(1, n_inst + 1):
        city_id, city_name = cities[(i - 1) % len(cities)]
        dual = rng.random() < 0.5
        institutions.append(
            {
                "id": i,
                "city_id": city_id,
                "county": f"{city_name[:-1]}第{(i - 1) // len(cities) + 1}县",
                "name": f"{city_name}第{(i - 1) // len(cities) + 1}县县级质检机构（合成{i}）",
                "code": f"BENCH-{i:05d}",
                "participating": True,
            }
        )
        if dual:
            for kind, on in (("CATL", dt.date(2021, 6, 15)), ("CMA", dt.date(2021, 9, 20))):
                certs.append(
                    {
                        "institution_id": i,
                        "kind": kind,
                        "status": "certified",
                        "applied_on": on - dt.timedelta(days=90),
                        "certified_on": on,
                        "expires_on": None,
                        "certificate_no": f"{kind}-{i:05d}",
                    }
                )
    _insert(engine, Institution.__table__, institutions)
    _insert(engine, Certification.__table__, certs)
    contacts = [
        {
            "scope": "region",
            "city_id": None,
            "institution_id": None,
            "role": "office",
            "name": "监管处（合成）",
            "email": f"office@{MAIL_DOMAIN}",
            "phone": None,
            "active": True,
        }
    ]
    for city_id, city_name in cities:
        for role in ("contact", "leader"):
            contacts.append(
                {
                    "scope": "city",
                    "city_id": city_id,
                    "institution_id": None,
                    "role": role,
                    "name": f"{city_name}{'联系人' if role == 'contact' else '分管领导'}",
                    "email": f"c{city_id}-{role}@{MAIL_DOMAIN}",
                    "phone": None,
                    "active": True,
                }
            )
    for inst in institutions:
        contacts.append(
            {
                "scope": "institution",
                "city_id": inst["city_id"],
                "institution_id": inst["id"],
                "role": "contact",
                "name": f"机构{inst['id']}联系人",
                "email": f"i{inst['id']}@{MAIL_DOMAIN}",
                "phone": None,
                "active": True,
            }
        )
    _insert(engine, Contact.__table__, contacts)
    dual_ids = {c["institution_id"] for c in certs}
    subjects = {
        "region": [_Subject(type="region", key="region", city_id=None, institution_id=None)],
        "city": [
            _Subject(type="city", key=f"city:{cid}", city_id=cid, institution_id=None)
            for cid, _n in cities
        ],
        "institution": [
            _Subject(
                type="institution",
                key=f"institution:{i['id']}",
                city_id=i["city_id"],
                institution_id=i["id"],
                dual=i["id"] in dual_ids,
            )
            for i in institutions
        ],
    }
    return {"cities": cities, "subjects": subjects, "contacts": len(contacts)}


def _year_combos(obligations: list[Obligation], subjects: dict, year: int, plan_year: int):
    """(obligation, subject, period, due) for one year, as materialize would make them."""
    from srz_tracker.tasks.materialize import periods

    out = []
    for ob in obligations:
        for subject in subjects.get(ob.scope, []):
            if ob.condition and subject.type == "institution":
                dual = subject.dual
                if (ob.condition == "dual_certified") != dual:
                    continue
            for period, due in periods(ob, year, plan_year):
                out.append((ob, subject, period, due))
    return out


class _NextStep:
    """``next_step_at`` of an open task: its first step after ``now`` (as a pass leaves
    it once every earlier step is planned); cached per (obligation, due, progress)."""

    def __init__(self, plan: Plan, now: dt.datetime) -> None:
        from srz_tracker.notify.planner import PolicyBook
        from srz_tracker.timing.workdays import WorkdayCalendar

        self.plan = plan
        self.now = now
        self.policies = PolicyBook(None)
        self.calendar = WorkdayCalendar()
        self.today = now.astimezone(ZoneInfo(plan.timezone)).date()
        self._cache: dict[tuple[int, dt.date, int], dt.datetime | None] = {}

    def __call__(self, ob: Obligation, due: dt.date, done_count: int) -> dt.datetime | None:
        key = (ob.id, due, done_count)
        if key not in self._cache:
            from srz_tracker.notify.planner import task_timing
            from srz_tracker.timing.steps import steps_for

            timing = task_timing(
                SimpleNamespace(
                    obligation=ob,
                    due_on=due,
                    required_count=ob.required_count,
                    done_count=done_count,
                )
            )
            policy = self.policies.for_obligation(ob, self.plan)
            steps = steps_for(
                timing,
                policy,
                self.calendar,
                ZoneInfo(self.plan.timezone),
                until=self.today + dt.timedelta(days=60),
            )
            future = [s.send_at for s in steps if s.send_at > self.now]
            self._cache[key] = future[0] if future else None
        return self._cache[key]


def build(url: str, size: int, now: dt.datetime = BENCH_NOW, seed: int = 6) -> Built:
    """Create the schema and fill it with ``size`` tasks; the database must be empty."""
    import logging

    logging.getLogger("srz_tracker.timing.workdays").setLevel(logging.ERROR)  # 1960s: Mon-Fri
    started = time.perf_counter()
    rng = random.Random(seed * 1_000_003 + size)
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    _load_plan(engine)
    n_inst, n_cities = directory_shape(size)
    directory = _directory(engine, n_inst, n_cities, rng)
    subjects = directory["subjects"]
    from sqlalchemy.orm import Session, selectinload

    with Session(engine) as session:
        plan = session.scalars(select(Plan).options(selectinload(Plan.obligations))).one()
        obligations = sorted(plan.obligations, key=lambda o: o.id)
        plan_year = plan.year
        next_step = _NextStep(plan, now)
        current = now.astimezone(ZoneInfo(plan.timezone)).year
        today = next_step.today
        # How many years of history make up the size (the oldest one cut short).
        plan_years: list[tuple[int, int]] = []
        total = 0
        year = current
        while total < size:
            n = len(_year_combos(obligations, subjects, year, plan_year))
            take = min(n, size - total)
            plan_years.append((year, take))
            total += take
            year -= 1
        plan_years.reverse()
        stamp = now
        task_id = 0
        open_ids_current: list[int] = []
        counts = {"open": 0, "overdue": 0, "notifications": 0}
        city_ids = [c[0] for c in directory["cities"]]
        with engine.begin() as conn:
            tasks_batch: list[dict[str, Any]] = []
            notes_batch: list[dict[str, Any]] = []

            def flush() -> None:
                if tasks_batch:
                    conn.execute(insert(Task.__table__), tasks_batch)
                    tasks_batch.clear()
                if notes_batch:
                    conn.execute(insert(Notification.__table__), notes_batch)
                    notes_batch.clear()

            for year, take in plan_years:
                combos = _year_combos(obligations, subjects, year, plan_year)
                if take < len(combos):
                    combos = combos[len(combos) - take :]  # keep the latest subjects
                for ob, subject, period, due in combos:
                    task_id += 1
                    past = due < today
                    if year < current:
                        done = rng.random() >= 0.01  # 1 % of history never closed
                    else:
                        done = rng.random() < (0.85 if past else 0.10)
                    required = ob.required_count
                    done_count = required if done else (rng.randint(0, required - 1))
                    row = {
                        "id": task_id,
                        "obligation_id": ob.id,
                        "subject_type": subject.type,
                        "subject_key": subject.key,
                        "city_id": subject.city_id,
                        "institution_id": subject.institution_id,
                        "period": period,
                        "due_on": due,
                        "original_due_on": due,
                        "status": "done" if done else "open",
                        "required_count": required,
                        "done_count": done_count,
                        "completed_on": (due - dt.timedelta(days=rng.randint(0, 30)))
                        if done
                        else None,
                        "completed_by": "bench" if done else None,
                        "note": None,
                        "evidence": "合成佐证" if done and ob.evidence else None,
                        "no_evidence_reason": None,
                        "next_step_at": None if done else next_step(ob, due, done_count),
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                    tasks_batch.append(row)
                    if done:
                        email = (
                            f"i{subject.institution_id}@{MAIL_DOMAIN}"
                            if subject.institution_id
                            else f"c{subject.city_id}-contact@{MAIL_DOMAIN}"
                            if subject.city_id
                            else f"office@{MAIL_DOMAIN}"
                        )
                        sent = dt.datetime.combine(
                            due - dt.timedelta(days=7), dt.time(1), tzinfo=dt.UTC
                        )
                        notes_batch.append(
                            {
                                "dedupe_key": f"t{task_id}:{due.isoformat()}:R7:{email}",
                                "kind": "reminder",
                                "step": "R7",
                                "task_id": task_id,
                                "city_id": subject.city_id,
                                "recipient_email": email,
                                "recipient_name": None,
                                "recipient_field": "to",
                                "scheduled_at": sent,
                                "status": "sent",
                                "attempts": 1,
                                "next_attempt_at": sent,
                                "claimed_by": None,
                                "claimed_until": None,
                                "last_error": None,
                                "sent_at": sent,
                                "message_id": f"<srz.hist.{task_id}@{MAIL_DOMAIN}>",
                                "payload": {"role": "contact"},
                                "created_at": sent,
                            }
                        )
                        counts["notifications"] += 1
                    else:
                        counts["open"] += 1
                        if past:
                            counts["overdue"] += 1
                        elif year == current:
                            open_ids_current.append(task_id)
                    if len(tasks_batch) >= CHUNK:
                        flush()
            flush()
    if make_url(url).get_backend_name() == "postgresql":
        with engine.begin() as conn:
            for table in ("cities", "institutions", "tasks"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        # What autovacuum would do soon after a bulk load.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    # The city the CLI lists: the one with the most overdue tasks, as a user would look at.
    with engine.connect() as conn:
        city_id = conn.execute(
            select(Task.city_id)
            .where(Task.status == "open", Task.due_on < today, Task.city_id.is_not(None))
            .group_by(Task.city_id)
            .order_by(func.count().desc(), Task.city_id)
            .limit(1)
        ).scalar() or (city_ids[0] if city_ids else None)
        city_name = conn.execute(select(City.name).where(City.id == city_id)).scalar_one()
    engine.dispose()
    rng.shuffle(open_ids_current)
    return Built(
        url=url,
        size=size,
        cities=len(directory["cities"]),
        institutions=n_inst,
        contacts=directory["contacts"],
        years=[y for y, _ in plan_years],
        tasks=task_id,
        open_tasks=counts["open"],
        overdue_tasks=counts["overdue"],
        notifications=counts["notifications"],
        seconds=round(time.perf_counter() - started, 1),
        city_name=city_name,
        done_ids=open_ids_current[:200],
    )


def make_due(
    engine: Engine,
    fraction: float = 0.0,
    count: int | None = None,
    seed: int = 7,
    exclude: frozenset[int] = frozenset(),
) -> list[int]:
    """Mark ``fraction`` of all tasks (or ``count`` tasks), taken among the open ones
    that still have a step to come and are not in ``exclude``, as needing a pass now, the
    way a re-plan or a fresh plan year leaves them; returns their ids."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Task)).scalar_one()
        open_ids = list(
            tid
            for tid in conn.execute(
                select(Task.id)
                .where(Task.status == "open", Task.next_step_at > NEEDS_PLANNING)
                .order_by(Task.id)
            ).scalars()
            if tid not in exclude
        )
    wanted = count if count is not None else max(1, round(total * fraction))
    want = min(len(open_ids), wanted)
    chosen = random.Random(seed).sample(open_ids, want)
    with db.write_session(engine) as session:
        for batch_start in range(0, len(chosen), 5000):
            batch = chosen[batch_start : batch_start + 5000]
            session.execute(
                update(Task)
                .where(Task.id.in_(batch))
                .values(next_step_at=NEEDS_PLANNING)
                .execution_options(synchronize_session=False)
            )
    return chosen
