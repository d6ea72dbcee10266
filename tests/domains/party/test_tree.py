"""The party organisation tree: levels, cycles, codes, areas, moves and deletes, and the area scope of writes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gridgov.core.errors import Conflict, InputError, NotFoundError
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.party import service
from gridgov.domains.party.enums import OrgKind, OrgLevel
from gridgov.domains.party.models import PartyOrg
from gridgov.domains.party.schemas import MemberCreate, OrgIn, OrgUpdate, PartyTreeDocument
from tests.domains.party.world import E_N, W_N, W_S, E, PartyWorld, W, building_code, tree_document

OP = service.OPERATOR


def org(**values: object) -> OrgIn:
    return OrgIn.model_validate(values)


def rows(*orgs: OrgIn) -> list[tuple[str, OrgIn]]:
    return [(f"tree.yaml orgs item {n}", o) for n, o in enumerate(orgs, start=1)]


def issues_of(error: pytest.ExceptionInfo[InputError]) -> list[tuple[str, str | None, str]]:
    return [(i.where, i.field, i.message) for i in error.value.issues]


def paths(world: PartyWorld) -> dict[str, tuple[str, str | None]]:
    return {o.code: (o.path, o.area_path) for o in world.db.scalars(select(PartyOrg))}


def test_the_tree_is_stored_with_paths_area_paths_and_kinds(world: PartyWorld):
    found = paths(world)
    assert found["W-DGW"] == ("/W-DGW/", f"/410105/{W}/")
    assert found["W-N"] == ("/W-DGW/W-N/", f"/410105/{W}/{W_N}/")
    # A branch covering two grids is scoped by the community containing both.
    assert found["W-N-G1"] == ("/W-DGW/W-N/W-N-G1/", f"/410105/{W}/{W_N}/")
    assert found["W-N-G2"][1] == f"/410105/{W}/{W_N}/{W_N}003/"
    assert found["W-N-G1-B1-H1"][0] == "/W-DGW/W-N/W-N-G1/W-N-G1-B1/W-N-G1-B1-H1/"
    assert found["W-N-G1-B1-H1"][1] == f"/410105/{W}/{W_N}/{W_N}001/{building_code('B1')}/"
    kinds = dict(world.db.execute(select(PartyOrg.code, PartyOrg.kind)).all())
    assert kinds["W-DGW"] == OrgKind.working_committee and kinds["W-N"] == OrgKind.committee
    assert kinds["W-S"] == OrgKind.branch and kinds["E-N"] == OrgKind.general_branch
    assert kinds["W-N-G1-B1"] == OrgKind.group and kinds["W-N-G1-B1-H1"] == OrgKind.household


def test_the_tree_each_user_sees_starts_at_their_area(world: PartyWorld):
    def tree(user: str) -> list[tuple[str, list[str]]]:
        return [(r.code, [c.code for c in r.children]) for r in service.get_tree(db=world.db, actor=world.actor(user))]

    assert tree("leader") == [("E-DGW", ["E-N"]), ("W-DGW", ["W-N", "W-S"])]
    assert tree("street") == [("W-DGW", ["W-N", "W-S"])]
    assert tree("street_e") == [("E-DGW", ["E-N"])]
    assert tree("secretary") == [("W-N", ["W-N-G1", "W-N-G2"])]  # below the street's 党工委
    assert tree("secretary_s") == [("W-S", ["W-S-G1"])]
    with pytest.raises(NotFoundError):
        service.get_org(db=world.db, actor=world.actor("secretary"), code="W-S")
    with pytest.raises(NotFoundError):
        service.get_org(db=world.db, actor=world.actor("secretary"), code="W-DGW")


def test_a_child_must_sit_exactly_one_level_below_its_parent(world: PartyWorld):
    with pytest.raises(InputError) as error:
        service.apply_orgs(
            db=world.db,
            actor=OP,
            rows=rows(
                org(code="X1", name="跳级网格党支部", level="grid", parent="W-DGW", areas=[f"{W_N}004"]),
                org(code="X2", name="无上级社区党组织", level="community", areas=[W_N]),
                org(code="X3", name="有上级的党工委", level="street", parent="W-DGW", areas=[W]),
                org(code="X4", name="错误类型", level="grid", kind="党委", parent="W-N", areas=[f"{W_N}004"]),
                org(code="X5", name="未知上级", level="grid", parent="NOPE", areas=[f"{W_N}004"]),
            ),
            source="tree.yaml",
        )
    found = issues_of(error)
    assert (
        "tree.yaml orgs item 1",
        "parent",
        "parent W-DGW is a street (街道党工委); a grid (网格党支部) sits directly under a community (社区党组织)",
    ) in found
    assert (
        "tree.yaml orgs item 2",
        "parent",
        "a community (社区党组织) needs a parent: a street (街道党工委)",
    ) in found
    assert ("tree.yaml orgs item 3", "parent", "a street (街道党工委) is a root: it has no parent") in found
    assert ("tree.yaml orgs item 4", "kind", "a grid (网格党支部) is a branch (党支部), not committee") in found
    assert ("tree.yaml orgs item 5", "parent", "unknown parent 'NOPE' (not in the file nor in the register)") in found
    assert error.value.summary == "tree.yaml: nothing written"
    assert world.db.scalar(select(func.count()).where(PartyOrg.code.like("X%"))) == 0


def test_cycles_are_refused_in_a_file_and_in_a_move(world: PartyWorld):
    with pytest.raises(InputError) as error:
        service.apply_orgs(
            db=world.db,
            actor=OP,
            rows=rows(
                org(code="C1", name="甲", level="grid", parent="C2"),
                org(code="C2", name="乙", level="grid", parent="C1"),
            ),
            source="tree.yaml",
        )
    assert ("tree.yaml orgs item 1", "parent", "the parents make a cycle: C1 → C2 → C1") in issues_of(error)
    assert ("tree.yaml orgs item 2", "parent", "the parents make a cycle: C2 → C1 → C2") in issues_of(error)

    # Moving a community's organisation under its own grid branch loops back to itself.
    with pytest.raises(InputError) as error:
        service.update_org(db=world.db, actor=OP, code="W-N", data=OrgUpdate(parent="W-N-G1"))
    assert issues_of(error) == [("body", "parent", "the parents make a cycle: W-N → W-N-G1 → W-N")]
    assert paths(world)["W-N"][0] == "/W-DGW/W-N/"


def test_codes_are_unique_and_well_formed(world: PartyWorld):
    with pytest.raises(InputError) as error:
        service.apply_orgs(
            db=world.db,
            actor=OP,
            rows=rows(
                org(code="D1", name="甲", level="grid", parent="W-N", areas=[f"{W_N}004"]),
                org(code="D1", name="乙", level="grid", parent="W-N", areas=[f"{W_N}004"]),
            ),
            source="tree.yaml",
        )
    assert issues_of(error) == [
        ("tree.yaml orgs item 2", "code", "code 'D1' appears twice (also tree.yaml orgs item 1)")
    ]
    with pytest.raises(Conflict, match="'W-N' already exists"):
        service.create_org(db=world.db, actor=OP, data=org(code="W-N", name="重复", level="community", parent="W-DGW"))
    with pytest.raises(ValueError, match="bad code 'a b'"):
        org(code="a b", name="x", level="grid")


def test_areas_must_exist_fit_the_level_and_lie_inside_the_parents_areas(world: PartyWorld):
    with pytest.raises(InputError) as error:
        service.apply_orgs(
            db=world.db,
            actor=OP,
            rows=rows(
                org(code="A1", name="甲", level="grid", parent="W-N", areas=["999"]),
                org(code="A2", name="乙", level="grid", parent="W-N", areas=[W_N]),
                org(code="A3", name="丙", level="grid", parent="W-N", areas=[f"{W_S}001"]),
                org(code="A4", name="丁", level="building", parent="W-N-G1", areas=[building_code("B4")]),
            ),
            source="tree.yaml",
        )
    found = issues_of(error)
    assert ("tree.yaml orgs item 1", "areas", "unknown area '999'") in found
    assert (
        "tree.yaml orgs item 2",
        "areas",
        f"area {W_N} (经八路北社区) is a community; a grid (网格党支部) covers a grid (网格)",
    ) in found
    assert any(w == "tree.yaml orgs item 3" and "outside the areas of its parent W-N" in m for w, _, m in found)
    # B4 lies in grid W001003, which the branch covering W001001 and W001002 does not cover.
    assert any(
        w == "tree.yaml orgs item 4" and f"area {building_code('B4')}" in m and "W-N-G1" in m for w, _, m in found
    )


def test_an_organisation_without_areas_inherits_its_parents_scope(world: PartyWorld):
    service.create_org(
        db=world.db, actor=OP, data=org(code="W-N-G3", name="流动党员网格党支部", level="grid", parent="W-N")
    )
    assert paths(world)["W-N-G3"] == ("/W-DGW/W-N/W-N-G3/", f"/410105/{W}/{W_N}/")
    found = service.get_org(db=world.db, actor=world.actor("secretary"), code="W-N-G3")
    assert found.areas == []


def test_a_move_that_leaves_a_child_outside_its_parents_areas_is_refused(world: PartyWorld):
    # W-N-G2 covers grid W001003: the building group moves there with building B4, but its 党员中心户 covers B1.
    with pytest.raises(InputError) as error:
        service.update_org(
            db=world.db, actor=OP, code="W-N-G1-B1", data=OrgUpdate(parent="W-N-G2", areas=[building_code("B4")])
        )
    assert issues_of(error) == [
        (
            "body",
            "areas",
            f"its child W-N-G1-B1-H1 covers area {building_code('B1')} (B1号楼), outside the areas given "
            f"({building_code('B4')})",
        )
    ]
    assert paths(world)["W-N-G1-B1"][0] == "/W-DGW/W-N/W-N-G1/W-N-G1-B1/"


def test_moving_a_subtree_carries_it_along(world: PartyWorld):
    service.update_org(
        db=world.db, actor=OP, code="W-N-G1-B1-H1", data=OrgUpdate(areas=[])
    )  # the household now inherits B1's path from its group
    service.update_org(
        db=world.db, actor=OP, code="W-N-G1-B1", data=OrgUpdate(parent="W-N-G2", areas=[building_code("B4")])
    )
    found = paths(world)
    assert found["W-N-G1-B1"] == ("/W-DGW/W-N/W-N-G2/W-N-G1-B1/", f"/410105/{W}/{W_N}/{W_N}003/{building_code('B4')}/")
    assert found["W-N-G1-B1-H1"] == (
        "/W-DGW/W-N/W-N-G2/W-N-G1-B1/W-N-G1-B1-H1/",
        f"/410105/{W}/{W_N}/{W_N}003/{building_code('B4')}/",
    )


def test_changing_a_level_that_strands_children_is_refused(world: PartyWorld):
    doc = tree_document()
    changed = [o if o.code != "W-N" else o.model_copy(update={"level": OrgLevel.grid, "kind": None}) for o in doc.orgs]
    with pytest.raises(InputError) as error:
        service.import_document(db=world.db, document=PartyTreeDocument(orgs=changed), source="t.yaml")
    text = str(error.value)
    assert "t.yaml orgs item 2 (code W-N), parent: parent W-DGW is a street" in text
    assert "t.yaml orgs item 3 (code W-N-G1), parent: parent W-N is a grid" in text


def test_reimporting_the_same_tree_changes_nothing(world: PartyWorld):
    report = service.import_document(db=world.db, document=tree_document(), source="again")
    assert report.created == [] and report.updated == [] and len(report.unchanged) == 10


def test_an_import_updates_by_code_and_keeps_organisations_missing_from_the_file(world: PartyWorld):
    doc = PartyTreeDocument(
        orgs=[
            org(code="W-S", name="经八南社区党总支", level="community", kind="党总支", parent="W-DGW", areas=[W_S]),
            org(code="W-S-G2", name="经八南社区第二网格党支部", level="grid", parent="W-S", areas=[f"{W_S}002"]),
        ]
    )
    report = service.import_document(db=world.db, document=doc, source="s.yaml")
    assert (report.created, report.updated, report.unchanged) == (["W-S-G2"], ["W-S"], [])
    assert world.db.scalar(select(func.count()).select_from(PartyOrg)) == 11
    w_s = service.get_org(db=world.db, actor=OP, code="W-S")
    assert (w_s.name, w_s.kind) == ("经八南社区党总支", OrgKind.general_branch)


def test_a_secretary_edits_only_their_communitys_tree(world: PartyWorld):
    secretary = world.actor("secretary")
    created = service.create_org(
        db=world.db,
        actor=secretary,
        data=org(code="W-N-G4", name="经八北社区第四网格党支部", level="grid", parent="W-N", areas=[f"{W_N}004"]),
    )
    assert created.area_path == f"/410105/{W}/{W_N}/{W_N}004/"
    # Another community's tree: the parent is not theirs to see, the area not theirs to cover.
    with pytest.raises(InputError) as error:
        service.create_org(
            db=world.db,
            actor=secretary,
            data=org(code="W-S-G9", name="越权", level="grid", parent="W-S", areas=[f"{W_S}003"]),
        )
    assert ("body", "parent", "unknown parent 'W-S' (not in the file nor in the register)") in issues_of(error)
    with pytest.raises(NotFoundError):
        service.update_org(db=world.db, actor=secretary, code="W-S-G1", data=OrgUpdate(name="改名"))
    with pytest.raises(NotFoundError):
        service.update_org(db=world.db, actor=secretary, code="W-DGW", data=OrgUpdate(name="改名"))
    # Their own community's organisation may hang under the street's 党工委, which they cannot otherwise see.
    service.update_org(db=world.db, actor=secretary, code="W-N", data=OrgUpdate(secretary="新书记"))
    # A street user cannot build in another street.
    with pytest.raises(InputError) as error:
        service.create_org(
            db=world.db,
            actor=world.actor("street"),
            data=org(code="E-S", name="越界社区党组织", level="community", parent="E-DGW", areas=[f"{E}002"]),
        )
    assert any(f == "parent" for _, f, _ in issues_of(error))


def test_a_street_user_may_not_create_an_organisation_without_an_area_in_their_street(world: PartyWorld):
    with pytest.raises(InputError) as error:
        service.create_org(
            db=world.db, actor=world.actor("street"), data=org(code="R", name="无区域党工委", level="street")
        )
    assert issues_of(error) == [
        ("body", "areas", "the organisation would lie outside your area (no area); give it areas in your area")
    ]


def test_writes_are_audited(world: PartyWorld):
    service.create_org(
        db=world.db,
        actor=world.actor("secretary"),
        data=org(code="W-N-G4", name="第四网格党支部", level="grid", parent="W-N", areas=[f"{W_N}004"]),
        source_address="10.0.0.9",
    )
    service.update_org(db=world.db, actor=world.actor("secretary"), code="W-N-G4", data=OrgUpdate(secretary="赵"))
    service.delete_org(db=world.db, actor=world.actor("secretary"), code="W-N-G4")
    entries = list(
        world.db.scalars(select(AuditEntry).where(AuditEntry.action.like("party.org.%")).order_by(AuditEntry.id))
    )
    assert [(e.action, e.target_id, e.actor_name) for e in entries[-3:]] == [
        ("party.org.create", "W-N-G4", "secretary 用户"),
        ("party.org.update", "W-N-G4", "secretary 用户"),
        ("party.org.delete", "W-N-G4", "secretary 用户"),
    ]
    assert entries[-3].source_address == "10.0.0.9"


def test_an_organisation_with_children_or_members_is_not_deleted(world: PartyWorld):
    with pytest.raises(Conflict, match="1 child organisations"):
        service.delete_org(db=world.db, actor=OP, code="W-S")
    service.create_member(
        db=world.db,
        actor=OP,
        data=MemberCreate(name="测试党员", org="W-S-G1", joined_on="2010-07-01"),
    )
    with pytest.raises(Conflict, match="1 members"):
        service.delete_org(db=world.db, actor=OP, code="W-S-G1")
    service.delete_org(db=world.db, actor=OP, code="E-N")
    assert world.db.scalar(select(PartyOrg.id).where(PartyOrg.code == "E-N")) is None


def test_the_export_reads_back_as_the_same_tree(world: PartyWorld):
    document = service.export_tree(db=world.db, actor=OP)
    assert [o.code for o in document.orgs][:3] == ["E-DGW", "E-N", "W-DGW"]
    w_g1 = next(o for o in document.orgs if o.code == "W-N-G1")
    assert (w_g1.parent, w_g1.areas, w_g1.kind) == ("W-N", [f"{W_N}001", f"{W_N}002"], OrgKind.branch)
    report = service.import_document(db=world.db, document=document, source="export")
    assert len(report.unchanged) == 10 and not report.updated
    # A secretary's export holds only their community's part.
    mine = service.export_tree(db=world.db, actor=world.actor("secretary"))
    assert {o.code for o in mine.orgs} == {"W-N", "W-N-G1", "W-N-G1-B1", "W-N-G1-B1-H1", "W-N-G2"}
    assert E_N not in str(mine)
