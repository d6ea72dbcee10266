"""Importing 12345 exports (XLSX, CSV in UTF-8 with BOM or GBK): per-row errors, re-import, file-level refusals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError, Invalid
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.enums import Action, Channel
from gridgov.domains.cases.models import Case, CaseContact, CaseEvent
from gridgov.domains.cases.service import Context
from gridgov.domains.hotline import files
from gridgov.domains.hotline import service as hotline_service
from tests.domains.cases.conftest import SH, T0
from tests.domains.cases.world import STREET_E
from tests.domains.hotline.conftest import Tokens
from tests.domains.hotline.sheets import ERRORS, GOOD, HEADER, ROWS, csv_bytes, write_xlsx

IMPORTS = "/api/v1/hotline/imports"
SYSTEM = Actor(name="12345 import", role=Role.system)


def _cases(db: Session) -> dict[str, Case]:
    return {c.external_id: c for c in db.scalars(select(Case).where(Case.channel == Channel.hotline))}


def _errors(summary) -> list[tuple[int, str | None, str]]:
    return [(e.row, e.column, e.message) for e in summary.errors]


def _assert_errors(found: list[tuple[int, str | None, str]]) -> None:
    assert [(row, column) for row, column, _ in found] == [(row, column) for row, column, _ in ERRORS]
    for (_, _, message), (_, _, start) in zip(found, ERRORS, strict=True):
        assert message.startswith(start), message


def test_xlsx_import_imports_good_rows_and_reports_bad_ones(world, db: Session, tmp_path: Path, now):
    table = files.read_path(write_xlsx(tmp_path / "orders.xlsx"))
    assert (table.source, table.sheet) == ("orders.xlsx sheet 工单明细", "工单明细")
    assert table.ignored == ["承办单位"]
    summary = hotline_service.import_table(db=db, table=table, ctx=Context.of(SYSTEM))
    assert (summary.rows, summary.created, summary.existing, summary.failed) == (9, 4, 0, 5)
    _assert_errors(_errors(summary))
    assert [e.order_id for e in summary.errors] == ["GD003", "GD004", "GD005", "GD006", "GD009", "GD009"]

    cases = _cases(db)
    assert sorted(cases) == GOOD
    assert cases["GD001"].matter_type.code == "SJ0102" and cases["GD001"].grid_id == world.area("410105001001001").id
    assert cases["GD002"].matter_type.code == "SJ0501" and cases["GD002"].area_path.startswith(f"/410105/{STREET_E}/")
    assert cases["GD002"].urgency == "urgent"
    assert cases["GD007"].area_path.startswith("/410105/410105001/410105001002/")
    assert cases["GD008"].grid_id == world.area("410105002002004").id
    assert db.get(CaseContact, cases["GD007"].id).phone is None  # masked in the export: not kept
    assert db.get(CaseContact, cases["GD008"].id).phone == "0371-6666 8888"
    notes = {
        e.data["hotline"]["order_id"]: e.data["hotline"]
        for e in db.scalars(select(CaseEvent).where(CaseEvent.action == Action.note))
    }
    assert notes["GD001"]["received_at"] == "2026-11-25T08:30:00+08:00"
    assert notes["GD002"]["deadline"] == "2026-11-30T08:40:00+08:00"  # 3 working days from Wednesday 08:40
    assert (notes["GD002"]["located_by"], notes["GD002"]["area_code"]) == ("area", STREET_E)
    # Nothing of a refused row was written.
    assert db.scalar(select(func.count()).select_from(Case)) == 4


def test_re_importing_the_same_file_creates_no_duplicates(world, db: Session, tmp_path: Path, now):
    table = files.read_path(write_xlsx(tmp_path / "orders.xlsx"))
    hotline_service.import_table(db=db, table=table, ctx=Context.of(SYSTEM))
    again = hotline_service.import_table(db=db, table=table, ctx=Context.of(SYSTEM))
    assert (again.rows, again.created, again.existing, again.failed) == (9, 0, 4, 5)
    assert len(_cases(db)) == 4


def test_a_fixed_file_imports_the_rest(world, db: Session, tmp_path: Path, now):
    table = files.read_path(write_xlsx(tmp_path / "orders.xlsx"))
    hotline_service.import_table(db=db, table=table, ctx=Context.of(SYSTEM))
    fixed = [list(row) for row in ROWS]
    fixed[2][4] = "垃圾桶满了"  # GD003 gets its content
    fixed[4][2] = "130101"  # GD005 a known category
    summary = hotline_service.import_table(
        db=db, table=files.read_path(write_xlsx(tmp_path / "fixed.xlsx", fixed)), ctx=Context.of(SYSTEM)
    )
    assert (summary.created, summary.existing, summary.failed) == (2, 4, 3)


def test_dry_run_counts_and_keeps_nothing(world, db: Session, tmp_path: Path, now):
    table = files.read_path(write_xlsx(tmp_path / "orders.xlsx"))
    summary = hotline_service.import_table(db=db, table=table, ctx=Context.of(SYSTEM), dry_run=True)
    assert (summary.dry_run, summary.created, summary.failed) == (True, 4, 5)
    assert _cases(db) == {}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_and_gbk(world, db: Session, encoding: str, now):
    table = files.read_orders(csv_bytes(encoding=encoding), "orders.csv")
    assert table.columns["content"] == "诉求内容" and table.rows[0].values["order_id"] == "GD001"
    summary = hotline_service.import_table(db=db, table=table, ctx=Context.of(SYSTEM))
    assert (summary.rows, summary.created, summary.failed) == (9, 4, 5)
    # No title line in the CSV: the header is row 1, so every row is one up from the XLSX.
    assert [(e.row, e.column) for e in summary.errors] == [(row - 1, column) for row, column, _ in ERRORS]


def test_english_headers_and_category_levels_work_too(world, db: Session, tmp_path: Path, now):
    header = ["order_id", "一级分类", "二级分类", "三级分类", "description", "lng", "lat", "crs"]
    rows = [["EN1", "城市管理", "市容环境", "占道经营", "Street vendors on the pavement", 113.7013, 34.7879, "wgs84"]]
    table = files.read_path(write_xlsx(tmp_path / "en.xlsx", rows, header=header, title=False))
    summary = hotline_service.import_table(db=db, table=table, ctx=Context.of(SYSTEM))
    assert (summary.created, summary.errors) == (1, [])
    assert _cases(db)["EN1"].matter_type.code == "SJ0501"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["工单编号", "诉求分类", "经度", "纬度"], "missing column 诉求内容"),
        (["工单编号", "诉求内容", "经度", "纬度"], "missing column 诉求分类"),
        (["工单编号", "诉求分类", "诉求内容"], "no location columns"),
        (["工单编号", "诉求分类", "诉求内容", "经度"], "column 经度 without 纬度"),
        (["编号", "诉求分类", "诉求内容"], "no header row with a work-order id column"),
    ],
)
def test_a_file_level_problem_writes_nothing(world, db: Session, tmp_path: Path, header, message):
    path = write_xlsx(tmp_path / "bad.xlsx", [["X1", "020101", "内容", 113.7, 34.78][: len(header)]], header=header)
    with pytest.raises(InputError) as caught:
        files.read_path(path)
    assert caught.value.summary == "bad.xlsx: not imported"
    assert any(issue.message.startswith(message) for issue in caught.value.issues), caught.value.issues


def test_unreadable_files_are_refused(tmp_path: Path):
    for name, data, message in [
        ("orders.xlsx", b"PK\x03\x04 not really a zip", "not a readable XLSX workbook"),
        ("orders.txt", b"a,b", "unsupported file type '.txt'"),
        ("orders.csv", b"", "the file is empty"),
        ("orders.csv", b"\xff\xfe\x00\xd8\x00", "not UTF-8 or GB18030 text"),
    ]:
        with pytest.raises(InputError) as caught:
            files.read_orders(data, name)
        assert caught.value.issues[0].message.startswith(message), (name, caught.value.issues)
    with pytest.raises(InputError, match="no sheet named 'nope'"):
        files.read_path(write_xlsx(tmp_path / "o.xlsx"), sheet="nope")


# --- the upload endpoint ---------------------------------------------------------------------------------------


def _upload(api: TestClient, headers: dict[str, str], data: bytes, name: str = "orders.xlsx", **params):
    return api.post(IMPORTS, files={"file": (name, data, "application/octet-stream")}, params=params, headers=headers)


def test_upload_by_a_dispatcher(api: TestClient, tokens: Tokens, db: Session, tmp_path: Path):
    data = write_xlsx(tmp_path / "orders.xlsx").read_bytes()
    dry = _upload(api, tokens.district, data, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert (dry.json()["dry_run"], dry.json()["created"]) == (True, 4) and _cases(db) == {}

    response = _upload(api, tokens.district, data)
    body = response.json()
    assert (body["rows"], body["created"], body["existing"], body["failed"]) == (9, 4, 0, 5)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(r, c) for r, c, _ in ERRORS]
    assert body["columns"]["received_at"] == "受理时间" and body["ignored_columns"] == ["承办单位"]
    reporter = _cases(db)["GD001"].reporter_role
    assert reporter == Role.district_dispatcher

    again = _upload(api, tokens.district, csv_bytes(encoding="gbk"), name="orders.csv").json()
    assert (again["created"], again["existing"], again["failed"]) == (0, 4, 5)


def test_upload_refusals(api: TestClient, tokens: Tokens, db: Session, tmp_path: Path):
    data = write_xlsx(tmp_path / "orders.xlsx").read_bytes()
    assert _upload(api, tokens.grid_worker, data).status_code == 403
    assert _upload(api, tokens.hotline, data).status_code == 403  # the import is the dispatchers'
    bad = _upload(api, tokens.district, b"a,b\n1,2\n", name="orders.csv")
    assert bad.status_code == 422 and "no header row" in bad.json()["issues"][0]["message"]
    assert _cases(db) == {}


def test_a_street_dispatcher_imports_only_rows_of_their_street(api: TestClient, tokens: Tokens, db: Session, tmp_path):
    body = _upload(api, tokens.street_e, write_xlsx(tmp_path / "orders.xlsx").read_bytes()).json()
    assert sorted(_cases(db)) == ["GD002", "GD008"]  # the two rows located in street E
    outside = [(e["row"], e["message"]) for e in body["errors"] if e["order_id"] in ("GD001", "GD007")]
    assert [row for row, _ in outside] == [3, 9]
    assert all("outside your area" in message for _, message in outside)


def test_received_time_without_offset_is_local(world, db: Session, tmp_path: Path, now):
    rows = [["T1", "2026-11-25 08:00", "020101", None, "内容", None, None, None, None, None, 113.7013, 34.7879]]
    table = files.read_path(write_xlsx(tmp_path / "t.xlsx", rows, header=HEADER[:12]))
    hotline_service.import_table(db=db, table=table, ctx=Context.of(SYSTEM))
    note = db.scalars(select(CaseEvent).where(CaseEvent.action == Action.note)).one()
    assert dt.datetime.fromisoformat(note.data["hotline"]["received_at"]) == dt.datetime(2026, 11, 25, 8, 0, tzinfo=SH)
    assert _cases(db)["T1"].reported_at == T0  # the case's own clock starts at intake


def test_resolver_reads_names_and_codes_as_exports_write_them(world, db: Session):
    resolver = hotline_service.Resolver(db=db)
    assert resolver.area("花园路", level=AreaLevel.street).code == STREET_E
    assert resolver.area("经八路街道办事处", level=AreaLevel.street).code == "410105001"
    west = resolver.area("410105001", level=AreaLevel.street)
    assert resolver.area("经八路南", level=AreaLevel.community, within=west).code == "410105001002"
    with pytest.raises(Invalid, match="unknown community '花园路北社区' in 经八路街道"):
        resolver.area("花园路北社区", level=AreaLevel.community, within=west)
    assert resolver.category("20101") == "SJ0102"  # Excel dropped the leading zero of 020101
    assert resolver.category("市政设施-井盖") == "BJ0101"
    assert resolver.category("井盖") == "BJ0101"
    assert resolver.category("城市管理/其他") is None
