"""The 9+X tags: the migration ships exactly `BUILTIN_TAGS`, and a district adds its own "X" groups."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gridgov.core.errors import Conflict, Invalid
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.people import tags
from gridgov.domains.people.enums import Sensitivity
from gridgov.domains.people.models import Tag


def test_the_migration_ships_the_builtin_tags(db):
    stored = {t.code: (t.name, t.sensitivity, t.description, t.is_builtin) for t in db.scalars(select(Tag))}
    shipped = {d.code: (d.name, d.sensitivity, d.description, True) for d in tags.BUILTIN_TAGS}
    assert stored == shipped
    assert tags.sync_builtin(db=db) == 0
    assert {d.sensitivity for d in tags.BUILTIN_TAGS} == set(Sensitivity)
    core = {d.name for d in tags.BUILTIN_TAGS if d.sensitivity == Sensitivity.core}
    assert {"社区矫正人员", "刑满释放人员", "严重精神障碍患者", "吸毒人员"} <= core


def test_a_district_adds_its_own_tags_and_retires_them(db):
    tag = tags.create_tag(db=db, code="flood_risk", name="防汛重点户", sensitivity=Sensitivity.internal)
    assert not tag.is_builtin and tags.get_by_code(db=db, code="防汛重点户").id == tag.id
    with pytest.raises(Conflict):
        tags.create_tag(db=db, code="flood_risk", name="另一个", sensitivity=Sensitivity.public)
    with pytest.raises(Invalid):
        tags.create_tag(db=db, code="Bad Code", name="x", sensitivity=Sensitivity.public)
    tags.set_active(db=db, code="flood_risk", active=False)
    assert "flood_risk" not in {t.code for t in tags.list_tags(db=db)}
    leader = Actor(name="l", role=Role.district_leader)
    assert {t.sensitivity for t in tags.list_tags(db=db, actor=leader)} == {Sensitivity.public, Sensitivity.internal}
