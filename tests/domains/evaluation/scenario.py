"""A hand-built November 2026 in the synthetic district, driven through the real case services with a controlled
clock, where every base count is known (worked out by hand below, and in the counts doc).

Nine cases, two streets (west 410105001, east 410105002), two sanitation teams and an urban-management team:

  A  west grid 001  patrol   closed on time (finish 10:00 < deadline 15:00), rated satisfied
  B  west grid 002  patrol   breached (SLA sweep at 16:00), finished the next day: closed late; verified late
  C  east grid 001  patrol   extension approved on 11-30 moves its deadline to 12-01 16:00: not due in November
  D  east grid 002  patrol   returned by the east sanitation team, re-dispatched to the east urban-management team,
                             closed on time, rated basically satisfied
  E  west grid 003  patrol   self-handled (即时处置), verified by another grid worker
  F  west grid 001  patrol   breached and still open at the end of November
  G  east grid 003  snapshot confirmed, closed, rated unsatisfied → reopened, ruled unreasonable, closed again
  H  west grid 004  patrol   其他事件 held in the queue (unsure classification), rejected: not a valid report
  I  west grid 001  snapshot rejected on site after the register deadline

Handling limit 4 working hours (08:30–12:00, 14:00–17:30), verify 2, register 0.5.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor, UserCreate
from gridgov.domains.cases import jobs, sla
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Channel, Reasonableness, Satisfaction
from gridgov.domains.cases.models import Case, MediaFile
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit, ClassificationIn, SelfHandledIn
from tests.domains.cases.world import World, point

SH = ZoneInfo("Asia/Shanghai")

W, E = "410105001", "410105002"
W_N, E_N = "410105001001", "410105002001"
W_HWS, E_HWS, E_CGZD = f"{W}-HWS", f"{E}-HWS", f"{E}-CGZD"
W_JWH, E_JWH, W_CYZX = f"{W_N}-JWH", f"{E_N}-JWH", f"{W}-CYZX"


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    """A local (Asia/Shanghai) time in 2026."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SH)


def ctx(actor: Actor, when: dt.datetime) -> Context:
    return Context.of(actor, now=when)


def photo(db: Session, name: str = "e") -> str:
    sha = (name * 64)[:64]
    if db.get(MediaFile, sha) is None:
        db.add(MediaFile(sha256=sha, content_type="image/jpeg", size=10, created_at=at(1, 0)))
        db.flush()
    return sha


def submit(
    db: Session,
    actor: Actor,
    when: dt.datetime,
    xy: tuple[float, float],
    matter: str = "SJ0102",
    channel: Channel = Channel.patrol,
    **extra: object,
) -> Case:
    lng, lat = point(*xy)
    report = CaseSubmit(
        channel=channel, matter_type=matter, title=f"案件 {xy}", description="测试", lng=lng, lat=lat, **extra
    )
    return intake.submit(db=db, report=report, ctx=ctx(actor, when)).case


def sweep(db: Session, case: Case, when: dt.datetime) -> None:
    """Runs the SLA check of one case at `when` (as the sweep would)."""
    system = Context(actor=SYSTEM_ACTOR, now=when, calendar=sla.default_calendar())
    jobs.check_case(db=db, case=case, ctx=system, report=jobs.SweepReport())
    db.flush()


@dataclass
class People:
    """The actors of the scenario (ids as written in the event log)."""

    world: World

    def __post_init__(self) -> None:
        w = self.world
        self.gw1 = w.actor(Role.grid_worker, W_JWH, user_id=101, name="网格员甲")
        self.gw2 = w.actor(Role.grid_worker, W_JWH, user_id=102, name="网格员乙")
        self.gw3 = w.actor(Role.grid_worker, E_JWH, user_id=103, name="网格员丙")
        self.sd_w = w.actor(Role.street_dispatcher, W_CYZX, user_id=201, name="西街派遣员")
        self.sd_e = w.actor(Role.street_dispatcher, f"{E}-CYZX", user_id=202, name="东街派遣员")
        self.dd = w.actor(Role.district_dispatcher, "CENTRE", user_id=301, name="区值班长")
        self.hw_w = w.actor(Role.unit_handler, W_HWS, user_id=501, name="西环卫处置员")
        self.hw_e = w.actor(Role.unit_handler, E_HWS, user_id=502, name="东环卫处置员")
        self.cg_e = w.actor(Role.unit_handler, E_CGZD, user_id=503, name="东城管处置员")
        self.citizen = Actor(name="市民", role=Role.citizen)


