"""The demo's history: days of cases through every channel and stage, made by the real services on a simulated
clock, so that evaluation, bulletins, the map and the big screen have something true to show.

Every case is reported through the channel's own entry point (a grid worker's patrol report through intake, a
citizen's 随手拍 through the snapshot service, a 12345 work order through the hotline service, an Open311 request
and a leader's assignment through intake) and then moved on by the people whose job it is, through
`gridgov.domains.cases.service`: the grid worker confirms a public report on site, the street (or district)
dispatcher merges, rejects, re-dispatches and approves extensions, the unit's handler signs, starts and finishes
(with a photo where the matter type requires one), and somebody other than the handler verifies. The SLA sweep's
own code path (`cases.jobs.due_cases` + `check_case`) runs every quarter of an hour of simulated time, so warnings,
breaches and automatic supervision are what they would have been.

The simulation is a discrete-event loop: each case's life is a generator that yields the simulated time of its
next step; one heap orders the steps of all cases and the sweeps, so the event log is in time order and nothing
happens after `end`. Everything random comes from one seeded `random.Random`: the same seed on the same demo
database gives the same history (only 随手拍 tracking codes, drawn by intake from `secrets`, differ).
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import io
import itertools
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core import media
from gridgov.core.calendar import TimeUnit, WorkingCalendar
from gridgov.core.clock import now as clock_now
from gridgov.core.db import mark_writer
from gridgov.core.errors import Conflict, Invalid
from gridgov.demo.users import COMMUNITY, DEMO_ACTOR, DEMO_USERS, GRID
from gridgov.domains.areas import locate
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor, UserCreate
from gridgov.domains.cases import jobs as case_jobs
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases import sla
from gridgov.domains.cases.enums import CaseStage, Channel, Satisfaction
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.enums import UnitKind
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.hotline import service as hotline_service
from gridgov.domains.hotline.schemas import HotlineOrder
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit, SelfHandledIn
from gridgov.domains.snapshot import service as snapshot_service
from gridgov.domains.snapshot.schemas import SnapshotIn
from gridgov.domains.triage.demo import corpus

SEED = 410105
DISTRICT = "410105"
SWEEP_EVERY = dt.timedelta(minutes=30)
RECENT = dt.timedelta(days=2)  # how far back a duplicate report looks for the problem it repeats
# The demo logins' community and grid get more cases than their households alone would give them, so that a
# visitor who logs in as `gridworker`, `secretary`, `street` or `handler` finds work in their inbox.
SHOWCASE_COMMUNITY_FACTOR, SHOWCASE_GRID_FACTOR = 6.0, 4.0

# Share of reports per channel (DOMAIN.md §2.4: patrols dominate; the public and 12345 bring the rest).
CHANNEL_WEIGHTS: dict[Channel, float] = {
    Channel.patrol: 0.52,
    Channel.hotline: 0.21,
    Channel.snapshot: 0.17,
    Channel.open311: 0.08,
    Channel.assignment: 0.02,
}
# How often matters of each class come up (大类 → weight): 市容环境, 宣传广告 and 街面秩序 lead, as in the top-ten
# lists of real bulletins; emergencies and the rarer components trail.
CLASS_WEIGHTS: dict[str, float] = {
    "SJ01": 3.0,
    "SJ02": 2.0,
    "SJ03": 1.0,
    "SJ04": 0.4,
    "SJ05": 2.5,
    "SJ06": 0.6,
    "BJ01": 1.0,
    "BJ02": 0.6,
    "BJ03": 1.0,
    "BJ04": 0.6,
    "BJ05": 0.2,
    "BJ06": 0.3,
    "ZZ": 0.8,
    "RX": 2.0,
}
CHANNEL_CLASSES: dict[Channel, tuple[str, ...]] = {
    Channel.patrol: ("SJ", "BJ", "ZZ"),
    Channel.hotline: ("RX", "SJ", "ZZ", "BJ"),
    Channel.assignment: ("SJ01", "SJ03", "SJ05", "BJ05"),
}
# Matters a grid worker often fixes on the spot (即时处置): small litter, leaflets, a bicycle in the way.
SELF_HANDLED = frozenset({"SJ0102", "SJ0105", "SJ0108", "SJ0109", "SJ0201", "SJ0202", "SJ0204", "SJ0507", "BJ0302"})

# Probabilities of each turn a case's life may take (see the module's doc for the resulting mix).
P_SELF_HANDLE = 0.25  # of patrol reports of a SELF_HANDLED matter
P_OTHER = 0.2  # a citizen picks "other" (其他) and leaves the matter type to the triage model
P_CITIZEN_LOGIN = 0.05  # of 随手拍: reported by the demo `citizen` login, who then finds them under "my reports"
P_DUPLICATE = 0.13  # of public reports: the same problem reported again
P_REJECT = 0.09  # of public reports: not confirmed on site
P_RETURN = 0.055
P_LATE = 0.09
P_LATE_SIGN = 0.2  # of late cases: left unsigned long, not just finished late
P_STUCK = 0.015  # stuck for weeks past the deadline: the standing backlog of 超期未结 cases a bulletin lists
P_EXTEND = 0.022
P_REWORK = 0.022
P_LATE_VERIFY = 0.04
P_PHOTO = 0.7  # a patrol or public report comes with a photo
P_RATE: dict[Channel, float] = {
    Channel.hotline: 0.27,
    Channel.snapshot: 0.18,
    Channel.open311: 0.18,
    Channel.assignment: 0.1,
    Channel.patrol: 0.015,
}
SATISFACTION_WEIGHTS = {
    Satisfaction.satisfied: 0.63,
    Satisfaction.basically_satisfied: 0.25,
    Satisfaction.unsatisfied: 0.12,
}
# Reports on a working day and on a day off (weekend, holiday), relative to `per_day`: about 1 over a quarter.
WORKDAY_FACTOR, DAY_OFF_FACTOR = 1.08, 0.8
DAY_OFF_PATROL = 0.4  # on days off only the duty grid workers patrol; leaders assign nothing
# Hours of the day (local) at which the public and 12345 report, as relative weights 0 … 23.
HOUR_WEIGHTS = (1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 3, 6, 8, 8, 7, 5, 5, 7, 8, 8, 7, 6, 6, 5, 4, 3, 2)

RESULTS: dict[str, tuple[str, ...]] = {
    "SJ01": ("已清理完毕，现场恢复整洁。", "已组织人员清运，现场已保洁。", "已清除并冲洗路面。"),
    "SJ02": ("已清除小广告并覆盖涂刷。", "已拆除违规广告。", "已劝离散发人员并清理现场。"),
    "SJ03": ("已责令施工单位整改，现场已规范。", "已督促覆盖裸土并洒水降尘。", "已清理遗撒物。"),
    "SJ04": ("已抢修完毕，恢复正常。", "已设置警示并完成处置。", "已排除险情。"),
    "SJ05": ("已劝导规范经营，现场已恢复。", "已依法查处并清理占道物品。", "已将车辆规范停放。"),
    "SJ06": ("已处置完毕。", "已联系相关单位处理完毕。"),
    "BJ": ("已维修更换，恢复使用。", "已修复并加固。", "已联系权属单位完成维修。"),
    "ZZ": ("已上门走访并调解，双方达成一致。", "已登记并落实帮扶措施。", "已排查整改，隐患消除。"),
    "RX": ("已电话联系诉求人并答复。", "已协调相关部门办理并答复诉求人。", "已现场办理，诉求人认可。"),
}
REWORK_NOTES = (
    "核查发现现场仍有残留，请返工。",
    "整改不彻底，与上报问题不符，返工处理。",
    "照片与现场不符，请重新处置。",
)
EXTENSION_REASONS = ("需协调权属单位共同处置，申请延期。", "所需材料待到货，申请延期。", "涉及多户协调，申请延期。")
REJECT_REASONS = (("not_a_problem", "现场核实未发现该问题。"), ("already_solved", "现场核实问题已自行消除。"))
RETURN_REASONS = (
    ("insufficient_information", "位置描述不清，无法找到现场。", None),
    ("not_our_duty", "按责任清单不属本单位职责。", "责任清单"),
)


class HistoryRefused(Conflict):
    """The history is not generated: not the demo district, production, or a history exists already."""

    code = "history_refused"


@dataclass
class HistoryReport:
    """What one run made: its window, the cases and events, how they ended, and how long it took."""

    start: dt.datetime
    end: dt.datetime
    days: int
    per_day: int
    seed: int
    cases: int = 0
    events: int = 0
    users_created: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Cases made per second of wall time."""
        return self.cases / self.seconds if self.seconds > 0 else 0.0


