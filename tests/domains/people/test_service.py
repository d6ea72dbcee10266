"""The register's service: scope isolation between grids, masking by role, every personal-data read audited, and
changes recorded as append-only events (never a silent overwrite)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gridgov.core.errors import Conflict, Forbidden, Invalid, NotFoundError
from gridgov.core.permissions import OutOfScope, PermissionDenied
from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.people import privacy, service
from gridgov.domains.people.enums import EventKind, Relation, ResidenceType, ResidentStatus
from gridgov.domains.people.models import ResidentEvent
from gridgov.domains.people.schemas import Birth, Correction, HouseholdCreate, MoveIn, SearchIn
from gridgov.domains.people.service import ResidentFilter
from tests.domains.people.conftest import BUILDING_A2, BUILDING_B, BUILDING_E
from tests.domains.people.helpers import LI_ID, WANG_ID, WANG_PHONE, ZHANG_ID, ZHANG_PHONE, ZHAO_ID, make_id


def names(items) -> list[str]:
    return sorted(item.name for item in items)


def audits(db, action: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# --- scope -------------------------------------------------------------------------------------------------------


def test_a_grid_worker_sees_only_its_grids_residents(register):
    db = register.db
    grid_a, _ = service.list_residents(db=db, ctx=register.ctx("gw_a"))
    grid_b, _ = service.list_residents(db=db, ctx=register.ctx("gw_b"))
    community, _ = service.list_residents(db=db, ctx=register.ctx("secretary"))
    district, total = service.list_residents(db=db, ctx=register.ctx("leader"))
    assert names(grid_a) == ["张三", "李四"] and names(grid_b) == ["王五", "王小六"]
    assert names(community) == ["张三", "李四", "王五", "王小六"] and total == 5 and len(district) == 5


def test_a_resident_of_another_grid_is_answered_like_a_missing_one_and_the_attempt_audited(register):
    db = register.db
    wang = register.resident("王五")
    with pytest.raises(OutOfScope, match=f"resident {wang.id} not found"):
        service.read_resident(db=db, ctx=register.ctx("gw_a"), resident_id=wang.id)
    with pytest.raises(NotFoundError, match="resident 999999 not found"):
        service.read_resident(db=db, ctx=register.ctx("gw_a"), resident_id=999999)
    denied = db.scalars(select(AuditEntry).where(AuditEntry.outcome == AuditOutcome.denied)).one()
    assert (denied.target_type, denied.target_id, denied.actor_user_id) == (
        "resident",
        str(wang.id),
        register.actors["gw_a"].user_id,
    )
    with pytest.raises(OutOfScope):
        service.unmask(db=db, ctx=register.ctx("gw_a"), resident_id=wang.id, purpose="核实联系方式入户")
    with pytest.raises(OutOfScope):
        service.move_out(db=db, ctx=register.ctx("gw_a"), resident_id=wang.id, occurred_on=dt.date(2026, 1, 1))


def test_search_finds_exact_values_through_the_blind_index_within_scope_only(register):
    db = register.db
    found = service.search(db=db, ctx=register.ctx("secretary"), query=SearchIn(id_number=ZHANG_ID.lower()))
    assert names(found) == ["张三"]
    assert names(service.search(db=db, ctx=register.ctx("secretary"), query=SearchIn(phone="+86 138 0013 8000"))) == [
        "张三"
    ]
    assert service.search(db=db, ctx=register.ctx("gw_b"), query=SearchIn(id_number=ZHANG_ID)) == []  # other grid
    assert service.search(db=db, ctx=register.ctx("secretary"), query=SearchIn(id_number=ZHAO_ID)) == []  # east
    assert names(service.search(db=db, ctx=register.ctx("leader"), query=SearchIn(id_number=ZHAO_ID))) == ["赵*"]
    with pytest.raises(Invalid, match="exact"):
        service.search(db=db, ctx=register.ctx("secretary"), query=SearchIn(id_number=ZHANG_ID[:10]))
    assert names(service.search(db=db, ctx=register.ctx("gw_a"), query=SearchIn(name="张"))) == ["张三"]
    with pytest.raises(Forbidden, match="names masked"):
        service.search(db=db, ctx=register.ctx("leader"), query=SearchIn(name="张三"))


# --- masking -------------------------------------------------------------------------------------------------------


def test_masking_by_role(register):
    db = register.db
    secretary = {r.name: r for r in service.list_residents(db=db, ctx=register.ctx("secretary"))[0]}
    leader = {r.id: r for r in service.list_residents(db=db, ctx=register.ctx("leader"))[0]}
    zhang = secretary["张三"]
    assert zhang.id_number == ZHANG_ID[:6] + "********" + ZHANG_ID[-4:] and zhang.phone == "138****8000"
    assert zhang.birth == "1950-03-02"
    seen_by_leader = leader[zhang.id]
    assert (seen_by_leader.name, seen_by_leader.birth, seen_by_leader.id_number) == ("张*", "1950", zhang.id_number)
    for item in [*secretary.values(), *leader.values()]:
        dumped = item.model_dump_json()
        assert ZHANG_ID not in dumped and ZHANG_PHONE not in dumped and WANG_PHONE not in dumped


def test_tags_are_shown_by_sensitivity(register):
    db = register.db
    zhang, li = register.resident("张三").id, register.resident("李四").id

    def tags(username: str, resident_id: int) -> set[str]:
        return {t.code for t in service.read_resident(db=db, ctx=register.ctx(username), resident_id=resident_id).tags}

    assert tags("secretary", zhang) == {"empty_nest_elderly", "subsistence_allowance"}
    assert tags("secretary", li) == {"severe_mental_disorder"}  # core: the secretary only
    assert tags("gw_a", zhang) == {"empty_nest_elderly", "subsistence_allowance"} and tags("gw_a", li) == set()
    assert tags("leader", zhang) == {"empty_nest_elderly"} and tags("leader", li) == set()
    # The history does not tell either: the tag events of a core tag are left out for the grid worker.
    events = service.read_resident(db=db, ctx=register.ctx("gw_a"), resident_id=li).events
    assert [e.kind for e in events] == [EventKind.registered]
    with pytest.raises(Forbidden):
        service.list_residents(db=db, ctx=register.ctx("gw_a"), filters=ResidentFilter(tag="severe_mental_disorder"))
    listed, _ = service.list_residents(
        db=db, ctx=register.ctx("secretary"), filters=ResidentFilter(tag="subsistence_allowance")
    )
    assert names(listed) == ["张三"]


def test_unmasking_needs_the_permission_and_a_purpose_and_is_audited(register):
    db = register.db
    zhang = register.resident("张三")
    with pytest.raises(PermissionDenied):
        service.unmask(db=db, ctx=register.ctx("leader"), resident_id=zhang.id, purpose="领导需要了解情况")
    with pytest.raises(Invalid) as empty:
        service.unmask(db=db, ctx=register.ctx("gw_a"), resident_id=zhang.id, purpose="看看")
    assert empty.value.details["field"] == "purpose"
    [denied] = audits(db, "resident.unmask")  # the leader's attempt, refused
    assert denied.outcome == AuditOutcome.denied and denied.actor_user_id == register.actors["leader"].user_id
    shown = service.unmask(
        db=db, ctx=register.ctx("gw_a"), resident_id=zhang.id, purpose="入户走访核实联系方式", fields=["phone"]
    )
    assert (shown.phone, shown.id_number) == (ZHANG_PHONE, None)
    entry = audits(db, "resident.unmask")[-1]
    assert entry.purpose == "入户走访核实联系方式" and entry.target_id == str(zhang.id)
    assert entry.detail["fields"] == ["phone"] and entry.detail["resident_ids"] == [zhang.id]
    assert ZHANG_PHONE not in str(entry.detail)


# --- every read audited ----------------------------------------------------------------------------------------


def test_every_read_of_personal_data_is_audited_with_whom_and_how_many(register):
    db = register.db
    ctx = register.ctx("secretary", source_address="10.0.0.7")
    zhang, wang = register.resident("张三"), register.resident("王五")
    service.list_residents(db=db, ctx=ctx, filters=ResidentFilter(building=BUILDING_B), purpose="季度核查")
    service.read_resident(db=db, ctx=ctx, resident_id=zhang.id)
    service.read_household(db=db, ctx=ctx, household_id=zhang.household_id)
    service.search(db=db, ctx=ctx, query=SearchIn(phone=WANG_PHONE))
    service.search(db=db, ctx=ctx, query=SearchIn(id_number=ZHAO_ID))  # no hit: still audited
    [listed] = audits(db, "resident.list")
    assert listed.detail["count"] == 2 and listed.detail["resident_ids"] == sorted(
        [wang.id, register.resident("王小六").id]
    )
    assert listed.detail["filters"] == {"building": BUILDING_B, "status": "active"} and listed.purpose == "季度核查"
    assert listed.source_address == "10.0.0.7" and listed.actor_user_id == register.actors["secretary"].user_id
    [read] = audits(db, "resident.read")
    assert read.target_id == str(zhang.id) and read.detail["count"] == 1
    [household] = audits(db, "resident.household_read")
    assert household.detail["resident_ids"] == sorted([zhang.id, register.resident("李四").id])
    hit, miss = audits(db, "resident.search")
    assert (hit.detail["by"], hit.detail["resident_ids"]) == ("phone", [wang.id])
    assert (miss.detail["by"], miss.detail["count"]) == ("id_number", 0)
    for entry in db.scalars(select(AuditEntry)):  # the log itself holds no personal value
        assert (
            ZHANG_ID not in str(entry.detail)
            and WANG_PHONE not in str(entry.detail)
            and ZHAO_ID not in str(entry.detail)
        )


def test_the_household_list_holds_no_personal_data(register):
    items, total = service.list_households(db=register.db, ctx=register.ctx("gw_a"))
    assert total == 1 and items[0].active_residents == 2 and items[0].room == "1单元101"


# --- changes as events -----------------------------------------------------------------------------------------


def events(db, resident_id: int) -> list[ResidentEvent]:
    return list(
        db.scalars(select(ResidentEvent).where(ResidentEvent.resident_id == resident_id).order_by(ResidentEvent.id))
    )


def test_a_contact_change_is_an_event_with_both_numbers_masked(register):
    db = register.db
    zhang = register.resident("张三")
    service.change_contact(db=db, ctx=register.ctx("gw_a"), resident_id=zhang.id, phone="139 0000 1111", note="换号")
    assert privacy.reveal(zhang, privacy.PHONE) == "13900001111"
    last = events(db, zhang.id)[-1]
    assert last.kind == EventKind.contact_change and last.changes == {"phone": ["138****8000", "139****1111"]}
    assert last.actor_name == "gw_a 测试" and last.note == "换号"
    assert service.search(db=db, ctx=register.ctx("gw_a"), query=SearchIn(phone=ZHANG_PHONE)) == []
    with pytest.raises(Conflict):
        service.change_contact(db=db, ctx=register.ctx("gw_a"), resident_id=zhang.id, phone="13900001111")
    with pytest.raises(Invalid):
        service.change_contact(db=db, ctx=register.ctx("gw_a"), resident_id=zhang.id, phone="12345")
    assert [e.action for e in audits(db, "resident.contact_change")] == ["resident.contact_change"]


def test_move_out_and_death_end_residence_and_keep_the_record(register):
    db = register.db
    zhang, li = register.resident("张三"), register.resident("李四")
    service.move_out(
        db=db, ctx=register.ctx("gw_a"), resident_id=zhang.id, occurred_on=dt.date(2026, 10, 1), note="迁往外省"
    )
    service.record_death(db=db, ctx=register.ctx("gw_a"), resident_id=li.id, occurred_on=dt.date(2026, 9, 1))
    assert (zhang.status, zhang.status_on) == (ResidentStatus.moved_out, dt.date(2026, 10, 1))
    assert li.status == ResidentStatus.deceased
    assert names(service.list_residents(db=db, ctx=register.ctx("gw_a"))[0]) == []
    everyone, _ = service.list_residents(db=db, ctx=register.ctx("gw_a"), filters=ResidentFilter(status=None))
    assert names(everyone) == ["张三", "李四"]
    assert events(db, zhang.id)[-1].changes == {"status": ["active", "moved_out"]}
    with pytest.raises(Conflict, match="moved_out already"):
        service.record_death(db=db, ctx=register.ctx("gw_a"), resident_id=zhang.id, occurred_on=dt.date(2026, 10, 2))
    with pytest.raises(Invalid, match="future"):
        service.move_out(
            db=db, ctx=register.ctx("gw_b"), resident_id=register.resident("王五").id, occurred_on=dt.date(2999, 1, 1)
        )


def test_move_in_checks_the_person_and_takes_a_former_resident_back(register):
    db = register.db
    zhang = register.resident("张三")
    household_b = register.resident("王五").household_id
    newcomer = MoveIn(
        name="钱八",
        relation=Relation.sibling,
        residence_type=ResidenceType.floating,
        id_number=make_id(dt.date(1988, 2, 2), 91),
        phone="13700001234",
    )
    moved = service.move_in(db=db, ctx=register.ctx("gw_b"), household_id=household_b, data=newcomer)
    assert moved.birth_date == dt.date(1988, 2, 2) and events(db, moved.id)[0].kind == EventKind.move_in
    with pytest.raises(Conflict, match="on the register already"):
        service.move_in(db=db, ctx=register.ctx("gw_b"), household_id=household_b, data=newcomer)
    bad = MoveIn(
        name="孙九", relation=Relation.child, residence_type=ResidenceType.registered, id_number=LI_ID[:-1] + "0"
    )
    with pytest.raises(service.InputError) as refused:
        service.move_in(db=db, ctx=register.ctx("gw_b"), household_id=household_b, data=bad)
    assert refused.value.issues[0].field == "id_number"
    # 张三 moves away, then back into grid B's household: the same record, its history kept.
    service.move_out(db=db, ctx=register.ctx("gw_a"), resident_id=zhang.id, occurred_on=dt.date(2026, 1, 1))
    back = MoveIn(name="张三", relation=Relation.parent, residence_type=ResidenceType.resident, id_number=ZHANG_ID)
    returned = service.move_in(db=db, ctx=register.ctx("gw_b"), household_id=household_b, data=back)
    assert returned.id == zhang.id and returned.status == ResidentStatus.active and returned.household_id == household_b
    last = events(db, zhang.id)[-1]
    assert last.kind == EventKind.move_in and last.changes["status"] == ["moved_out", "active"]
    assert [e.kind for e in events(db, zhang.id)][0] == EventKind.registered


def test_births_households_and_corrections(register):
    db = register.db
    ctx = register.ctx("secretary")
    household = service.create_household(db=db, ctx=ctx, data=HouseholdCreate(building=BUILDING_A2, room="6单元601"))
    with pytest.raises(Conflict):
        service.create_household(db=db, ctx=ctx, data=HouseholdCreate(building=BUILDING_A2, room="6单元601"))
    with pytest.raises(Forbidden, match="outside your area"):
        service.create_household(db=db, ctx=ctx, data=HouseholdCreate(building=BUILDING_E, room="1"))
    baby = service.record_birth(
        db=db,
        ctx=ctx,
        household_id=household.id,
        data=Birth(name="新生儿", gender="female", birth_date=dt.date(2026, 11, 1)),
    )
    assert baby.id_number_enc is None and events(db, baby.id)[0].kind == EventKind.birth
    number = make_id(dt.date(2026, 11, 1), 2)
    service.correct(db=db, ctx=ctx, resident_id=baby.id, data=Correction(id_number=number, reason="办理户口后补录"))
    assert privacy.reveal(baby, privacy.ID_NUMBER) == number
    last = events(db, baby.id)[-1]
    assert last.kind == EventKind.correction and last.changes == {
        "id_number": [None, privacy.mask_identity_number(number)]
    }
    with pytest.raises(service.InputError):  # the number says male: it contradicts the recorded gender
        service.correct(
            db=db,
            ctx=ctx,
            resident_id=baby.id,
            data=Correction(id_number=make_id(dt.date(2026, 11, 1), 3), gender="female", reason="x号"),
        )
    wang = register.resident("王五")
    service.correct(db=db, ctx=ctx, resident_id=wang.id, data=Correction(name="王伍", reason="登记错字"))
    assert events(db, wang.id)[-1].changes == {"name": ["王五", "王伍"]}
    shown = service.read_resident(db=db, ctx=register.ctx("leader"), resident_id=wang.id).events[-1]
    assert shown.changes == {"name": ["王*", "王*"]}  # masked for a role that sees names masked
    with pytest.raises(Conflict, match="on the register already"):
        service.correct(db=db, ctx=ctx, resident_id=wang.id, data=Correction(id_number=ZHANG_ID, reason="录错"))


def test_a_household_change_stays_within_the_area(register):
    db = register.db
    wang = register.resident("王五")
    zhang_household = register.resident("张三").household_id
    with pytest.raises(OutOfScope):  # grid B's worker may not move anyone into grid A
        service.change_household(
            db=db, ctx=register.ctx("gw_b"), resident_id=wang.id, household_id=zhang_household, relation=Relation.child
        )
    service.change_household(
        db=db, ctx=register.ctx("secretary"), resident_id=wang.id, household_id=zhang_household, relation=Relation.child
    )
    assert wang.household_id == zhang_household
    assert events(db, wang.id)[-1].changes["household_id"][1] == zhang_household
    assert "王五" in names(service.list_residents(db=db, ctx=register.ctx("gw_a"))[0])


def test_tags_added_and_removed_are_events_and_visibility_rules_apply(register):
    db = register.db
    wang = register.resident("王五")
    service.add_tag(db=db, ctx=register.ctx("gw_b"), resident_id=wang.id, tag="退役军人")
    with pytest.raises(Conflict):
        service.add_tag(db=db, ctx=register.ctx("gw_b"), resident_id=wang.id, tag="veteran")
    with pytest.raises(Forbidden, match="core"):
        service.add_tag(db=db, ctx=register.ctx("gw_b"), resident_id=wang.id, tag="drug_user")
    service.remove_tag(db=db, ctx=register.ctx("gw_b"), resident_id=wang.id, tag="veteran", note="误登记")
    kinds = [(e.kind, e.changes.get("tag")) for e in events(db, wang.id)[-2:]]
    assert kinds == [(EventKind.tag_added, [None, "veteran"]), (EventKind.tag_removed, ["veteran", None])]
    with pytest.raises(NotFoundError):
        service.remove_tag(db=db, ctx=register.ctx("gw_b"), resident_id=wang.id, tag="veteran")


def test_the_event_history_is_append_only_in_the_database(register):
    db = register.db
    for statement in ("UPDATE people_event SET note = 'rewritten'", "DELETE FROM people_event"):
        with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
            db.execute(text(statement))


def test_read_only_roles_may_not_change_the_register(register):
    with pytest.raises(PermissionDenied):
        service.move_out(
            db=register.db,
            ctx=register.ctx("leader"),
            resident_id=register.resident("王五").id,
            occurred_on=dt.date(2026, 1, 1),
        )
    with pytest.raises(PermissionDenied):
        service.list_residents(db=register.db, ctx=register.ctx("auditor"))


def test_wang_id_is_only_stored_encrypted(register):
    row = register.db.execute(
        text("SELECT id_number_enc, id_number_index FROM people_resident WHERE name = '王五'")
    ).one()
    assert WANG_ID not in row[0] and WANG_ID not in row[1] and row[0].startswith(privacy.keyring().current + ":")