@dataclass
class November:
    """The scenario's cases by letter."""

    cases: dict[str, Case] = field(default_factory=dict)


def add_staff(db: Session) -> None:
    """Community workers for the staffing count: three active, one disabled, one of another role."""
    rows = [
        ("gw_a", Role.grid_worker, W_JWH, "410105001001001"),
        ("gw_b", Role.grid_worker, W_JWH, W_N),
        ("sec_e", Role.community_secretary, E_JWH, E_N),
        ("gw_gone", Role.grid_worker, W_JWH, "410105001001002"),
        ("disp_w", Role.street_dispatcher, W_CYZX, W),
    ]
    for username, role, unit, scope in rows:
        user = auth_service.create_user(
            db=db, data=UserCreate(username=username, display_name=username, role=role, unit=unit, scope=scope)
        )
        if username == "gw_gone":
            user.is_active = False
    db.flush()


def build(db: Session, world: World, *, ruling: bool = True) -> November:
    """Plays the scenario into `db` (no commit); `ruling` False stops before G is ruled unreasonable."""
    p = People(world)
    evidence = [photo(db)]
    n = November()
    c = n.cases

    # A: closed on time, rated satisfied.
    c["A"] = a = submit(db, p.gw1, at(25, 9), (120, 880))
    case_service.sign(db=db, case=a, ctx=ctx(p.hw_w, at(25, 9, 5)))
    case_service.finish(db=db, case=a, ctx=ctx(p.hw_w, at(25, 10)), result="已清理", evidence=evidence)
    case_service.verify(db=db, case=a, ctx=ctx(p.gw1, at(25, 10, 30)), ok=True)
    case_service.rate(db=db, case=a, ctx=ctx(p.sd_w, at(25, 11)), satisfaction=Satisfaction.satisfied)

    # B: breached, closed late, verified after its verify deadline (12:00).
    c["B"] = b = submit(db, p.gw1, at(25, 9), (370, 880))
    case_service.sign(db=db, case=b, ctx=ctx(p.hw_w, at(25, 9, 10)))
    sweep(db, b, at(25, 16))
    case_service.finish(db=db, case=b, ctx=ctx(p.hw_w, at(26, 10)), result="已清理", evidence=evidence)
    case_service.verify(db=db, case=b, ctx=ctx(p.gw1, at(26, 14, 30)), ok=True)

    # C: extended past the end of the period.
    c["C"] = cc = submit(db, p.gw3, at(30, 9), (620, 880))
    case_service.sign(db=db, case=cc, ctx=ctx(p.hw_e, at(30, 9, 30)))
    case_service.request_extension(db=db, case=cc, ctx=ctx(p.hw_e, at(30, 9, 40)), amount=8, reason="需要协调")
    case_service.decide_extension(db=db, case=cc, ctx=ctx(p.sd_e, at(30, 10)), approve=True)

    # D: returned, re-dispatched to another unit, closed on time, rated basically satisfied.
    c["D"] = d = submit(db, p.gw3, at(26, 9), (870, 880))
    case_service.return_case(db=db, case=d, ctx=ctx(p.hw_e, at(26, 9, 30)), reason_code="dispatch_error")
    case_service.dispatch(db=db, case=d, unit=world.unit(E_CGZD), co_units=[], ctx=ctx(p.sd_e, at(26, 10)))
    case_service.sign(db=db, case=d, ctx=ctx(p.cg_e, at(26, 10, 30)))
    case_service.finish(db=db, case=d, ctx=ctx(p.cg_e, at(26, 11)), result="已清理", evidence=evidence)
    case_service.verify(db=db, case=d, ctx=ctx(p.gw3, at(26, 11, 30)), ok=True)
    case_service.rate(db=db, case=d, ctx=ctx(p.sd_e, at(26, 12)), satisfaction=Satisfaction.basically_satisfied)

    # E: self-handled, verified by another grid worker.
    c["E"] = e = submit(
        db, p.gw1, at(27, 10), (120, 620), self_handled=SelfHandledIn(result="已清理", evidence=evidence)
    )
    case_service.verify(db=db, case=e, ctx=ctx(p.gw2, at(27, 11)), ok=True)

    # F: breached and still open.
    c["F"] = f = submit(db, p.gw1, at(27, 9), (130, 870))
    case_service.sign(db=db, case=f, ctx=ctx(p.hw_w, at(27, 9, 30)))
    sweep(db, f, at(27, 16))

    # G: a snapshot confirmed, closed, rated unsatisfied (reopened), ruled unreasonable, closed again.
    c["G"] = g = submit(db, p.citizen, at(25, 9), (620, 620), channel=Channel.snapshot)
    case_service.confirm(db=db, case=g, ctx=ctx(p.gw3, at(25, 9, 20)))
    case_service.sign(db=db, case=g, ctx=ctx(p.hw_e, at(25, 9, 40)))
    case_service.finish(db=db, case=g, ctx=ctx(p.hw_e, at(25, 10)), result="已清理", evidence=evidence)
    case_service.verify(db=db, case=g, ctx=ctx(p.gw3, at(25, 10, 30)), ok=True)
    case_service.rate(db=db, case=g, ctx=ctx(p.citizen, at(26, 9)), satisfaction=Satisfaction.unsatisfied)
    if ruling:
        case_service.rule_reasonableness(
            db=db,
            case=g,
            ctx=ctx(p.dd, at(26, 9, 30)),
            ruling=Reasonableness.unreasonable,
            reason_code="beyond_public_duty",
            note="私人事务",
        )
        case_service.finish(db=db, case=g, ctx=ctx(p.hw_e, at(26, 11)), result="已再次清理", evidence=evidence)
        case_service.verify(db=db, case=g, ctx=ctx(p.gw3, at(26, 11, 30)), ok=True)

    # H: a patrol report the classifier was unsure of (held in the queue), rejected by the street.
    unsure = ClassificationIn(label="其他事件", confidence=0.3)
    c["H"] = h = submit(db, p.gw2, at(25, 14), (370, 620), matter="SJ0601", classification=unsure)
    case_service.reject(db=db, case=h, ctx=ctx(p.sd_w, at(25, 14, 30)), reason_code="not_a_problem")

    # I: a snapshot rejected on site at 11:00, after its register deadline (10:30).
    c["I"] = i = submit(db, p.citizen, at(30, 10), (200, 800), channel=Channel.snapshot)
    case_service.reject(db=db, case=i, ctx=ctx(p.sd_w, at(30, 11)), reason_code="not_a_problem")

    add_staff(db)
    db.flush()
    return n