def check_ready(*, db: Session, force: bool = False) -> None:
    """Refuses (HistoryRefused) outside the demo district, in production, or when cases exist and not `force`."""
    if get_settings().env == "production":
        raise HistoryRefused("refused: the demo history is never generated in production (GRIDGOV_ENV=production)")
    district = db.scalars(select(Area).where(Area.code == DISTRICT, Area.level == AreaLevel.district)).first()
    if district is None:
        raise HistoryRefused(
            f"refused: this is not the demo district (no district {DISTRICT}); load it first: gridgov demo load"
        )
    names = [u.username for u in DEMO_USERS]
    found = set(db.scalars(select(User.username).where(User.username.in_(names))))
    if missing := [name for name in names if name not in found]:
        raise HistoryRefused(f"refused: demo users missing ({', '.join(missing)}); create them: gridgov demo users")
    existing = db.scalar(select(func.count(Case.id))) or 0
    if existing and not force:
        raise HistoryRefused(
            f"refused: the database already holds {existing:,} cases, so a history exists; nothing was written."
            " Use --force to add another history anyway"
        )


def generate(
    *,
    db: Session,
    days: int = 90,
    per_day: int = 60,
    seed: int = SEED,
    end: dt.datetime | None = None,
    force: bool = False,
    commit: bool = False,
    on_day: Callable[[dt.date, int], None] | None = None,
) -> HistoryReport:
    """Generates `days` days of demo cases (about `per_day` a day) ending at `end` (default now, never later).

    Without `commit` everything stays in the caller's transaction; with it, each simulated day is committed on its
    own (the CLI), so a long run holds one day in memory and in its transaction. `on_day(date, cases so far)` is
    called after each simulated day.
    """
    if days < 1 or per_day < 1:
        raise Invalid("days and per_day must be at least 1", code="bad_size")
    wall = clock_now()
    if end is not None and (end.tzinfo is None or end > wall):
        raise Invalid(f"the history's end ({end.isoformat()}) must be a time with its zone, not in the future")
    check_ready(db=db, force=force)
    end = end or wall
    started = time.perf_counter()
    before_case = db.scalar(select(func.max(Case.id))) or 0
    before_event = db.scalar(select(func.max(CaseEvent.id))) or 0
    simulation = _Simulation(db=db, rng=random.Random(seed), start=end - dt.timedelta(days=days), end=end)
    simulation.run(per_day=per_day, commit=commit, on_day=on_day)
    report = HistoryReport(start=simulation.start, end=end, days=days, per_day=per_day, seed=seed)
    _summarise(db=db, report=report, before_case=before_case, before_event=before_event, simulation=simulation)
    report.seconds = time.perf_counter() - started
    return report


