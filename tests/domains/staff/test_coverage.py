"""Household visit coverage (走访覆盖率), computed by hand from a handful of visits and the cases they made: no
check-ins, no online time — only what was logged."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from gridgov.domains.areas.models import Area
from gridgov.domains.cases.enums import CaseStage
from gridgov.domains.cases.service import Context
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.models import HouseholdVisit
from gridgov.domains.intake.schemas import CaseSubmit
from gridgov.domains.staff import coverage
from tests.domains.cases.world import point
from tests.domains.staff.conftest import EG1, G1, G2, WN, Staff, W

SH = ZoneInfo("Asia/Shanghai")
NOVEMBER = Period.parse("2026-11", SH)


def _case(staff: Staff, *, closed: bool) -> int:
    lng, lat = point()
    report = CaseSubmit(channel="patrol", matter_type="SJ0102", title="楼道堆物", lng=lng, lat=lat)
    case = intake_service.submit(db=staff.db, report=report, ctx=Context.of(staff.actor("gw_wn"))).case
    if closed:
        case.stage = CaseStage.closed
    return case.id


def _visit(staff: Staff, who: str, grid: str, when: dt.datetime, *, ref: str = "", household_id=None, **extra):
    area = staff.db.scalars(select(Area).where(Area.code == grid)).one()
    staff.db.add(
        HouseholdVisit(
            grid_id=area.id,
            area_path=area.path,
            worker_user_id=staff.users[who].id,
            household_ref=ref or f"household {household_id}",
            household_id=household_id,
            visited_at=when.astimezone(dt.UTC),
            summary="",
            findings=extra.get("findings", []),
            case_ids=extra.get("case_ids", []),
            created_at=when.astimezone(dt.UTC),
        )
    )


@pytest.fixture
def visits(staff: Staff) -> Staff:
    """G1 (100 households): gw_wn visits 'A座 301' twice (written two ways: one household; one finding, one closed
    case) and gw_wn2 visits register household 7 (two findings, one open case). G2 (50): gw_wn2 visits household 7
    too, gw_wn '5号楼101'. Not counted in November: gw_wn on 31 October (Shanghai). Elsewhere: gw_en in EG1."""
    closed, still_open = _case(staff, closed=True), _case(staff, closed=False)
    day = lambda d, h=10: dt.datetime(2026, 11, d, h, tzinfo=SH)  # noqa: E731
    finding = {"description": "楼道堆放杂物", "create_case": True}
    _visit(staff, "gw_wn", G1, day(3), ref="A座 301", findings=[finding], case_ids=[closed])
    _visit(staff, "gw_wn", G1, day(9), ref="a座  301")
    _visit(
        staff,
        "gw_wn2",
        G1,
        day(10),
        household_id=7,
        findings=[{"description": "x"}, {"description": "y"}],
        case_ids=[still_open],
    )
    _visit(staff, "gw_wn2", G2, day(12), household_id=7)
    _visit(staff, "gw_wn", G2, day(20), ref="5号楼101")
    _visit(staff, "gw_wn", G1, dt.datetime(2026, 10, 31, 20, tzinfo=SH), ref="9号楼")
    _visit(staff, "gw_en", EG1, day(5), ref="1号楼")
    staff.db.flush()
    return staff


def test_coverage_per_grid_community_and_street_is_the_one_computed_by_hand(visits: Staff):
    db = visits.db
    grids = coverage.coverage(db=db, period=NOVEMBER, level="grid", scope_path=visits.area(WN).path, with_workers=True)
    rows = {r.code: r for r in grids.rows}
    assert list(rows) == [f"{WN}00{n}" for n in range(1, 5)]  # every grid of WN, quiet ones too
    g1, g2, g3 = rows[G1], rows[G2], rows[f"{WN}003"]
    assert (g1.households, g1.households_visited, g1.visits, len(g1.workers)) == (100, 2, 3, 2)
    assert g1.coverage == pytest.approx(0.02) and g1.visits_per_worker == pytest.approx(1.5)
    assert (g1.findings, g1.cases, g1.cases_closed) == (3, 2, 1)
    assert (g2.households, g2.households_visited, g2.visits, g2.coverage) == (50, 2, 2, pytest.approx(0.04))
    assert (g3.visits, g3.coverage, g3.visits_per_worker) == (0, None, None)  # no household figure, no visits
    total = grids.total
    assert (total.code, total.households, total.households_visited, total.visits) == (WN, 1000, 3, 5)
    assert total.coverage == pytest.approx(0.003) and (total.findings, total.cases, total.cases_closed) == (3, 2, 1)
    assert [(w.name, w.visits, len(w.visited), w.findings, w.cases) for w in grids.workers] == [
        ("gw_wn 测试", 3, 2, 1, 1),
        ("gw_wn2 测试", 2, 1, 2, 1),
    ]

    communities = coverage.coverage(db=db, period=NOVEMBER, level="community")
    by_code = {r.code: (r.households_visited, r.visits) for r in communities.rows}
    assert by_code[WN] == (3, 5) and by_code["410105002001"] == (1, 1) and by_code["410105001002"] == (0, 0)
    assert (communities.total.households_visited, communities.total.visits) == (4, 6)
    streets = {r.code: r for r in coverage.coverage(db=db, period=NOVEMBER, level="street").rows}
    assert (streets[W].households, streets[W].households_visited) == (1400, 3)
    october = coverage.coverage(
        db=db, period=Period.parse("2026-10", SH), level="grid", scope_path=visits.area(WN).path
    )
    assert {r.code: r.visits for r in october.rows}[G1] == 1
    with pytest.raises(Exception, match="grid, community or street"):
        coverage.coverage(db=db, period=NOVEMBER, level="building")


def test_the_coverage_api_is_limited_to_the_callers_area(api, visits: Staff):
    found = api.get(
        "/api/v1/staff/coverage",
        params={"period": "2026-11", "level": "grid", "area": WN, "workers": True},
        headers=visits.headers["sec_wn"],
    )
    assert found.status_code == 200, found.text
    body = found.json()
    g1 = next(r for r in body["rows"] if r["code"] == G1)
    assert (g1["households_visited"], g1["coverage"], g1["visits_per_worker"], g1["cases_closed"]) == (2, 0.02, 1.5, 1)
    assert body["total"]["households_visited"] == 3 and len(body["workers"]) == 2
    assert api.get("/api/v1/staff/coverage", params={"area": WN}, headers=visits.headers["sec_en"]).status_code == 404
    east = api.get("/api/v1/staff/coverage", params={"period": "2026-11"}, headers=visits.headers["sec_en"]).json()
    assert {r["code"] for r in east["rows"]} == {f"410105002001{n:03d}" for n in range(1, 5)}
    assert east["total"]["visits"] == 1
    bad = api.get("/api/v1/staff/coverage", params={"period": "November"}, headers=visits.headers["leader"])
    assert bad.status_code == 422 and bad.json()["code"] == "bad_period"
    assert api.get("/api/v1/staff/coverage", headers=visits.headers["gw_wn"]).status_code == 403