# --- the expected tables of 2026-11 (worked out by hand; see the module docstring) --------------------------

WEST = {
    "received": 6,
    "reports": 5,
    "valid_reports": 4,
    "registered": 5,
    "registered_on_time": 5,
    "dispatched": 3,
    "accurate_dispatch": 3,
    "due": 3,
    "closed": 2,
    "closed_on_time": 1,
    "closed_late": 1,
    "open_overdue": 1,
    "overdue": 2,
    "self_handled": 1,
    "verify_tasks": 3,
    "verified_on_time": 2,
    "confirm_tasks": 1,
    "rated": 1,
    "satisfied": 1,
    "handled": 2,
    "handle_hours": 26.0,  # A 09:00→10:00, B 11-25 09:00 → 11-26 10:00
}
EAST = {
    "received": 3,
    "reports": 2,
    "valid_reports": 2,
    "registered": 3,
    "registered_on_time": 3,
    "dispatched": 3,
    "accurate_dispatch": 2,
    "due": 2,
    "closed": 2,
    "closed_on_time": 2,
    "rework": 1,
    "extended": 1,
    "returned": 1,
    "verify_tasks": 3,
    "verified_on_time": 3,
    "confirm_tasks": 1,
    "confirmed_on_time": 1,
    "rated": 1,
    "satisfied": 1,
    "handled": 2,
    "handle_hours": 3.0,  # D 10:00→11:00 after its re-dispatch, G 11-26 09:00 (reopen) → 11:00
}