def _summarise(
    *, db: Session, report: HistoryReport, before_case: int, before_event: int, simulation: _Simulation
) -> None:
    """Fills the report from what the run wrote: channels, final stages, outcomes."""
    rows = db.execute(
        select(
            Case.channel,
            Case.stage,
            Case.is_open,
            Case.is_overdue,
            Case.handled_at,
            Case.handle_due_at,
            Case.return_count,
            Case.rework_count,
            Case.extension_count,
        ).where(Case.id > before_case)
    ).all()
    channels: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for row in rows:
        channels[str(row.channel)] += 1
        stages[str(row.stage)] += 1
        if row.stage == CaseStage.closed:
            late = row.handle_due_at is not None and row.handled_at is not None and row.handled_at > row.handle_due_at
            outcomes["closed_late" if late else "closed_on_time"] += 1
        outcomes["open_overdue"] += bool(row.is_open and row.is_overdue)
        outcomes["returned"] += row.return_count > 0
        outcomes["reworked"] += row.rework_count > 0
        outcomes["extended"] += row.extension_count > 0
    actions = simulation.actions
    outcomes["merged"] = stages.get(CaseStage.merged, 0)
    outcomes["rejected"] = stages.get(CaseStage.rejected, 0)
    for name in ("self_handled", "rated", "unsatisfied", "reopened", "manual_dispatch", "reclassified"):
        outcomes[name] = actions[name]
    outcomes["warnings"] = simulation.sweep.warnings
    outcomes["breaches"] = simulation.sweep.overdue
    report.cases = len(rows)
    report.events = db.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.id > before_event)) or 0
    report.users_created = simulation.staff.created
    report.channels = dict(channels.most_common())
    report.stages = dict(stages.most_common())
    report.outcomes = dict(outcomes)


# --- the world the simulation acts in ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    """A grid as the simulation needs it."""

    id: int
    code: str
    name: str
    geometry: Any


class _Places:
    """The district's grids, drawn in proportion to their households, and random points inside them."""

    def __init__(self, *, db: Session) -> None:
        index = locate.get_index(db=db)
        households = dict(db.execute(select(Area.id, Area.households).where(Area.level == AreaLevel.grid)).all())
        self.grids: list[_Place] = []
        weights = []
        for position, ref in enumerate(index.grids):
            upper = index.refs_at(position)
            community, street = upper[AreaLevel.community], upper[AreaLevel.street]
            if community is None or street is None:
                continue
            self.grids.append(_Place(ref.id, ref.code, ref.name, index.geometries[position]))
            weight = float(max(households.get(ref.id) or 0, 1))
            if community.code == COMMUNITY:
                weight *= SHOWCASE_COMMUNITY_FACTOR * (SHOWCASE_GRID_FACTOR if ref.code == GRID else 1.0)
            weights.append(weight)
        self.cumulative = list(itertools.accumulate(weights))

    def pick(self, rng: random.Random) -> _Place:
        """Returns a grid, more often where more households live."""
        return self.grids[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]

    def point(self, rng: random.Random, place: _Place) -> tuple[float, float]:
        """Returns a random WGS84 point inside the grid."""
        min_x, min_y, max_x, max_y = place.geometry.bounds
        for _ in range(1000):
            x, y = round(rng.uniform(min_x, max_x), 6), round(rng.uniform(min_y, max_y), 6)
            if shapely.contains_xy(place.geometry, x, y):
                return x, y
        point = place.geometry.representative_point()
        return point.x, point.y

    def near(self, rng: random.Random, place: _Place, lng: float, lat: float) -> tuple[float, float]:
        """Returns a point a few metres from (lng, lat) in the same grid (the same problem, reported again)."""
        for _ in range(20):
            x, y = round(lng + rng.uniform(-1.5e-4, 1.5e-4), 6), round(lat + rng.uniform(-1.2e-4, 1.2e-4), 6)
            if shapely.contains_xy(place.geometry, x, y):
                return x, y
        return lng, lat


