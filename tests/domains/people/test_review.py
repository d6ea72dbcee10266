"""Defects found in the second review of the register (issue 8): a tag given twice, personal values echoed in
import error reports, identity numbers cut in half in case titles, huge paging values, and the key commands the
CLI tells the operator to run."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.domains.cases.models import Case
from gridgov.domains.people import imports, privacy, service
from gridgov.domains.people.enums import EventKind
from gridgov.domains.people.models import ResidentEvent, ResidentTag
from gridgov.domains.people.schemas import MoveIn
from tests.domains.cases.conftest import world  # noqa: F401 - the case world, for the visit test
from tests.domains.cases.test_api import GRID_WORKER, api, now  # noqa: F401
from tests.domains.cases.world import point
from tests.domains.people.conftest import BUILDING_A
from tests.domains.people.helpers import ZHANG_ID, make_id, workbook
from tests.domains.people.test_cli import fresh, import_west  # noqa: F401 - the migrated database of the CLI tests
from tests.domains.people.test_pages import login

runner = CliRunner()


def _tag_links(db, resident_id: int) -> int:
    return db.scalar(select(func.count()).select_from(ResidentTag).where(ResidentTag.resident_id == resident_id))


def _tag_events(db, resident_id: int) -> int:
    return db.scalar(
        select(func.count())
        .select_from(ResidentEvent)
        .where(ResidentEvent.resident_id == resident_id, ResidentEvent.kind == EventKind.tag_added)
    )


def test_a_tag_named_twice_in_a_move_in_is_set_once(client, register):
    household_id = register.resident("张三").household_id
    body = {
        "name": "钱八",
        "relation": "child",
        "residence_type": "registered",
        "id_number": make_id(dt.date(1990, 1, 1), 77),
        "tags": ["volunteer", "志愿者", "volunteer"],  # the code, the Chinese name, the code again
    }
    response = client.post(
        f"/api/v1/people/households/{household_id}/move-in", json=body, headers=register.headers["secretary"]
    )
    assert response.status_code == 201, response.text
    resident_id = response.json()["resident_id"]
    assert _tag_links(register.db, resident_id) == 1 and _tag_events(register.db, resident_id) == 1


def test_a_tag_named_twice_in_an_import_row_is_set_once(register):
    number = make_id(dt.date(1980, 1, 1), 91)
    rows = [(BUILDING_A, "9单元909", "户主", "孙九", "", "", "汉族", number, "", "户籍", "volunteer、志愿者")]
    summary = imports.import_file(
        db=register.db, ctx=register.ctx("secretary"), data=workbook(rows), filename="twice.xlsx"
    )
    assert summary.residents_created == 1 and summary.tags_added == 1
    resident = register.resident("孙九")
    assert _tag_links(register.db, resident.id) == 1 and _tag_events(register.db, resident.id) == 1


def test_a_direct_service_move_in_with_a_repeated_tag_writes_one_link(register):
    household_id = register.resident("王五").household_id
    data = MoveIn(
        name="周十",
        relation="child",
        residence_type="resident",
        id_number=make_id(dt.date(1991, 2, 3), 78),
        tags=["elderly_alone", "独居老人"],
    )
    resident = service.move_in(db=register.db, ctx=register.ctx("secretary"), household_id=household_id, data=data)
    register.db.flush()
    assert [link.tag.code for link in resident.tags] == ["elderly_alone"]


def test_an_import_error_report_never_repeats_a_number_typed_into_the_wrong_column(client, register):
    stray_id = make_id(dt.date(1979, 4, 5), 93)
    stray_phone = "13655554444"
    # the identity number typed into 性别, the phone into 出生日期, a landline into 民族; a number as a tag
    first, second = make_id(dt.date(1980, 1, 1), 92), make_id(dt.date(1981, 1, 1), 94)
    rows = [
        (BUILDING_A, "9单元909", "户主", "孙九", stray_id, stray_phone, "0371-66667777", first, "", "户籍", ""),
        (BUILDING_A, "9单元910", "户主", "吴十", "", "", "汉族", second, "", "户籍", stray_id),
    ]
    data = workbook(rows)
    response = client.post(
        "/api/v1/people/import",
        files={"file": ("wrong-columns.xlsx", data, "application/octet-stream")},
        headers=register.headers["secretary"],
    )
    assert response.status_code == 422, response.text
    fields = {issue["field"] for issue in response.json()["issues"]}
    assert {"性别", "出生日期", "民族", "标签"} <= fields  # every bad cell is still reported, by column
    for value in (stray_id, stray_phone, "66667777"):
        assert value not in response.text
    try:
        imports.import_file(db=register.db, ctx=register.ctx("secretary"), data=data, filename="wrong-columns.xlsx")
    except imports.ImportRejected as rejected:
        report = imports.error_report(rejected.report)
        assert all(value.encode() not in report for value in (stray_id, stray_phone))
        assert all(stray_id not in str(issue) for issue in rejected.issues)
    else:  # pragma: no cover - the file must be refused
        raise AssertionError("the import was not refused")


def test_a_visit_finding_cut_for_the_case_title_leaks_no_part_of_a_number(api, db):  # noqa: F811
    lng, lat = point()
    number, phone = "41010519520709022X", "13912345678"
    # the number starts at character 16 and the phone at character 22: a title of 30 characters cuts both
    id_finding = "楼道堆放杂物严重影响通行户主身份证" + number + "，请尽快清理"
    phone_finding = "下水道堵塞污水外溢严重影响住户出行请联系" + phone + "处理"
    assert id_finding.index(number) < 30 < id_finding.index(number) + 18
    assert phone_finding.index(phone) < 30 < phone_finding.index(phone) + 11
    body = {
        "household_ref": "3号楼2单元501",
        "lng": lng,
        "lat": lat,
        "summary": "例行走访",
        "findings": [
            {"description": id_finding, "create_case": True, "matter_type": "SJ0102"},
            {"description": phone_finding, "create_case": True, "matter_type": "SJ0102"},
        ],
    }
    response = api.post("/api/v1/visits", json=body, headers=GRID_WORKER)
    assert response.status_code == 201, response.text
    titles = [db.get(Case, case_id).title for case_id in response.json()["case_ids"]]
    for title in titles:
        # no run of seven or more digits survives: neither the number's first 14 nor the phone's first 8
        assert not re.search(r"\d{7,}", title), title
    assert "410105" in titles[0] and "139" in titles[1]


def test_huge_paging_values_are_refused_or_clamped_not_a_server_error(client, register):
    headers = register.headers["gw_a"]
    for path in ("/api/v1/people/residents", "/api/v1/people/households"):
        response = client.get(path, params={"offset": 10**20}, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert client.get(path, params={"offset": 2**31 - 1}, headers=headers).json()["items"] == []
    # the service clamps whatever its callers pass
    items, total = service.list_residents(db=register.db, ctx=register.ctx("gw_a"), offset=10**20)
    assert items == [] and total == 2
    login(client, "gw_a")
    page = client.get("/residents", params={"offset": 10**20})
    assert page.status_code == 200 and "张三" not in page.text


def test_the_key_commands_name_commands_that_exist(fresh, tmp_path):  # noqa: F811
    import_west(tmp_path)
    old = privacy.keyring()
    newer = privacy.KeyRing(keys={"k2": b"\x01" * 32, **old.keys}, current="k2", index_key=old.index_key)
    privacy.set_keyring(newer)
    checked = runner.invoke(app, ["keys", "check"])
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.output.split())
    assert "run `gridgov keys rotate`" in said and "people keys" not in said
    rotated = runner.invoke(app, ["keys", "rotate"])
    assert rotated.exit_code == 0 and "`gridgov keys check`" in " ".join(rotated.output.split())
    assert "people keys" not in rotated.output
    stale = privacy.KeyRing(keys=newer.keys, current="k2", index_key=b"\x02" * 32)
    privacy.set_keyring(stale)
    refused = runner.invoke(app, ["keys", "check"])
    assert refused.exit_code == 1 and "gridgov keys rotate --reindex" in " ".join(refused.output.split())
    assert "people keys" not in refused.output
    assert "gridgov people keys" not in (privacy.__doc__ or "")


def _eastern(number: str, at: int) -> str:
    """Returns `number` with the digit at `at` written as an Arabic-Indic digit (the same value to int())."""
    return number[:at] + chr(0x0660 + int(number[at])) + number[at + 1 :]


def test_a_registered_identity_number_with_a_look_alike_digit_is_no_new_person(client, register):
    household_id = register.resident("张三").household_id
    look_alike = _eastern(ZHANG_ID, 9)
    assert look_alike != ZHANG_ID and int(look_alike[9]) == int(ZHANG_ID[9])
    body = {"name": "张三", "relation": "other_relative", "residence_type": "registered", "id_number": look_alike}
    response = client.post(
        f"/api/v1/people/households/{household_id}/move-in", json=body, headers=register.headers["secretary"]
    )
    assert response.status_code == 422, response.text
    assert [issue["field"] for issue in response.json()["issues"]] == ["id_number"]
    phone = _eastern("13812345678", 5)
    resident_id = register.resident("李四").id
    changed = client.post(
        f"/api/v1/people/residents/{resident_id}/contact", json={"phone": phone}, headers=register.headers["secretary"]
    )
    assert changed.status_code == 422, changed.text


def test_answers_holding_clear_values_are_kept_by_no_cache(client, register):
    zhang = register.resident("张三")
    body = {"purpose": "入户走访核实联系方式"}
    response = client.post(
        f"/api/v1/people/residents/{zhang.id}/unmask", json=body, headers=register.headers["secretary"]
    )
    assert response.status_code == 200 and response.json()["id_number"] == ZHANG_ID
    assert response.headers["Cache-Control"] == "no-store"
    csrf = login(client, "secretary")
    page = client.post(f"/residents/{zhang.id}/unmask", data={"csrf_token": csrf, "purpose": "入户核实联系方式"})
    assert page.status_code == 200 and ZHANG_ID in page.text and page.headers["Cache-Control"] == "no-store"