def _sum(*rows: dict[str, float]) -> dict[str, float]:
    total: dict[str, float] = {}
    for row in rows:
        for name, value in row.items():
            total[name] = total.get(name, 0) + value
    return total


DISTRICT = {"410105": {**_sum(WEST, EAST), "population": 10000, "staff": 3}}
STREET = {W: {**WEST, "staff": 2}, E: {**EAST, "staff": 1}}
COMMUNITY = {W_N: {**WEST, "staff": 2}, E_N: {**EAST, "staff": 1}}
GRID = {
    "410105001001001": {  # A, F, I
        "received": 3,
        "reports": 2,
        "valid_reports": 2,
        "registered": 2,
        "registered_on_time": 2,
        "dispatched": 2,
        "accurate_dispatch": 2,
        "due": 2,
        "closed": 1,
        "closed_on_time": 1,
        "open_overdue": 1,
        "overdue": 1,
        "verify_tasks": 1,
        "verified_on_time": 1,
        "confirm_tasks": 1,
        "rated": 1,
        "satisfied": 1,
        "handled": 1,
        "handle_hours": 1.0,
        "population": 600,
        "staff": 1,
    },
    "410105001001002": {  # B
        "received": 1,
        "reports": 1,
        "valid_reports": 1,
        "registered": 1,
        "registered_on_time": 1,
        "dispatched": 1,
        "accurate_dispatch": 1,
        "due": 1,
        "closed": 1,
        "closed_late": 1,
        "overdue": 1,
        "verify_tasks": 1,
        "handled": 1,
        "handle_hours": 25.0,
        "population": 600,
    },
    "410105001001003": {  # E
        "received": 1,
        "reports": 1,
        "valid_reports": 1,
        "registered": 1,
        "registered_on_time": 1,
        "self_handled": 1,
        "verify_tasks": 1,
        "verified_on_time": 1,
        "population": 600,
    },
    "410105001001004": {"received": 1, "reports": 1, "registered": 1, "registered_on_time": 1, "population": 600},
    "410105002001001": {  # C
        "received": 1,
        "reports": 1,
        "valid_reports": 1,
        "registered": 1,
        "registered_on_time": 1,
        "dispatched": 1,
        "accurate_dispatch": 1,
        "extended": 1,
        "population": 600,
    },
    "410105002001002": {  # D
        "received": 1,
        "reports": 1,
        "valid_reports": 1,
        "registered": 1,
        "registered_on_time": 1,
        "dispatched": 1,
        "due": 1,
        "closed": 1,
        "closed_on_time": 1,
        "returned": 1,
        "verify_tasks": 1,
        "verified_on_time": 1,
        "rated": 1,
        "satisfied": 1,
        "handled": 1,
        "handle_hours": 1.0,
        "population": 600,
    },
    "410105002001003": {  # G
        "received": 1,
        "registered": 1,
        "registered_on_time": 1,
        "dispatched": 1,
        "accurate_dispatch": 1,
        "due": 1,
        "closed": 1,
        "closed_on_time": 1,
        "rework": 1,
        "verify_tasks": 2,
        "verified_on_time": 2,
        "confirm_tasks": 1,
        "confirmed_on_time": 1,
        "handled": 1,
        "handle_hours": 2.0,
        "population": 600,
    },
}
UNIT = {
    W_HWS: {
        "received": 3,
        "dispatched": 3,
        "accurate_dispatch": 3,
        "due": 3,
        "closed": 2,
        "closed_on_time": 1,
        "closed_late": 1,
        "open_overdue": 1,
        "overdue": 2,
        "rated": 1,
        "satisfied": 1,
        "handled": 2,
        "handle_hours": 26.0,
    },
    E_HWS: {
        "received": 2,
        "dispatched": 3,
        "accurate_dispatch": 2,
        "due": 1,
        "closed": 1,
        "closed_on_time": 1,
        "rework": 1,
        "extended": 1,
        "returned": 1,
        "handled": 1,
        "handle_hours": 2.0,
    },
    E_CGZD: {
        "received": 1,
        "dispatched": 1,
        "accurate_dispatch": 1,
        "due": 1,
        "closed": 1,
        "closed_on_time": 1,
        "rated": 1,
        "satisfied": 1,
        "handled": 1,
        "handle_hours": 1.0,
    },
    W_JWH: {
        "reports": 5,
        "valid_reports": 4,
        "registered": 1,
        "registered_on_time": 1,
        "self_handled": 1,
        "verify_tasks": 3,
        "verified_on_time": 2,
    },
    E_JWH: {
        "reports": 2,
        "valid_reports": 2,
        "registered": 1,
        "registered_on_time": 1,
        "verify_tasks": 3,
        "verified_on_time": 3,
        "confirm_tasks": 1,
        "confirmed_on_time": 1,
    },
    W_CYZX: {"confirm_tasks": 1},
}
PERSON = {
    "101": {
        "received": 4,
        "reports": 4,
        "valid_reports": 4,
        "registered": 1,
        "registered_on_time": 1,
        "self_handled": 1,
        "verify_tasks": 2,
        "verified_on_time": 1,
    },
    "102": {"received": 1, "reports": 1, "verify_tasks": 1, "verified_on_time": 1},
    "103": {
        "received": 2,
        "reports": 2,
        "valid_reports": 2,
        "registered": 1,
        "registered_on_time": 1,
        "verify_tasks": 3,
        "verified_on_time": 3,
        "confirm_tasks": 1,
        "confirmed_on_time": 1,
    },
    "201": {"confirm_tasks": 1},
    "202": {"dispatched": 1, "accurate_dispatch": 1},
    "502": {"returned": 1},
}
PERSON_LABELS = {
    "101": "网格员甲",
    "102": "网格员乙",
    "103": "网格员丙",
    "201": "西街派遣员",
    "202": "东街派遣员",
    "502": "东环卫处置员",
}
CHANNEL = {
    "patrol": {
        "received": 7,
        "reports": 7,
        "valid_reports": 6,
        "registered": 7,
        "registered_on_time": 7,
        "dispatched": 5,
        "accurate_dispatch": 4,
        "due": 4,
        "closed": 3,
        "closed_on_time": 2,
        "closed_late": 1,
        "open_overdue": 1,
        "extended": 1,
        "returned": 1,
        "overdue": 2,
        "self_handled": 1,
        "verify_tasks": 4,
        "verified_on_time": 3,
        "rated": 2,
        "satisfied": 2,
        "handled": 3,
        "handle_hours": 27.0,
    },
    "snapshot": {
        "received": 2,
        "registered": 1,
        "registered_on_time": 1,
        "dispatched": 1,
        "accurate_dispatch": 1,
        "due": 1,
        "closed": 1,
        "closed_on_time": 1,
        "rework": 1,
        "verify_tasks": 2,
        "verified_on_time": 2,
        "confirm_tasks": 2,
        "confirmed_on_time": 1,
        "handled": 1,
        "handle_hours": 2.0,
    },
}
_OTHER = {"received": 1, "reports": 1, "registered": 1, "registered_on_time": 1}  # H, 其他事件
_GARBAGE = {
    name: value - _OTHER.get(name, 0) for name, value in _sum(WEST, EAST).items() if value - _OTHER.get(name, 0)
}
MATTER_TYPE = {"SJ0102": _GARBAGE, "SJ0601": _OTHER}
MATTER_CLASS = {"01": _GARBAGE, "06": _OTHER}