class _Staff:
    """The people who act: the demo logins where they fit, and demo staff made on first need (without password)."""

    def __init__(self, *, db: Session) -> None:
        self.db = db
        self.created = 0
        self.grid_workers: dict[int, Actor] = {}
        self.street_dispatchers: dict[int, Actor] = {}
        self.handlers: dict[int, Actor] = {}
        self.named: dict[str, Actor] = {}
        columns = (Area.id, Area.code, Area.name, Area.level, Area.parent_id)
        self.areas = {a.id: a for a in db.execute(select(*columns).where(Area.level != AreaLevel.building))}
        columns = (Unit.id, Unit.code, Unit.name, Unit.kind, Unit.area_id)
        self.units = {u.id: u for u in db.execute(select(*columns))}
        users = db.scalars(select(User).where(User.is_active).order_by(User.id))
        for user in users:
            self._know(user)

    def _know(self, user: User) -> Actor:
        actor = auth_service.actor_of(user)
        self.named.setdefault(user.username, actor)
        scope = user.scope_area_id
        if user.role == Role.grid_worker and scope:
            self.grid_workers.setdefault(scope, actor)
        elif user.role == Role.street_dispatcher and scope:
            self.street_dispatchers.setdefault(scope, actor)
        elif user.role in (Role.unit_handler, Role.community_secretary) and user.unit_id:
            self.handlers.setdefault(user.unit_id, actor)
        return actor

    def _create(self, username: str, name: str, role: Role, unit: str | None, scope: str | None) -> Actor:
        # NOTE: no password: these staff only act in the history; the published demo logins stay the nine users.
        data = UserCreate(username=username, display_name=name, role=role, unit=unit, scope=scope)
        user = auth_service.create_user(db=self.db, data=data, actor=DEMO_ACTOR, source_address="cli")
        self.created += 1
        return self._know(user)

    def grid_worker(self, grid_id: int) -> Actor:
        """Returns the worker (网格员) who patrols the grid: its own, else the community's grid worker.

        NOTE: one worker per community, not per grid: with demo volumes (tens of cases a day for 1,538 grids) a
        worker per grid would report two or three cases a quarter, too few to rank posts (岗位) by.
        """
        if grid_id in self.grid_workers:
            return self.grid_workers[grid_id]
        community = self.areas[self.areas[grid_id].parent_id]
        if community.id not in self.grid_workers:
            name = f"{community.name}网格员（演示）"
            self._create(f"gw-{community.code}", name, Role.grid_worker, f"{community.code}-JWH", community.code)
        return self.grid_workers[community.id]

    def street_dispatcher(self, street_id: int) -> Actor:
        """Returns the street centre's dispatcher (街道派遣员)."""
        if street_id not in self.street_dispatchers:
            street = self.areas[street_id]
            name = f"{street.name}派遣员（演示）"
            self._create(f"sd-{street.code}", name, Role.street_dispatcher, f"{street.code}-CYZX", street.code)
        return self.street_dispatchers[street_id]

    def handler(self, unit_id: int) -> Actor:
        """Returns the unit's handler: a community's secretary, any other unit's 处置员."""
        if unit_id not in self.handlers:
            unit = self.units[unit_id]
            area = self.areas.get(unit.area_id) if unit.area_id else None
            scope = area.code if area is not None and area.level in (AreaLevel.street, AreaLevel.community) else None
            if unit.kind == UnitKind.community:
                self._create(
                    f"cs-{unit.code.lower()}", f"{unit.name}书记（演示）", Role.community_secretary, unit.code, scope
                )
            else:
                self._create(
                    f"uh-{unit.code.lower()}", f"{unit.name}处置员（演示）", Role.unit_handler, unit.code, scope
                )
        return self.handlers[unit_id]

    def system(self, username: str, name: str) -> Actor:
        """Returns a machine account (the 12345 link, an Open311 app), made on first need."""
        return self.named.get(username) or self._create(username, name, Role.system, None, None)


@dataclass
class _Plan:
    """One report and the turns its case will take, drawn when it is reported."""

    channel: Channel
    code: str  # the matter type the text describes
    text: str
    place: _Place
    lng: float
    lat: float
    parent: Case | None = None  # the open case this report repeats
    other: bool = False  # the reporter chose "other" and the triage model classifies
    by_citizen: bool = False  # a 随手拍 by the demo citizen's own login
    photo: bool = False
    self_handle: bool = False
    reject: bool = False
    returned: bool = False
    late: bool = False
    late_sign: bool = False
    stuck: bool = False
    extended: bool = False
    rework: bool = False
    late_verify: bool = False
    rated: bool = False


Life = Iterator[dt.datetime]
Step = Generator[dt.datetime, None, bool]  # a part of a life; returns whether the case goes on


