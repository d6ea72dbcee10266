"""The demo population: a synthetic, clearly fake resident register for the Jinshui demo district.

锦湖社区 (410105003005), the demo users' community, gets every building filled with as many households and
residents as the demo area tree gives it (about 2,300 households, 6,000 residents); the other communities of
人民路街道 get one sample household per building. Everything is fake and recognisably so:

- names are a common surname and two characters from a fixed list of counters (王丙七, 李甲三 ...);
- identity numbers have the district's address code, a plausible birth date, the sequence code 99x (digits
  15-17) and a VALID GB 11643 check digit, so they pass every check;
- phones are 199 000x xxxx;
- a few residents carry tags, among them sensitive and core ones, to show who sees what.

Deterministic (seeded), written in bulk (about 2 s on SQLite), through the same encryption as real data.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.people import privacy
from gridgov.domains.people.checks import check_digit
from gridgov.domains.people.enums import (
    EventKind,
    Gender,
    HouseholdKind,
    Relation,
    ResidenceType,
    ResidentStatus,
)
from gridgov.domains.people.models import Household, Resident, ResidentEvent, ResidentTag, Tag

SEED = 410105003
STREET, COMMUNITY = "410105003", "410105003005"
REGION = "410105"
SOURCE = "gridgov demo (synthetic)"
ACTOR_NAME = "gridgov demo"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
COUNTERS = "甲乙丙丁戊己庚辛壬癸"
NUMBERS = "一二三四五六七八九十"
HOUSEHOLD_SIZES = ((1, 0.15), (2, 0.30), (3, 0.27), (4, 0.17), (5, 0.08), (6, 0.03))
ETHNICITIES = (("汉族", 0.96), ("回族", 0.03), ("满族", 0.01))
# NOTE: plain executemany inserts into the tables, the new ids read back by their unique keys (building and door,
# the identity number's blind index): SQLAlchemy's ORM bulk insert with RETURNING splices its result batches
# quadratically (16 s instead of 1 s on SQLite), and psycopg spends seconds parsing the huge multi-row INSERTs that
# RETURNING needs on PostgreSQL (13 s instead of 3 s).
HOUSEHOLDS, RESIDENTS = Household.__table__, Resident.__table__
RESIDENCES = ((ResidenceType.registered, 0.7), (ResidenceType.resident, 0.2), (ResidenceType.floating, 0.1))


@dataclass
class _Person:
    name: str
    relation: Relation
    gender: Gender
    born: dt.date
    ethnicity: str
    id_number: str
    phone: str | None
    residence: ResidenceType
    tags: list[str]


class _Generator:
    def __init__(self, seed: int, today: dt.date) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.ids: set[str] = set()
        self.phones = 0

    def pick(self, weighted: tuple[tuple[Any, float], ...]) -> Any:
        values, weights = zip(*weighted, strict=True)
        return self.rng.choices(values, weights)[0]

    def name(self, surname: str | None = None) -> str:
        return (surname or self.rng.choice(SURNAMES)) + self.rng.choice(COUNTERS) + self.rng.choice(NUMBERS)

    def birth(self, age: int) -> dt.date:
        """Returns a birth date `age` full years before today (never in the future)."""
        return self.today - dt.timedelta(days=int(age * 365.25) + self.rng.randrange(1, 365))

    def identity(self, born: dt.date, gender: Gender) -> tuple[str, dt.date]:
        """Returns a free identity number of the 99x range and the birth date it encodes (a day earlier when taken)."""
        while True:
            parity = self.rng.choice((1, 3, 5, 7, 9) if gender == Gender.male else (0, 2, 4, 6, 8))
            first17 = f"{REGION}{born:%Y%m%d}99{parity}"
            number = first17 + check_digit(first17)
            if number not in self.ids:
                self.ids.add(number)
                return number, born
            born -= dt.timedelta(days=1)

    def phone(self) -> str:
        self.phones += 1
        return f"199{self.phones:08d}"

    def person(self, relation: Relation, age: int, gender: Gender, surname: str | None, residence: ResidenceType):
        age = max(0, min(age, 99))
        number, born = self.identity(self.birth(age), gender)
        return _Person(
            name=self.name(surname),
            relation=relation,
            gender=gender,
            born=born,
            ethnicity=self.pick(ETHNICITIES),
            id_number=number,
            phone=self.phone() if age >= 16 and self.rng.random() < 0.9 else None,
            residence=residence,
            tags=[],
        )

    def household(self, size: int) -> list[_Person]:
        rng = self.rng
        residence = self.pick(RESIDENCES)
        head_age = rng.randint(24, 88)
        head_gender = rng.choice((Gender.male, Gender.female))
        surname = rng.choice(SURNAMES)
        members = [self.person(Relation.head, head_age, head_gender, surname, residence)]
        other = Gender.female if head_gender == Gender.male else Gender.male
        if size >= 2:
            members.append(self.person(Relation.spouse, head_age + rng.randint(-5, 5), other, None, residence))
        for _ in range(size - len(members)):
            if head_age >= 60 and rng.random() < 0.4:
                relation, age = Relation.grandchild, head_age - rng.randint(48, 62)
            elif head_age <= 50 and rng.random() < 0.25:
                relation, age = Relation.parent, head_age + rng.randint(24, 32)
            else:
                relation, age = Relation.child, head_age - rng.randint(23, 34)
            if age < 0:
                relation, age = Relation.child, rng.randint(0, 6)
            gender = rng.choice((Gender.male, Gender.female))
            keep = surname if relation in (Relation.child, Relation.grandchild) else None
            members.append(self.person(relation, age, gender, keep, residence))
        self.tag(members)
        return members

    def tag(self, members: list[_Person]) -> None:
        rng = self.rng
        adults = [p for p in members if self.age(p) >= 18]
        for person in members:
            age = self.age(person)
            if age >= 80 and rng.random() < 0.8:
                person.tags.append("oldest_old")
            if age >= 65 and len(members) == 1:
                person.tags.append("elderly_alone")
            elif age >= 65 and all(self.age(p) >= 60 for p in members) and rng.random() < 0.6:
                person.tags.append("empty_nest_elderly")
            if age >= 40 and person.gender == Gender.male and rng.random() < 0.03:
                person.tags.append("veteran")
            if 18 <= age <= 70 and rng.random() < 0.02:
                person.tags.append("volunteer")
        if adults and rng.random() < 0.03:
            adults[0].tags.append("subsistence_allowance")
        if rng.random() < 0.02:
            rng.choice(members).tags.append("disabled")
        if adults and rng.random() < 0.004:
            adults[-1].tags.append(rng.choice(("community_correction", "severe_mental_disorder", "released_prisoner")))

    def age(self, person: _Person) -> int:
        born = person.born
        return self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))


def load_demo(*, db: Session, seed: int = SEED) -> dict[str, int]:
    """Writes the synthetic population of 人民路街道 (full in 锦湖社区, a sample elsewhere); returns its counts.

    Does nothing (zeros) when the register holds households already or the demo areas are missing.
    """
    counts = {"households": 0, "residents": 0, "tagged_residents": 0}
    if db.scalar(select(func.count()).select_from(Household)):
        return counts
    street = db.scalars(select(Area).where(Area.code == STREET)).first()
    if street is None:
        return counts
    buildings = list(
        db.scalars(
            select(Area)
            .where(Area.level == AreaLevel.building, Area.path.startswith(street.path, autoescape=True))
            .order_by(Area.code)
        )
    )
    now = clock.now()
    generator = _Generator(seed, now.date())
    ring = privacy.keyring()
    households: list[dict[str, Any]] = []
    people: list[list[_Person]] = []
    for building in buildings:
        full = building.code.startswith(COMMUNITY)
        wanted = max(1, building.households or 1) if full else 1
        for number in range(1, wanted + 1):
            unit, floor, door = (number - 1) // 24 + 1, ((number - 1) % 24) // 2 + 1, (number - 1) % 2 + 1
            members = generator.household(generator.pick(HOUSEHOLD_SIZES))
            if full and number == 1:
                members[0].tags.append("building_leader")
            households.append(
                {
                    "building_id": building.id,
                    "area_path": building.path,
                    "room": f"{unit}单元{floor}0{door}",
                    "kind": HouseholdKind.family,
                    "residence": members[0].residence,
                    "notes": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            people.append(members)
    if not households:
        return counts
    db.execute(insert(HOUSEHOLDS), households)
    placed = {
        (building_id, room): household_id
        for household_id, building_id, room in db.execute(
            select(HOUSEHOLDS.c.id, HOUSEHOLDS.c.building_id, HOUSEHOLDS.c.room)
        )
    }
    household_ids = [placed[(row["building_id"], row["room"])] for row in households]
    resident_rows: list[dict[str, Any]] = []
    for household_id, members in zip(household_ids, people, strict=True):
        for person in members:
            row = {
                "household_id": household_id,
                "relation": person.relation,
                "name": person.name,
                "gender": person.gender,
                "birth_date": person.born,
                "ethnicity": person.ethnicity,
                "residence_type": person.residence,
                "status": ResidentStatus.active,
                "status_on": None,
                "created_at": now,
                "updated_at": now,
            }
            row |= privacy.sealed_values(privacy.ID_NUMBER, person.id_number, ring)
            row |= privacy.sealed_values(privacy.PHONE, person.phone, ring)
            resident_rows.append(row)
    db.execute(insert(RESIDENTS), resident_rows)
    by_index: dict[str, int] = dict(db.execute(select(RESIDENTS.c.id_number_index, RESIDENTS.c.id)).all())
    resident_ids = [by_index[row["id_number_index"]] for row in resident_rows]
    tags = {tag.code: tag for tag in db.scalars(select(Tag))}
    events: list[dict[str, Any]] = [
        _event(now, EventKind.household_created, None, household_id, {"room": [None, row["room"]]})
        for household_id, row in zip(household_ids, households, strict=True)
    ]
    links: list[dict[str, Any]] = []
    everyone = [
        (household_id, person)
        for household_id, members in zip(household_ids, people, strict=True)
        for person in members
    ]
    for resident_id, (household_id, person) in zip(resident_ids, everyone, strict=True):
        changes = {
            "name": [None, person.name],
            "relation": [None, str(person.relation)],
            "residence_type": [None, str(person.residence)],
            "id_number": [None, privacy.mask_identity_number(person.id_number)],
            "phone": [None, privacy.mask_phone(person.phone)],
        }
        events.append(_event(now, EventKind.registered, resident_id, household_id, changes))
        for code in dict.fromkeys(person.tags):
            tag = tags.get(code)
            if tag is None:
                continue
            links.append({"resident_id": resident_id, "tag_id": tag.id, "added_at": now, "added_by_user_id": None})
            tag_changes = {"tag": [None, tag.code], "tag_name": tag.name, "sensitivity": str(tag.sensitivity)}
            events.append(_event(now, EventKind.tag_added, resident_id, household_id, tag_changes))
    if links:
        db.execute(insert(ResidentTag.__table__), links)
    db.execute(insert(ResidentEvent.__table__), events)
    db.flush()
    counts["households"] = len(household_ids)
    counts["residents"] = len(resident_ids)
    counts["tagged_residents"] = len({link["resident_id"] for link in links})
    return counts


def _event(
    now: dt.datetime, kind: EventKind, resident_id: int | None, household_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    return {
        "resident_id": resident_id,
        "household_id": household_id,
        "kind": kind,
        "occurred_on": None,
        "recorded_at": now,
        "actor_user_id": None,
        "actor_name": ACTOR_NAME,
        "source": SOURCE,
        "changes": changes,
        "note": None,
    }
