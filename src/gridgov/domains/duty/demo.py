"""Duty part of the Jinshui demo: rosters of the district centre and of 人民路街道's centre for the current month,
drawn through the real rotation and roster services, and the handovers of the shifts already past.

- 区城运中心 (410105): three shifts (夜班 00-08, 早班 08-16, 中班 16-24) and four teams (四班三倒); the demo district
  leader and a generated one lead the days in turn.
- 人民路街道城运中心 (410105003): one 24-hour shift (08:00-08:00), three teams in turn, each led by its first.
The demo dispatchers (`dispatcher`, `street`) are in the teams; the other duty staff are generated accounts that
cannot log in (no password), named 值班员（演示）, with clearly fake duty contacts (…@duty.example, 0371-000000NN).
Loading it twice changes nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core.clock import now as clock_now
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.cases.models import Case
from gridgov.domains.duty import rotation, service
from gridgov.domains.duty.models import DutyContact, DutyHandover, DutyRoster

DEMO_ACTOR = Actor(name="gridgov demo", role=Role.system)
DISTRICT, STREET = "410105", "410105003"
HANDOVERS_PER_CENTRE = 6

# username → (display name, role, unit, scope)
GENERATED: dict[str, tuple[str, Role, str, str | None]] = {
    "duty_leader2": ("区值班领导乙（演示）", Role.district_leader, "410105-CYZX", None),
    **{
        f"duty_d{n}": (f"区城运中心值班员{n:02d}（演示）", Role.district_dispatcher, "410105-CYZX", None)
        for n in range(1, 8)
    },
    **{
        f"rml_duty{n}": (f"人民路街道值班员{n:02d}（演示）", Role.street_dispatcher, f"{STREET}-CYZX", STREET)
        for n in range(1, 6)
    },
}
DISTRICT_TEAMS = [["dispatcher", "duty_d1"], ["duty_d2", "duty_d3"], ["duty_d4", "duty_d5"], ["duty_d6", "duty_d7"]]
DISTRICT_LEADERS = ["leader", "duty_leader2"]
STREET_TEAMS = [["street", "rml_duty1"], ["rml_duty2", "rml_duty3"], ["rml_duty4", "rml_duty5"]]
NOTES = (
    "无遗留事项，各类设备运行正常。",
    "花园路段积水点仍在观察，已通知市政维护中心，下一班继续跟踪。",
    "夜间接群众电话反映噪声扰民一起，已转辖区派出所。",
    "督办件已全部催办，等待责任单位反馈。",
)


def _users(db: Session) -> dict[str, User]:
    """Creates the generated duty staff that do not exist yet; returns every demo user by username."""
    names = set(GENERATED) | {n for team in DISTRICT_TEAMS + STREET_TEAMS for n in team} | set(DISTRICT_LEADERS)
    found = {u.username: u for u in db.scalars(select(User).where(User.username.in_(names)))}
    for username, (display_name, role, unit, scope) in GENERATED.items():
        if username not in found:
            found[username] = auth_service.create_user(
                db=db,
                data=UserCreate(username=username, display_name=display_name, role=role, unit=unit, scope=scope),
                actor=DEMO_ACTOR,
                source_address="demo",
            )
    return found


def _contacts(db: Session, users: dict[str, User], now: dt.datetime) -> int:
    written = 0
    for number, (username, user) in enumerate(sorted(users.items()), start=1):
        if db.get(DutyContact, user.id) is None:
            db.add(
                DutyContact(
                    user_id=user.id,
                    email=f"{username}@duty.example",
                    mobile=f"0371-000000{number:02d}",
                    updated_at=now,
                )
            )
            written += 1
    db.flush()
    return written


def _present(teams: list[list[str]], users: dict[str, User]) -> list[list[str]]:
    return [[name for name in team if name in users] for team in teams if any(name in users for name in team)]


def _handovers(db: Session, centre: Area, now: dt.datetime) -> int:
    """Writes and acknowledges the handovers of the centre's last past shifts (by their own staff, at their end)."""
    if db.scalar(select(DutyHandover.id).where(DutyHandover.centre_area_id == centre.id)) is not None:
        return 0
    past = list(
        db.scalars(
            select(DutyRoster)
            .where(DutyRoster.centre_area_id == centre.id, DutyRoster.ends_at <= now)
            .order_by(DutyRoster.starts_at.desc())
            .limit(HANDOVERS_PER_CENTRE)
        )
    )
    stmt = select(Case.number).where(Case.is_open).order_by(Case.reported_at.desc()).limit(2)
    if centre.level == "street":
        stmt = stmt.where(Case.street_id == centre.id)
    open_cases = list(db.scalars(stmt))
    written = 0
    for index, roster in enumerate(reversed(past)):
        writer = next((m.user for m in roster.members if not m.is_leader), roster.leader)
        handover = service.write_handover(
            db=db,
            roster=roster,
            actor=auth_service.actor_of(writer),
            open_matters=NOTES[index % len(NOTES)],
            case_numbers=open_cases if index % 2 else [],
            notes="交接完毕。",
            now=roster.ends_at - dt.timedelta(minutes=15),
        )
        incoming = handover.incoming
        if incoming is not None and incoming.starts_at + dt.timedelta(minutes=10) <= now:
            service.acknowledge_handover(
                db=db,
                handover=handover,
                actor=auth_service.actor_of(incoming.leader),
                note="已接班。",
                now=incoming.starts_at + dt.timedelta(minutes=10),
            )
        written += 1
    return written


def load_demo(*, db: Session, now: dt.datetime | None = None) -> dict[str, int]:
    """Writes the demo rosters of the district centre and 人民路街道's for the current month, and past handovers."""
    now = now or clock_now()
    counts = {"duty_staff": 0, "duty_contacts": 0, "duty_shifts": 0, "duty_roster_rows": 0, "duty_handovers": 0}
    district = db.scalars(select(Area).where(Area.code == DISTRICT)).first()
    street = db.scalars(select(Area).where(Area.code == STREET)).first()
    if district is None or street is None:
        return counts
    before = set(db.scalars(select(User.username).where(User.username.in_(GENERATED))))
    users = _users(db)
    counts["duty_staff"] = len(set(GENERATED) - before)
    counts["duty_contacts"] = _contacts(db, users, now)
    month = service.local_date(now).strftime("%Y-%m")
    first, following = service.month_bounds(month)
    plans = [
        (
            district,
            "three",
            rotation.Rotation(
                teams=_present(DISTRICT_TEAMS, users), leaders=[n for n in DISTRICT_LEADERS if n in users]
            ),
        ),
        (street, "day", rotation.Rotation(teams=_present(STREET_TEAMS, users))),
    ]
    for centre, pattern, rules in plans:
        had = len(service.list_shifts(db=db, centre=centre))
        service.ensure_default_shifts(db=db, centre=centre, pattern=pattern, actor=DEMO_ACTOR)
        counts["duty_shifts"] += len(service.list_shifts(db=db, centre=centre)) - had
        if not service.list_rosters(db=db, centre=centre, start=first, end=following):
            rows = rotation.generate_month(db=db, centre=centre, month=month, rotation=rules, actor=DEMO_ACTOR)
            counts["duty_roster_rows"] += len(rows)
        counts["duty_handovers"] += _handovers(db, centre, now)
    return counts