class _Simulation:
    """The discrete-event loop: case lives and SLA sweeps ordered by simulated time."""

    def __init__(self, *, db: Session, rng: random.Random, start: dt.datetime, end: dt.datetime) -> None:
        settings = get_settings()
        self.db, self.rng, self.start, self.end = db, rng, start, end
        self.now = start
        self.calendar: WorkingCalendar = sla.default_calendar()
        self.tz = self.calendar.tz
        self.settings = settings
        self.heap: list[tuple[dt.datetime, int, Life]] = []
        self.order = itertools.count()
        self.actions: Counter[str] = Counter()
        self.sweep = case_jobs.SweepReport()
        self.staff = _Staff(db=db)
        self.places = _Places(db=db)
        self.matters = {m.code: m for m in db.scalars(select(MatterType).where(MatterType.is_active))}
        self.texts: dict[str, list[str]] = {}
        for text, code in corpus():
            if code in self.matters:
                self.texts.setdefault(code, []).append(text)
        self.offered = [c.strip() for c in settings.snapshot_matter_types.split(",") if c.strip() in self.texts]
        self.other = settings.snapshot_other_matter_type.strip()
        self.choices = {channel: self._choices(channel) for channel in CHANNEL_WEIGHTS}
        self.crosswalk: dict[str, str] = {}
        for row in catalog_service.list_crosswalks(db=db, source=hotline_service.SOURCE):
            if row.external_name:
                self.crosswalk.setdefault(row.matter_type.code, row.external_name)
        self.resolver = hotline_service.Resolver(db=db)
        self.recent: deque[tuple[dt.datetime, Case, _Plan]] = deque()
        self.hotline_orders = itertools.count(
            (db.scalar(select(func.count(Case.id)).where(Case.channel == Channel.hotline)) or 0) + 1
        )
        self.photo = self._photo()
        self.district_id = db.scalar(select(Area.id).where(Area.code == DISTRICT))
        self.dispatcher = self.staff.named["dispatcher"]
        self.leader = self.staff.named["leader"]
        self.citizen = self.staff.named["citizen"]
        self.hotline = self.staff.system("demo-12345", "12345热线对接（演示）")
        self.open311 = self.staff.system("demo-open311", "城市服务APP（演示）")

    # --- set-up helpers ---

    def _choices(self, channel: Channel) -> tuple[list[str], list[float]]:
        """Returns the matter types a channel reports, with cumulative weights."""
        if channel in (Channel.snapshot, Channel.open311):
            codes = list(self.offered)
        else:
            prefixes = CHANNEL_CLASSES[channel]
            codes = [c for c in sorted(self.texts) if c.startswith(prefixes) and c != self.other]
        weights = [CLASS_WEIGHTS.get(code[:4], CLASS_WEIGHTS.get(code[:2], 0.5)) for code in codes]
        return codes, list(itertools.accumulate(weights))

    def _photo(self) -> str:
        """Stores one generated photo (a JPEG) as media and returns its sha256; every case reuses it."""
        from PIL import Image, ImageDraw  # NOTE: here: only a history run needs Pillow's drawing

        image = Image.new("RGB", (160, 120), (196, 204, 196))
        draw = ImageDraw.Draw(image)
        for i in range(0, 160, 20):
            draw.rectangle((i, 80, i + 12, 120), fill=(120 + i // 2, 110, 100))
        draw.ellipse((60, 30, 100, 70), fill=(90, 120, 160))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
        stored = media.store(
            buffer.getvalue(), media_dir=self.settings.media_dir, max_bytes=self.settings.max_upload_bytes, tz=self.tz
        )
        ctx = Context(actor=DEMO_ACTOR, now=self.start, calendar=self.calendar)
        return case_service.register_media(db=self.db, stored=stored, filename="demo-photo.jpg", ctx=ctx).sha256

    # --- the loop ---

    def push(self, at: dt.datetime, life: Life) -> None:
        """Schedules the next step of a life at `at` (never before now)."""
        heapq.heappush(self.heap, (max(at, self.now), next(self.order), life))

    def run(self, *, per_day: int, commit: bool, on_day: Callable[[dt.date, int], None] | None) -> None:
        """Runs every step before `end`, day by day; what would happen later is left undone (open cases)."""
        self.push(self.start, self._days(per_day))
        self.push(self.start + SWEEP_EVERY, self._sweeps())
        day = self.start.astimezone(self.tz).date()
        while self.heap:
            at, _, life = heapq.heappop(self.heap)
            if at >= self.end:
                break
            local = at.astimezone(self.tz).date()
            if local != day:
                self._close_day(day, commit=commit, on_day=on_day)
                day = local
            self.now = at
            try:
                following = next(life)
            except StopIteration:
                continue
            self.push(following, life)
        self.now = self.end
        self._close_day(day, commit=commit, on_day=on_day)

    def _close_day(self, day: dt.date, *, commit: bool, on_day: Callable[[dt.date, int], None] | None) -> None:
        self.db.flush()
        if commit:
            self.db.commit()
            mark_writer(self.db)  # the next day's transaction writes too (SQLite: BEGIN IMMEDIATE)
        # NOTE: a case's loaded events and attachments point back to it, so a finished case would stay in the
        # session's identity map until a full garbage collection; and every new case number (an ORM UPDATE) scans
        # that map. Unloading the collections lets finished cases go at once; open ones reload them if needed.
        for obj in list(self.db.identity_map.values()):
            if isinstance(obj, Case):
                self.db.expire(obj, ["events", "attachments"])
        if on_day is not None:
            on_day(day, self.actions["reported"])

    def ctx(self, actor: Actor) -> Context:
        """Returns the context of an action by `actor` now."""
        return Context(actor=actor, now=self.now, calendar=self.calendar)

    def _days(self, per_day: int) -> Life:
        """Opens each local day: draws its reports and schedules their lives."""
        day = self.start.astimezone(self.tz).date()
        while True:
            midnight = dt.datetime.combine(day, dt.time(), self.tz)
            workday = self.calendar.is_workday(day)
            weights = dict(CHANNEL_WEIGHTS)
            if not workday:
                weights[Channel.patrol] *= DAY_OFF_PATROL
                weights[Channel.assignment] = 0.0
            cumulative = list(itertools.accumulate(weights.values()))
            factor = WORKDAY_FACTOR if workday else DAY_OFF_FACTOR
            for _ in range(round(per_day * factor * self.rng.uniform(0.88, 1.12))):
                channel = self._weighted(list(weights), cumulative)
                at = self._report_time(channel, day, midnight, workday)
                if self.start <= at < self.end:
                    self.push(at, self._life(channel))
            day += dt.timedelta(days=1)
            yield dt.datetime.combine(day, dt.time(), self.tz)

    def _sweeps(self) -> Life:
        """Runs the SLA sweep's own steps every quarter of an hour: warnings, breaches, automatic supervision."""
        while True:
            ctx = self.ctx(SYSTEM_ACTOR)
            while True:
                due = case_jobs.due_cases(db=self.db, now=self.now, limit=500)
                for case in due:
                    case_jobs.check_case(db=self.db, case=case, ctx=ctx, report=self.sweep)
                if len(due) < 500:
                    break
            yield self.now + SWEEP_EVERY

    # --- drawing ---

    def _weighted(self, items: list[Any], cumulative: list[float]) -> Any:
        return items[bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1])]

    def _report_time(self, channel: Channel, day: dt.date, midnight: dt.datetime, workday: bool) -> dt.datetime:
        """Returns when a report of `channel` comes in on `day`: patrols and assignments in working hours."""
        rng = self.rng
        if channel in (Channel.patrol, Channel.assignment):
            windows = [
                (dt.datetime.combine(day, begin, self.tz), dt.datetime.combine(day, finish, self.tz))
                for begin, finish in self.calendar.windows
            ]
            if not workday:  # the duty patrol of a day off: mornings and afternoons
                windows = [
                    (midnight + dt.timedelta(hours=9), midnight + dt.timedelta(hours=12)),
                    (midnight + dt.timedelta(hours=14), midnight + dt.timedelta(hours=17)),
                ]
            begin, finish = windows[rng.randrange(len(windows))]
            return begin + (finish - begin) * rng.random()
        hour = self._weighted(list(range(24)), list(itertools.accumulate(HOUR_WEIGHTS)))
        return midnight + dt.timedelta(hours=hour, seconds=rng.randrange(3600))

    def _plan(self, channel: Channel) -> _Plan:
        rng = self.rng
        public = channel in (Channel.snapshot, Channel.open311)
        parent = self._repeated() if public and rng.random() < P_DUPLICATE else None
        if parent is not None:
            case, earlier = parent
            code = earlier.code
            place = earlier.place
            lng, lat = self.places.near(rng, place, earlier.lng, earlier.lat)
        else:
            code = self._weighted(*self.choices[channel])
            place = self.places.pick(rng)
            lng, lat = self.places.point(rng, place)
        plan = _Plan(channel, code, rng.choice(self.texts[code]), place, lng, lat)
        plan.parent = parent[0] if parent else None
        plan.photo = rng.random() < P_PHOTO
        plan.by_citizen = channel == Channel.snapshot and rng.random() < P_CITIZEN_LOGIN
        if channel == Channel.snapshot and parent is None and rng.random() < P_OTHER:
            # The citizen picks "other" (其他): any event or component may be behind it, the model says which.
            plan.other = True
            plan.code = self._weighted(*self.choices[Channel.patrol])
            plan.text = rng.choice(self.texts[plan.code])
        plan.self_handle = channel == Channel.patrol and code in SELF_HANDLED and rng.random() < P_SELF_HANDLE
        plan.reject = public and parent is None and rng.random() < P_REJECT
        plan.returned = rng.random() < P_RETURN
        turn = rng.random()
        plan.late = turn < P_LATE
        plan.stuck = plan.late and turn < P_STUCK
        plan.late_sign = plan.late and rng.random() < P_LATE_SIGN
        plan.extended = P_LATE <= turn < P_LATE + P_EXTEND
        plan.rework = rng.random() < P_REWORK
        plan.late_verify = rng.random() < P_LATE_VERIFY
        plan.rated = rng.random() < P_RATE[channel]
        return plan

    def _repeated(self) -> tuple[Case, _Plan] | None:
        """Returns a recent open public-type case that a citizen reports again, if any."""
        while self.recent and self.recent[0][0] < self.now - RECENT:
            self.recent.popleft()
        candidates = [(case, plan) for _, case, plan in self.recent if case.is_open and case.stage != CaseStage.merged]
        return self.rng.choice(candidates) if candidates else None

    # --- timing ---

    def on_clock(self, case: Case, share: float, limit: float | None = None) -> dt.datetime:
        """Returns when `share` of the case's running clock (of `limit`, default its own) is used up."""
        limit = case.clock_limit if limit is None else limit
        if case.clock_started_at is None or limit is None or case.clock_unit is None:
            return self.later(30 * share, 240 * share)
        if case.clock_unit != TimeUnit.natural_hours:
            # NOTE: a day holds at most one working day, so this bound is never later than the deadline; a step
            # past the window is never taken, and skipping the calendar keeps it from reading years it lacks.
            days = self.calendar.to_working_hours(limit * share, case.clock_unit) / self.calendar.hours_per_day
            if (earliest := case.clock_started_at + dt.timedelta(days=days)) >= self.end:
                return earliest
        at = self.calendar.deadline(case.clock_started_at, limit * share, case.clock_unit)
        return max(at, self.now + dt.timedelta(minutes=self.rng.uniform(1, 5)))

    def later(self, low: float, high: float, working: bool = True) -> dt.datetime:
        """Returns a time `low`–`high` minutes from now (working minutes unless `working` is False)."""
        minutes = self.rng.uniform(low, high)
        if not working:
            return self.now + dt.timedelta(minutes=minutes)
        return self.calendar.deadline(self.now, minutes / 60, TimeUnit.working_hours)

    # --- who ---

    def dispatcher_of(self, case: Case) -> Actor:
        """Returns the dispatcher of the centre that owns the case (street, or the district's)."""
        if case.centre_area_id is None or case.centre_area_id == self.district_id:
            return self.dispatcher
        return self.staff.street_dispatcher(case.centre_area_id)

    def verifier_of(self, case: Case, plan: _Plan) -> Actor:
        """Returns who checks the result: the grid's worker, or the dispatcher where 巡办分离 forbids the worker."""
        if plan.self_handle or case.grid_id is None:
            return self.dispatcher_of(case)
        worker = self.staff.grid_worker(case.grid_id)
        if worker.unit_id == case.handling_unit_id:
            return self.dispatcher_of(case)
        return worker

    # --- a case's life ---

    def _life(self, channel: Channel) -> Life:
        """Reports one problem through `channel` and takes its case as far as the plan and the window allow."""
        plan = self._plan(channel)
        case = self._report(plan)
        if case is None:
            return
        self.actions["reported"] += 1
        if (
            channel in (Channel.snapshot, Channel.open311, Channel.hotline, Channel.patrol)
            and plan.code in self.offered
        ):
            self.recent.append((self.now, case, plan))
        if case.stage == CaseStage.verifying:
            yield self.on_clock(case, self.rng.uniform(0.1, 0.8))
            if not self._verify_on_site(case, plan):
                return
        if plan.self_handle:
            self.actions["self_handled"] += 1
            yield from self._check(case, plan)
        else:
            if not (yield from self._dispatched(case, plan)):
                return
            yield from self._work(case, plan)
            yield from self._check(case, plan)
        yield from self._rated(case, plan)

    def _report(self, plan: _Plan) -> Case | None:
        """Files the report through its channel's own entry point; returns the case."""
        matter = self.matters[plan.code]
        photos = [self.photo] if plan.photo else []
        where = f"{plan.place.name}附近"
        if plan.channel == Channel.snapshot and not plan.by_citizen:
            data = SnapshotIn(
                matter_type=self.other if plan.other else plan.code,
                description=plan.text,
                lng=plan.lng,
                lat=plan.lat,
                address=where,
                photos=photos,
            )
            report = snapshot_service.prepare(db=self.db, data=data, settings=self.settings)
            return snapshot_service.submit(db=self.db, report=report, idempotency_key=None, now=self.now).case
        if plan.channel == Channel.hotline:
            category = self.crosswalk.get(plan.code)
            order = HotlineOrder(
                order_id=f"12345-{self.now.astimezone(self.tz):%Y%m%d}-{next(self.hotline_orders):06d}",
                category=category,
                matter_type=None if category else plan.code,
                content=plan.text,
                lng=plan.lng,
                lat=plan.lat,
                address=where,
                received_at=self.now,
            )
            result = hotline_service.submit_order(
                db=self.db, order=order, ctx=self.ctx(self.hotline), resolver=self.resolver
            )
            return result.case if result.created else None
        title = snapshot_service.title_of(plan.text)
        self_handled = None
        if plan.channel == Channel.patrol:
            actor = self.staff.grid_worker(plan.place.id)
            if plan.self_handle:
                result = self.rng.choice(RESULTS.get(plan.code[:4]) or RESULTS[plan.code[:2]])
                self_handled = SelfHandledIn(result=f"即时处置：{result}", evidence=[self.photo])
        elif plan.channel == Channel.open311:
            actor, title = self.open311, f"{matter.name}: {title}"
        elif plan.channel == Channel.snapshot:
            actor = self.citizen  # logged in, so through the case API's intake rather than the anonymous form
        else:
            actor = self.leader
        report = CaseSubmit(
            channel=plan.channel,
            matter_type=self.other if plan.other else plan.code,
            title=title,
            description=plan.text,
            lng=plan.lng,
            lat=plan.lat,
            address=where,
            attachments=photos if plan.channel != Channel.assignment else [],
            self_handled=self_handled,
        )
        return intake_service.submit(db=self.db, report=report, ctx=self.ctx(actor)).case

    def _verify_on_site(self, case: Case, plan: _Plan) -> bool:
        """核实: a repeat is merged into the case it repeats, a false report rejected, a true one confirmed."""
        parent = plan.parent
        if parent is not None and parent.stage not in (CaseStage.merged, CaseStage.rejected):
            note = f"重复上报，并入 {parent.number}"
            case_service.merge(db=self.db, case=case, parent=parent, ctx=self.ctx(self.dispatcher_of(case)), note=note)
            self.actions["merged"] += 1
            return False
        if plan.reject:
            code, note = self.rng.choice(REJECT_REASONS)
            ctx = self.ctx(self.dispatcher_of(case))
            case_service.reject(db=self.db, case=case, ctx=ctx, reason_code=code, note=note)
            return False
        case_service.confirm(
            db=self.db, case=case, ctx=self.ctx(self.staff.grid_worker(plan.place.id)), note="现场核实属实"
        )
        return True

    def _dispatched(self, case: Case, plan: _Plan) -> Step:
        """Sees the case dispatched: automatically at intake, or by its centre's dispatcher from the queue."""
        if case.stage in (CaseStage.registered, CaseStage.returned):
            yield self.later(5, 60)
            ctx = self.ctx(self.dispatcher_of(case))
            if case.matter_type.code != plan.code and plan.code in self.matters:
                case_service.reclassify(
                    db=self.db, case=case, matter_type=self.matters[plan.code], ctx=ctx, note="按描述改类"
                )
                self.actions["reclassified"] += 1
            if not case.dispatch_candidates:
                return False  # waits in the queue: nobody on the lists handles it
            unit = self.db.get_one(Unit, case.dispatch_candidates[0]["unit_id"])
            case_service.dispatch(db=self.db, case=case, unit=unit, co_units=[], ctx=ctx, note="人工派遣")
            self.actions["manual_dispatch"] += 1
        return case.stage == CaseStage.dispatched

    def _work(self, case: Case, plan: _Plan) -> Iterator[dt.datetime]:
        """The handling unit's part: (return,) sign, (extension,) start, finish."""
        rng = self.rng
        if plan.returned:
            handler = self.staff.handler(case.handling_unit_id)
            unit = self.db.get_one(Unit, case.handling_unit_id)
            yield self.on_clock(case, rng.uniform(0.02, 0.15))
            reason, note, citation = rng.choice(RETURN_REASONS)
            citation = f"{citation}：{case.matter_type.name}" if citation else None
            case_service.return_case(
                db=self.db, case=case, ctx=self.ctx(handler), reason_code=reason, citation=citation, note=note
            )
            yield self.later(20, 180)
            ctx = self.ctx(self.dispatcher_of(case))
            note = (
                "已补充位置信息，重新派遣"
                if reason == "insufficient_information"
                else "经核对责任清单属该单位职责，维持派遣"
            )
            case_service.dispatch(db=self.db, case=case, unit=unit, co_units=[], ctx=ctx, note=note)
            self.actions["manual_dispatch"] += 1
        handler = self.staff.handler(case.handling_unit_id)
        limit = case.clock_limit
        sign = rng.uniform(0.5, 1.3) if plan.late_sign else rng.uniform(0.01, 0.08)
        yield self.on_clock(case, sign, limit)
        case_service.sign(db=self.db, case=case, ctx=self.ctx(handler))
        start = sign + rng.uniform(0.01, 0.1)
        yield self.on_clock(case, start, limit)
        case_service.start(db=self.db, case=case, ctx=self.ctx(handler))
        if plan.late:
            # Most late cases are a little late; some are left for days (the 超期未结 of a bulletin's list).
            finish = max(start + 0.05, rng.uniform(1.05, 1.6) if rng.random() < 0.7 else rng.uniform(1.6, 4.0))
        elif plan.extended:
            yield self.on_clock(case, max(start + 0.05, rng.uniform(0.55, 0.8)), limit)
            amount = round(max((limit or 4) * rng.uniform(0.5, 1.0), 0.5), 1)
            reason = rng.choice(EXTENSION_REASONS)
            case_service.request_extension(db=self.db, case=case, ctx=self.ctx(handler), amount=amount, reason=reason)
            yield self.later(10, 90)
            ctx = self.ctx(self.dispatcher_of(case))
            case_service.decide_extension(db=self.db, case=case, ctx=ctx, approve=True, note="同意延期")
            finish = rng.uniform(1.02, 1 + 0.9 * amount / (limit or amount))
        else:
            finish = rng.uniform(max(start + 0.03, 0.15), 0.95)
        at = self.on_clock(case, finish, limit)
        if plan.stuck and case.handle_due_at is not None:
            # NOTE: one to five weeks of calendar time, put into working hours only when it falls inside the
            # window: a working-day count past the window would read holiday tables the calendar may not have yet.
            stuck = case.handle_due_at + dt.timedelta(days=rng.uniform(7, 35))
            at = max(at, self.calendar.deadline(stuck, 0.25, TimeUnit.working_hours) if stuck < self.end else stuck)
        yield at
        self._finish(case, handler)

    def _finish(self, case: Case, handler: Actor) -> None:
        code = case.matter_type.code
        result = self.rng.choice(RESULTS.get(code[:4]) or RESULTS[code[:2]])
        evidence = [self.photo] if case.matter_type.evidence_required or self.rng.random() < 0.5 else []
        case_service.finish(db=self.db, case=case, ctx=self.ctx(handler), result=result, evidence=evidence)

    def _check(self, case: Case, plan: _Plan) -> Iterator[dt.datetime]:
        """核查: someone other than the handler checks the result; a poor one goes back once (返工)."""
        rng = self.rng
        verifier = self.verifier_of(case, plan)
        if plan.rework and not case.rework_count:
            yield self.on_clock(case, rng.uniform(0.05, 0.6))
            note = rng.choice(REWORK_NOTES)
            case_service.verify(db=self.db, case=case, ctx=self.ctx(verifier), ok=False, note=note)
            yield self.on_clock(case, rng.uniform(0.2, 0.8))
            self._finish(case, self.staff.handler(case.handling_unit_id))
        yield self.on_clock(case, rng.uniform(1.1, 1.6) if plan.late_verify else rng.uniform(0.05, 0.7))
        case_service.verify(db=self.db, case=case, ctx=self.ctx(verifier), ok=True, note="核查通过，同意结案")

    def _rater(self, case: Case) -> Actor:
        """Returns who rates: the citizen (随手拍, Open311), the 12345 call-back, or the centre's call-back."""
        if case.channel == Channel.hotline:
            return self.hotline
        if case.reporter_user_id is not None and case.reporter_user_id == self.citizen.user_id:
            return self.citizen
        if case.channel in (Channel.snapshot, Channel.open311):
            return snapshot_service.PUBLIC_ACTOR
        return self.dispatcher

    def _rated(self, case: Case, plan: _Plan) -> Iterator[dt.datetime]:
        """回访: some reporters rate the result; an unsatisfied rating reopens the case, which is handled again."""
        rng = self.rng
        if not plan.rated:
            return
        for attempt in range(2):
            yield self.later(30, 600, working=case.channel != Channel.snapshot)
            weights = dict(SATISFACTION_WEIGHTS)
            if attempt:
                weights[Satisfaction.unsatisfied] = 0.0  # the second result is accepted
            satisfaction = self._weighted(list(weights), list(itertools.accumulate(weights.values())))
            case_service.rate(db=self.db, case=case, ctx=self.ctx(self._rater(case)), satisfaction=satisfaction)
            self.actions["rated" if not attempt else "rated_again"] += 1
            self.actions["unsatisfied"] += satisfaction == Satisfaction.unsatisfied
            if case.stage != CaseStage.handling:
                return  # NOTE: a rating after the reopen window (e.g. past a holiday) leaves the case closed
            self.actions["reopened"] += 1
            yield self.on_clock(case, rng.uniform(0.2, 0.7))
            self._finish(case, self.staff.handler(case.handling_unit_id))
            yield self.on_clock(case, rng.uniform(0.05, 0.7))
            case_service.verify(db=self.db, case=case, ctx=self.ctx(self.verifier_of(case, plan)), ok=True)
            if rng.random() < 0.3:
                return
