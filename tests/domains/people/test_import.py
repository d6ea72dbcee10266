"""Importing residents: all-or-nothing with a row error report (row, column, message), the checks of issue 8's
bad-input list, households and heads, tags by visibility, partial mode, CSV in GBK, and the events written."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.people import imports, privacy
from gridgov.domains.people.enums import EventKind, Relation, ResidenceType
from gridgov.domains.people.models import Household, Resident, ResidentEvent, ResidentTag
from tests.domains.people.conftest import BUILDING_A, BUILDING_A2, BUILDING_B, BUILDING_E
from tests.domains.people.helpers import (
    HEADERS,
    ZHANG_ID,
    ZHANG_PHONE,
    csv_bytes,
    make_id,
    rows_west,
    workbook,
    wrong_check_digit,
)

NEW_ID = make_id(dt.date(1990, 4, 5), 71)
NEW_ID_2 = make_id(dt.date(1992, 8, 8), 82)


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def rejected(world, username: str, rows, **options) -> imports.ImportSummary:
    data = workbook(rows)
    with pytest.raises(imports.ImportRejected) as refused:
        imports.import_file(db=world.db, ctx=world.ctx(username), data=data, filename="people.xlsx", **options)
    return refused.value.report


def errors_of(report) -> set[tuple[int | None, str | None]]:
    return {(e.row, e.column) for e in report.errors}


def test_a_good_file_makes_households_residents_tags_and_events(world_with_buildings):
    world = world_with_buildings
    db = world.db
    summary = imports.import_file(
        db=db, ctx=world.ctx("secretary"), data=workbook(rows_west(BUILDING_A, BUILDING_B)), filename="west.xlsx"
    )
    assert (summary.rows, summary.households_created, summary.residents_created, summary.tags_added) == (4, 2, 4, 3)
    assert summary.errors == [] and not summary.dry_run
    zhang = db.scalars(select(Resident).where(Resident.name == "张三")).one()
    li = db.scalars(select(Resident).where(Resident.name == "李四")).one()
    assert zhang.household_id == li.household_id and zhang.relation == Relation.head and li.relation == Relation.spouse
    assert li.birth_date == dt.date(1952, 7, 9) and li.gender == "female" and li.ethnicity == "汉族"  # from the number
    assert privacy.reveal(zhang, privacy.ID_NUMBER) == ZHANG_ID and privacy.reveal(zhang, privacy.PHONE) == ZHANG_PHONE
    assert zhang.id_number_enc != ZHANG_ID and ZHANG_PHONE not in zhang.phone_enc
    household = db.get(Household, zhang.household_id)
    assert household.area_path.endswith(f"/{BUILDING_A}/") and household.residence == ResidenceType.registered
    tags = set(db.scalars(select(ResidentTag.tag_id).where(ResidentTag.resident_id == zhang.id)))
    assert len(tags) == 2
    kinds = [e.kind for e in db.scalars(select(ResidentEvent).where(ResidentEvent.resident_id == zhang.id))]
    assert kinds.count(EventKind.registered) == 1 and kinds.count(EventKind.tag_added) == 2
    registered = db.scalars(
        select(ResidentEvent).where(ResidentEvent.resident_id == zhang.id, ResidentEvent.kind == EventKind.registered)
    ).one()
    assert registered.source == "west.xlsx sheet 人口信息 row 2" and registered.actor_name == "secretary 测试"
    assert registered.changes["id_number"] == [None, "410105********" + ZHANG_ID[-4:]]
    assert ZHANG_ID not in str(registered.changes) and ZHANG_PHONE not in str(registered.changes)
    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "resident.import")).one()
    assert audit.detail["residents_created"] == 4 and audit.actor_name == "secretary 测试"


def test_a_wrong_check_digit_refuses_the_whole_file_naming_row_and_column(world_with_buildings):
    world = world_with_buildings
    rows = rows_west(BUILDING_A, BUILDING_B)
    rows[3] = rows[3][:7] + (wrong_check_digit(rows[3][7]),) + rows[3][8:]  # 王小六, row 5
    report = rejected(world, "secretary", rows)
    [error] = report.errors
    assert (error.row, error.column) == (5, "公民身份号码") and "check digit" in error.message
    assert rows[3][7] not in error.message  # the report never repeats the number
    assert count(world.db, Resident) == 0 and count(world.db, Household) == 0  # nothing written
    assert count(world.db, ResidentEvent) == 0


def test_duplicates_in_the_file_and_on_the_register_are_refused(register):
    rows = [
        (BUILDING_A2, "9单元901", "户主", "新户主", "", "", "", NEW_ID, "", "户籍", ""),
        (BUILDING_A2, "9单元901", "子女", "重复", "", "", "", NEW_ID, "", "户籍", ""),
        (BUILDING_A2, "9单元901", "子女", "已在册", "", "", "", ZHANG_ID, "", "户籍", ""),
    ]
    report = rejected(register, "secretary", rows)
    messages = {(e.row, e.column): e.message for e in report.errors}
    assert messages[(3, "公民身份号码")] == "the same identity number as row 2"
    assert messages[(4, "公民身份号码")] == "this identity number is on the register already"
    assert (2, "公民身份号码") not in messages


def test_a_building_outside_the_importers_scope_or_unknown_is_refused(register):
    rows = [
        (BUILDING_B, "5单元501", "户主", "乙户主", "", "", "", NEW_ID, "", "户籍", ""),
        ("410105001001001999", "5单元501", "户主", "无楼", "", "", "", NEW_ID_2, "", "户籍", ""),
    ]
    report = rejected(register, "gw_a", rows)  # grid A's worker, a building of grid B
    messages = {(e.row, e.column): e.message for e in report.errors}
    assert "lies outside your area" in messages[(2, "楼院编码")] and BUILDING_B in messages[(2, "楼院编码")]
    assert "not found" in messages[(3, "楼院编码")]
    east = rejected(register, "secretary", [(BUILDING_E, "1", "户主", "东户", "", "", "", NEW_ID, "", "户籍", "")])
    assert errors_of(east) == {(2, "楼院编码")}


def test_row_checks_report_every_problem_with_its_column(world_with_buildings):
    born = dt.date(1990, 4, 5)
    rows = [
        (BUILDING_A, "1", "户主", "甲", "女", "1991-01-01", "火星族", NEW_ID, "12345", "外星", "不存在的标签"),
        (BUILDING_A, "", "朋友", "", "", "", "", "", "", "户籍", ""),
        (BUILDING_A, "2", "户主", "丙41010519", "", "", "", make_id(born, 12), "", "户籍", ""),
    ]
    report = rejected(world_with_buildings, "secretary", rows)
    got = errors_of(report)
    assert {(2, "性别"), (2, "出生日期"), (2, "民族"), (2, "联系电话"), (2, "人口类型")} <= got  # NEW_ID: a man
    assert {(3, "门牌号"), (3, "与户主关系"), (3, "姓名"), (3, "公民身份号码")} <= got
    assert (4, "姓名") in got  # digits in a name: a number in the wrong column
    assert all(e.row is not None and e.column for e in report.errors)


def test_an_identity_number_stored_as_an_excel_number_is_refused(world_with_buildings):
    rows = [(BUILDING_A, "1", "户主", "甲", "", "", "", 410105199004050712, "", "户籍", "")]
    report = rejected(world_with_buildings, "secretary", rows)
    assert [(e.row, e.column) for e in report.errors] == [(2, "公民身份号码")]
    assert "format it as text" in report.errors[0].message


def test_household_heads(register):
    no_head = [(BUILDING_A2, "7单元701", "子女", "无主", "", "", "", NEW_ID, "", "户籍", "")]
    assert "no 户主 row" in rejected(register, "secretary", no_head).errors[0].message
    two_heads = [
        (BUILDING_A2, "7单元701", "户主", "甲", "", "", "", NEW_ID, "", "户籍", ""),
        (BUILDING_A2, "7单元701", "户主", "乙", "", "", "", NEW_ID_2, "", "户籍", ""),
    ]
    assert errors_of(rejected(register, "secretary", two_heads)) == {(3, "与户主关系")}
    second_head = [(BUILDING_A, "1单元101", "户主", "新户主", "", "", "", NEW_ID, "", "户籍", "")]
    assert "active 户主 already" in rejected(register, "secretary", second_head).errors[0].message
    joining = [(BUILDING_A, "1单元101", "孙子女", "张小孙", "", "", "", NEW_ID, "", "户籍", "")]
    summary = imports.import_file(
        db=register.db, ctx=register.ctx("secretary"), data=workbook(joining), filename="more.xlsx"
    )
    assert (summary.households_created, summary.households_reused, summary.residents_created) == (0, 1, 1)
    assert register.resident("张小孙").household_id == register.resident("张三").household_id


def test_a_grid_worker_may_not_import_tags_it_may_not_see(world_with_buildings):
    rows = [(BUILDING_A, "1", "户主", "甲", "", "", "", NEW_ID, "", "户籍", "社区矫正人员")]
    report = rejected(world_with_buildings, "gw_a", rows)
    assert report.errors[0].column == "标签" and "may not be set by your role" in report.errors[0].message
    rows = [(BUILDING_A, "1", "户主", "甲", "", "", "", NEW_ID, "", "户籍", "低保户、empty_nest_elderly")]
    summary = imports.import_file(
        db=world_with_buildings.db, ctx=world_with_buildings.ctx("gw_a"), data=workbook(rows), filename="x.xlsx"
    )
    assert summary.tags_added == 2


def test_partial_mode_writes_the_good_rows_and_reports_the_skipped(world_with_buildings):
    world = world_with_buildings
    rows = rows_west(BUILDING_A, BUILDING_B)
    rows[0] = rows[0][:7] + (wrong_check_digit(rows[0][7]),) + rows[0][8:]  # 张三, the head of household A
    summary = imports.import_file(
        db=world.db, ctx=world.ctx("secretary"), data=workbook(rows), filename="w.xlsx", skip_bad=True
    )
    assert summary.partial and summary.skipped_rows == 2  # 张三, and 李四 whose household lost its head
    assert summary.residents_created == 2 and summary.households_created == 1
    assert {(e.row, e.column) for e in summary.errors} == {(2, "公民身份号码"), (3, "与户主关系")}
    assert "户主 row was refused" in [e for e in summary.errors if e.row == 3][0].message
    assert sorted(world.db.scalars(select(Resident.name))) == ["王五", "王小六"]


def test_a_dry_run_counts_and_writes_nothing(world_with_buildings):
    world = world_with_buildings
    summary = imports.import_file(
        db=world.db,
        ctx=world.ctx("secretary"),
        data=workbook(rows_west(BUILDING_A, BUILDING_B)),
        filename="w.xlsx",
        dry_run=True,
    )
    assert summary.dry_run and summary.residents_created == 4 and count(world.db, Resident) == 0


def test_csv_in_gbk_and_a_title_line_above_the_header(world_with_buildings):
    world = world_with_buildings
    data = csv_bytes(rows_west(BUILDING_A, BUILDING_B), encoding="gbk")
    summary = imports.import_file(db=world.db, ctx=world.ctx("secretary"), data=data, filename="w.csv")
    assert summary.residents_created == 4
    titled = workbook(
        [(BUILDING_A2, "8", "户主", "标题下", "", "", "", NEW_ID, "", "户籍", "")], title="锦湖社区人口登记表（2026年）"
    )
    assert imports.import_file(db=world.db, ctx=world.ctx("secretary"), data=titled, filename="t.xlsx").rows == 1


def test_a_file_without_the_required_columns_is_refused_before_any_row(world_with_buildings):
    data = workbook([("x", "y")], headers=("姓名", "公民身份号码"))
    with pytest.raises(imports.InputError, match="missing column"):
        imports.import_file(
            db=world_with_buildings.db, ctx=world_with_buildings.ctx("secretary"), data=data, filename="m.xlsx"
        )


def test_a_role_without_resident_manage_may_not_import(world_with_buildings):
    from gridgov.core.permissions import PermissionDenied

    with pytest.raises(PermissionDenied):
        imports.import_file(
            db=world_with_buildings.db,
            ctx=world_with_buildings.ctx("leader"),
            data=workbook(rows_west(BUILDING_A, BUILDING_B)),
            filename="w.xlsx",
        )


def test_the_error_report_is_an_xlsx_with_row_column_and_message():
    summary = imports.ImportSummary(
        source="people.xlsx",
        rows=3,
        households_created=0,
        households_reused=0,
        residents_created=0,
        tags_added=0,
        errors=[imports.RowIssue(row=4, column="公民身份号码", message="the check digit ... does not match")],
    )
    sheet = load_workbook(io.BytesIO(imports.error_report(summary))).active
    assert [c.value for c in sheet[2]] == ["行号", "列", "问题"]
    assert [c.value for c in sheet[3]] == [4, "公民身份号码", "the check digit ... does not match"]
    assert "未导入任何数据" in sheet["A1"].value


def test_the_template_has_the_headers_the_importer_reads():
    sheet = load_workbook(io.BytesIO(imports.template()))["人口信息"]
    headers = [c.value.rstrip("*") for c in sheet[1]]
    assert set(HEADERS) <= set(headers)
