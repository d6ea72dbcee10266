"""The operation centre's dashboard on a hand-built district with a frozen clock: Wednesday 2026-11-25 16:00.

- P1: west patrol, today 09:00, due 15:00, open: overdue by 1 h.
- P2: west patrol, today 10:00, finished 11:00, verified 11:30: closed today.
- S1: east citizen snapshot (占道经营), today 15:45, awaiting verification: its register clock (half a working
  hour, due 16:15) is half used at 16:00, so the SLA sweep has warned (50 %).
- Y1: west patrol, yesterday 09:00, due yesterday 15:00, open: overdue by 25 h.
- OLD: east patrol, Monday 16th 09:00, closed the same morning (in the 30-day trend, not in the 7-day top).
- ANCIENT: west patrol, October 20th, closed that day (outside the trend).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from gridgov.core.errors import Forbidden
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor
from gridgov.domains.cases import jobs as case_jobs
from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.evaluation import dashboard
from tests.domains.cases.test_api import DISTRICT_DISPATCHER, GRID_WORKER, STREET_DISPATCHER, STREET_DISPATCHER_E
from tests.domains.cases.world import COMMUNITY_W_N, STREET_E, STREET_W, World
from tests.domains.evaluation.campaign_world import EAST, close, local, report, sql_counts  # noqa: F401

NOW = local(25, 16)


@dataclass
class District:
    p1: Case
    p2: Case
    s1: Case
    y1: Case
    old: Case
    ancient: Case


def district(db: Session, world: World) -> District:
    ancient = report(db, world, at=local(20, 9, month=10))
    close(db, world, ancient, finished=local(20, 10, month=10), verified=local(20, 10, 30, month=10))
    old = report(db, world, at=local(16, 9), where=EAST)
    close(db, world, old, finished=local(16, 10), verified=local(16, 10, 30))
    y1 = report(db, world, at=local(24, 9))
    p1 = report(db, world, at=local(25, 9))
    p2 = report(db, world, at=local(25, 10))
    close(db, world, p2, finished=local(25, 11), verified=local(25, 11, 30))
    s1 = report(db, world, at=local(25, 15, 45), where=EAST, matter="SJ0501", channel=Channel.snapshot, title="占道")
    case_jobs.check_case(db=db, case=s1, ctx=Context.of(SYSTEM_ACTOR, now=NOW), report=case_jobs.SweepReport())
    db.flush()
    assert s1.warning_level == 50
    return District(p1=p1, p2=p2, s1=s1, y1=y1, old=old, ancient=ancient)


def scoped(world: World, role: Role, code: str) -> Actor:
    return Actor(name=f"{role} {code}", role=role, user_id=None, scope_path=world.area(code).path)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    dashboard.clear_cache()
    yield
    dashboard.clear_cache()


def figures(row: dashboard.ChannelToday) -> tuple[int, ...]:
    return (row.received, row.registered, row.dispatched, row.closed, row.open, row.overdue, row.warnings)


def test_the_district_dashboard(db, world: World):
    cases = district(db, world)
    found = dashboard.overview(db=db, actor=world.district_dispatcher, now=NOW, engine="sql")
    assert found.day == dt.date(2026, 11, 25) and found.from_cache is False
    assert found.scope_code == "410105"
    # today, by channel: received, registered, dispatched, closed, open, overdue, warnings
    assert figures(found.today_total) == (3, 2, 2, 1, 3, 2, 1)
    assert [(row.channel, figures(row)) for row in found.today] == [
        ("patrol", (2, 2, 2, 1, 2, 2, 0)),
        ("snapshot", (1, 0, 0, 0, 1, 0, 1)),
    ]
    assert {(s.stage, s.count) for s in found.open_by_stage} == {("dispatched", 2), ("verifying", 1)}

    assert len(found.trend) == 30
    assert (found.trend[0].day, found.trend[-1].day) == (dt.date(2026, 10, 27), dt.date(2026, 11, 25))
    by_day = {d.day.day: (d.received, d.closed) for d in found.trend if d.received or d.closed}
    assert by_day == {25: (3, 1), 24: (1, 0), 16: (1, 1)}
    assert [(s.stage, s.count) for s in found.funnel] == [
        ("reported", 5),
        ("registered", 4),
        ("dispatched", 4),
        ("handled", 2),
        ("closed", 2),
    ]
    assert [(m.code, m.count) for m in found.top_matter_types] == [("SJ0102", 3), ("SJ0501", 1)]

    assert [(c.id, c.hours_overdue) for c in found.overdue] == [(cases.y1.id, 25.0), (cases.p1.id, 1.0)]
    assert found.overdue_total == 2
    first = found.overdue[0]
    assert first.number == cases.y1.number and first.due_at == local(24, 15)
    assert first.street == world.area(STREET_W).name and first.unit == world.unit(f"{STREET_W}-HWS").name
    assert first.matter_type == "暴露垃圾"

    assert found.ranking_period == "2026-11" and found.ranking_dimension == "street"
    assert {row.key for row in found.ranking} == {STREET_W, STREET_E}
    assert not any(row.ranked for row in found.ranking)  # a handful of cases: listed, not ranked
    assert found.alarms_open == 0 and found.hotspots == []


def test_a_street_dispatcher_sees_only_the_street(db, world: World):
    cases = district(db, world)
    west = dashboard.overview(db=db, actor=scoped(world, Role.street_dispatcher, STREET_W), now=NOW, engine="sql")
    assert west.scope_code == STREET_W and west.scope_name == world.area(STREET_W).name
    assert figures(west.today_total) == (2, 2, 2, 1, 2, 2, 0)
    assert [c.id for c in west.overdue] == [cases.y1.id, cases.p1.id]
    assert sum(d.received for d in west.trend) == 3  # P1, P2, Y1 (OLD is east's)
    assert west.ranking_dimension == "community"
    assert {row.key for row in west.ranking} <= {f"{STREET_W}001", f"{STREET_W}002"}

    east = dashboard.overview(db=db, actor=scoped(world, Role.street_dispatcher, STREET_E), now=NOW, engine="sql")
    assert figures(east.today_total) == (1, 0, 0, 0, 1, 0, 1)
    assert east.overdue == [] and east.overdue_total == 0
    assert [(m.code, m.count) for m in east.top_matter_types] == [("SJ0501", 1)]


def test_what_a_role_may_read_besides_cases(db, world: World):
    district(db, world)
    secretary = scoped(world, Role.community_secretary, COMMUNITY_W_N)
    found = dashboard.overview(db=db, actor=secretary, now=NOW, engine="sql")
    assert found.alarms_open is None and found.hotspots is None  # no device.view, no triage.view
    assert found.ranking_dimension == "grid"
    with pytest.raises(Forbidden):
        dashboard.overview(db=db, actor=world.grid_worker, now=NOW, engine="sql")


def test_the_cache_serves_within_the_ttl_and_refreshes_after_it(db, world: World):
    district(db, world)
    actor = world.district_dispatcher
    first = dashboard.overview(db=db, actor=actor, now=NOW, cache_s=15, engine="sql")
    report(db, world, at=NOW)  # a new case after the first look
    again = dashboard.overview(db=db, actor=actor, now=NOW + dt.timedelta(seconds=5), cache_s=15, engine="sql")
    assert again.from_cache is True and again.today_total.received == 3
    assert dataclasses.replace(again, from_cache=False) == first
    # another scope is computed on its own
    west = dashboard.overview(
        db=db, actor=scoped(world, Role.street_dispatcher, STREET_W), now=NOW, cache_s=15, engine="sql"
    )
    assert west.from_cache is False and west.today_total.received == 3  # P1, P2 and the new one
    later = dashboard.overview(db=db, actor=actor, now=NOW + dt.timedelta(seconds=16), cache_s=15, engine="sql")
    assert later.from_cache is False and later.today_total.received == 4
    assert dashboard.overview(db=db, actor=actor, now=NOW, cache_s=0, engine="sql").from_cache is False


def test_the_ranking_is_kept_longer_than_the_rest(db, world: World, monkeypatch: pytest.MonkeyPatch):
    district(db, world)
    counted: list[dt.datetime] = []
    original = dashboard._ranking

    def counting(**kwargs):
        counted.append(kwargs["now"])
        return original(**kwargs)

    monkeypatch.setattr(dashboard, "_ranking", counting)
    actor = world.district_dispatcher
    for seconds in (0, 16, 32, 299):
        dashboard.overview(db=db, actor=actor, now=NOW + dt.timedelta(seconds=seconds), cache_s=15, engine="sql")
    assert counted == [NOW]  # four dashboards, one ranking
    dashboard.overview(db=db, actor=actor, now=NOW + dt.timedelta(seconds=320), cache_s=15, engine="sql")
    assert len(counted) == 2
    dashboard.overview(db=db, actor=actor, now=NOW, cache_s=0, engine="sql")
    assert len(counted) == 3  # no cache at all


@pytest.mark.usefixtures("sql_counts")
def test_the_dashboard_api(api, db, world: World, now):
    now[0] = NOW
    district(db, world)
    assert api.get("/api/v1/evaluation/dashboard", headers=GRID_WORKER).status_code == 403
    whole = api.get("/api/v1/evaluation/dashboard", headers=DISTRICT_DISPATCHER)
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert body["today_total"]["received"] == 3 and body["overdue_total"] == 2
    assert body["overdue"][0]["hours_overdue"] == 25.0 and body["from_cache"] is False
    assert len(body["trend"]) == 30 and body["ranking_dimension"] == "street"
    assert api.get("/api/v1/evaluation/dashboard", headers=DISTRICT_DISPATCHER).json()["from_cache"] is True
    west = api.get("/api/v1/evaluation/dashboard", headers=STREET_DISPATCHER).json()
    assert west["scope_code"] == STREET_W and west["today_total"]["received"] == 2
    east = api.get("/api/v1/evaluation/dashboard", headers=STREET_DISPATCHER_E).json()
    assert east["today_total"]["warnings"] == 1 and east["overdue"] == []
