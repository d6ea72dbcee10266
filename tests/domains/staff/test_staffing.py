"""The staffing ratio (社区工作者配备): community workers per 10,000 residents, computed by hand on a small register;
one computation behind the staff report, evaluation's staffing and both APIs; the XLSX export."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest

from gridgov.domains.evaluation import service as evaluation_service
from gridgov.domains.staff import service, staffing
from gridgov.domains.staff.enums import Employment, Post
from tests.domains.staff.conftest import EG1, EN, G1, G2, WN, WS, E, Staff, W

WS_GRID = f"{WS}001"


@pytest.fixture
def register(staff: Staff) -> Staff:
    """WN (2,500 residents): 甲 is secretary and director (once), sec_wn a committee member and G1's grid leader
    (once), gw_wn G1's full-time grid worker: 3 people, plus gw_wn2 whose account is not in the register (counted
    at its scope, G2): 4. Not counted: a part-time grid worker, a full-time police officer, a grid instructor, a
    grid worker who left on 2026-11-01 and a community worker starting on 2026-12-01.
    WS (1,000): a community worker and a full-time grid worker: 2. W's street grid leader is not counted."""
    jia = staff.person("甲")
    staff.hold(jia, WN, Post.community_secretary)
    staff.hold(jia, WN, Post.community_director)
    secretary = staff.person(user="sec_wn")
    staff.hold(secretary, WN, Post.committee_member)
    staff.hold(secretary, G1, Post.grid_leader)
    staff.hold(staff.person(user="gw_wn"), G1, Post.grid_worker)
    staff.hold(staff.person("丁"), G2, Post.grid_worker, Employment.part_time)
    staff.hold(staff.person("戊"), WN, Post.community_police)
    staff.hold(staff.person("辛"), WN, Post.grid_instructor)
    gone = staff.hold(staff.person("己"), G2, Post.grid_worker)
    service.finish_assignment(
        db=staff.db, actor=staff.actor("district"), assignment=gone, ends_on=dt.date(2026, 11, 1), reason="离职"
    )
    staff.hold(staff.person("庚"), WN, Post.community_worker, starts_on=dt.date(2026, 12, 1))
    staff.hold(staff.person("壬"), WS, Post.community_worker)
    staff.hold(staff.person("癸"), WS_GRID, Post.grid_worker)
    staff.hold(staff.person("街道网格长"), W, Post.grid_leader)
    staff.db.flush()
    return staff


def test_the_ratio_and_the_shortfall_are_those_computed_by_hand(register: Staff):
    counts = service.community_worker_counts(db=register.db)
    assert (counts[G1], counts[G2], counts[WN], counts[WS], counts[W]) == (2, 1, 4, 2, 6)
    assert (counts[E], counts[EN], counts[EG1]) == (2, 2, 1)  # the east accounts are not in the register
    # On other days: the leaver still there on 15 October; the newcomer counted from 1 December.
    assert service.community_worker_counts(db=register.db, on=dt.date(2026, 10, 15))[WN] == 5
    assert service.community_worker_counts(db=register.db, on=dt.date(2026, 12, 1))[WN] == 5

    report = staffing.report(db=register.db, level="community", scope_path=register.area(W).path)
    rows = {r.area.code: r for r in report.rows}
    wn, ws = rows[WN], rows[WS]
    assert (wn.staff, wn.population, wn.standard) == (4, 2500, 18.0)
    assert wn.per_10k == pytest.approx(16.0) and wn.short_by == 1  # ceil(18 × 0.25) = 5 needed
    assert (ws.staff, ws.per_10k, ws.short_by) == (2, pytest.approx(20.0), 0)  # ceil(1.8) = 2: at the standard
    assert [r.area.code for r in report.rows][:2] == [WN, WS]  # the least staffed first
    assert [r.area.code for r in report.below] == [WN] and report.short_total == 1

    streets = {r.area.code: r for r in staffing.report(db=register.db, level="street").rows}
    assert (streets[W].staff, streets[W].short_by) == (6, 1)  # ceil(18 × 0.35) = 7
    assert (streets[E].staff, streets[E].short_by) == (2, 7)  # ceil(18 × 0.5) = 9
    # One computation: evaluation's staffing gives the same rows.
    same = evaluation_service.staffing(db=register.db, level="community", scope_path=register.area(W).path)
    assert [(r.area.code, r.staff, r.short_by) for r in same] == [
        (r.area.code, r.staff, r.short_by) for r in report.rows
    ]
    with pytest.raises(Exception, match="community or street"):
        staffing.report(db=register.db, level="grid")


def test_the_api_reports_the_under_staffed_areas_within_the_callers_area(api, register: Staff):
    found = api.get("/api/v1/staff/staffing", params={"area": W}, headers=register.headers["leader"])
    assert found.status_code == 200
    body = found.json()
    assert (body["standard"], body["areas"], body["below_standard"], body["short_total"]) == (18.0, 2, 1, 1)
    assert body["rows"][0] == {
        "code": WN,
        "name": register.area(WN).name,
        "level": "community",
        "staff": 4,
        "population": 2500,
        "per_10k": 16.0,
        "standard": 18.0,
        "short_by": 1,
        "below_standard": True,
    }
    below = api.get("/api/v1/staff/staffing", params={"below_only": True}, headers=register.headers["street_w"]).json()
    assert [r["code"] for r in below["rows"]] == [WN] and below["areas"] == 2
    east = api.get("/api/v1/staff/staffing", params={"level": "street"}, headers=register.headers["street_e"]).json()
    assert [(r["code"], r["staff"], r["short_by"]) for r in east["rows"]] == [(E, 2, 7)]
    assert (
        api.get("/api/v1/staff/staffing", params={"area": W}, headers=register.headers["street_e"]).status_code == 404
    )
    assert (
        api.get("/api/v1/staff/staffing", params={"level": "grid"}, headers=register.headers["leader"]).status_code
        == 422
    )
    assert api.get("/api/v1/staff/staffing", headers=register.headers["gw_wn"]).status_code == 403
    # The evaluation API shows the same figures (evaluation.staffing over the register).
    evaluation = api.get(
        "/api/v1/evaluation/staffing", params={"level": "community"}, headers=register.headers["leader"]
    )
    assert {r["code"]: r["staff"] for r in evaluation.json()}[WN] == 4


def test_the_report_is_written_to_xlsx(register: Staff):
    report = staffing.report(db=register.db, level="community", scope_path=register.area(W).path)
    buffer = io.BytesIO()
    staffing.write_xlsx(report, buffer)
    sheet = openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active
    assert sheet.title == "社区工作者配备"
    assert "标准 standard 18" in sheet["A1"].value and "缺员 under-staffed: 1 of 2" in sheet["A2"].value
    assert [c.value for c in sheet[4]][:4] == ["代码 code", "名称 name", "层级 level", "社区工作者 workers"]
    assert [c.value for c in sheet[5]] == [WN, register.area(WN).name, "社区", 4, 2500, 16.0, 18, 1]
    assert sheet["H5"].font.bold and sheet["H5"].font.color.rgb.endswith("B00020")
    assert [c.value for c in sheet[6]][0] == WS and not sheet["H6"].font.bold
