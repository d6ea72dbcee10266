"""The social-governance groups (9+X) residents are tagged with: the shipped ones and a district's own "X" ones.

The shipped definitions are written into `people_tag` by migration 0008 (with the same rows as `BUILTIN_TAGS`; a
test keeps them equal) and `sync_builtin` adds any that a later version ships. The sensitivity (分级) of each
decides who sees that a resident carries it (privacy.TAG_VISIBILITY): care groups are internal or sensitive,
groups tied to criminal justice, health or drugs are core — visible to the community secretary only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core.errors import Conflict, Invalid, NotFoundError
from gridgov.core.models import fill_defaults
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.people import privacy
from gridgov.domains.people.enums import Sensitivity
from gridgov.domains.people.models import Tag

CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True, slots=True)
class TagDefinition:
    """A shipped tag: code, Chinese name, sensitivity and what it covers."""

    code: str
    name: str
    sensitivity: Sensitivity
    description: str


PUB, INT, SEN, CORE = Sensitivity.public, Sensitivity.internal, Sensitivity.sensitive, Sensitivity.core
BUILTIN_TAGS: tuple[TagDefinition, ...] = (
    # Roles residents hold in their community: nothing to protect.
    TagDefinition("volunteer", "志愿者", PUB, "registered community volunteer (注册志愿者)"),
    TagDefinition("building_leader", "楼栋长", PUB, "building or stairway leader (楼栋长/单元长)"),
    # Care groups (关爱对象): staff need them to visit and help; not for outsiders.
    TagDefinition("empty_nest_elderly", "空巢老人", INT, "elderly living without their children (空巢)"),
    TagDefinition("elderly_alone", "独居老人", INT, "elderly living alone (独居)"),
    TagDefinition("oldest_old", "高龄老人", INT, "aged 80 or over (高龄)"),
    TagDefinition("left_behind_child", "留守儿童", INT, "child whose parents both work away (留守)"),
    TagDefinition("veteran", "退役军人", INT, "retired or demobilised serviceman or -woman (退役军人)"),
    TagDefinition("entitled_group", "优抚对象", INT, "entitled to special care: martyrs' families, disabled veterans"),
    # Social assistance and disability: sensitive personal data (economic situation, health).
    TagDefinition("subsistence_allowance", "低保户", SEN, "receives the minimum living allowance (最低生活保障)"),
    TagDefinition("extreme_poverty", "特困人员", SEN, "supported under the extreme-poverty scheme (特困供养)"),
    TagDefinition("disabled", "残疾人", SEN, "holds a disability certificate (残疾人证)"),
    TagDefinition("child_in_difficulty", "困境儿童", SEN, "child in difficulty (困境儿童)"),
    TagDefinition(
        "key_youth", "重点青少年", SEN, "youth needing attention: out of school, unemployed, without guardian"
    ),
    # The special groups of social governance (特殊人群): criminal records, health, drugs — core.
    TagDefinition("community_correction", "社区矫正人员", CORE, "serving a community correction (社区矫正)"),
    TagDefinition(
        "released_prisoner", "刑满释放人员", CORE, "released from prison within the follow-up period (安置帮教)"
    ),
    TagDefinition(
        "severe_mental_disorder", "严重精神障碍患者", CORE, "registered patient with a severe mental disorder"
    ),
    TagDefinition("drug_user", "吸毒人员", CORE, "under community drug rehabilitation or follow-up (社区戒毒/康复)"),
    TagDefinition("aids_risk", "艾滋病危险人员", CORE, "person at risk for HIV/AIDS under follow-up"),
    TagDefinition("key_petitioner", "重点信访人员", CORE, "petitioner under follow-up (重点信访)"),
    TagDefinition("cult_member", "邪教人员", CORE, "person under follow-up for cult membership"),
)


def list_tags(*, db: Session, actor: Actor | None = None, include_inactive: bool = False) -> list[Tag]:
    """Returns the tag definitions (only those the actor may see, when given), by sensitivity then code."""
    stmt = select(Tag)
    if not include_inactive:
        stmt = stmt.where(Tag.is_active.is_(True))
    if actor is not None:
        stmt = stmt.where(Tag.sensitivity.in_(privacy.visible_sensitivities(actor)))
    order = {level: index for index, level in enumerate(Sensitivity)}
    return sorted(db.scalars(stmt), key=lambda tag: (order[tag.sensitivity], tag.code))


def get_by_code(*, db: Session, code: str) -> Tag:
    """Returns the tag with `code` (or with that Chinese name); raises NotFoundError."""
    text = code.strip()
    tag = (
        db.scalars(select(Tag).where(Tag.code == text)).first()
        or db.scalars(select(Tag).where(Tag.name == text)).first()
    )
    if tag is None:
        raise NotFoundError(f"unknown tag {text!r}")
    return tag


def create_tag(*, db: Session, code: str, name: str, sensitivity: Sensitivity, description: str | None = None) -> Tag:
    """Adds a district's own tag (an "X" group); raises Invalid for a bad code, Conflict for a taken code or name."""
    code, name = code.strip(), name.strip()
    if not CODE_RE.match(code):
        raise Invalid(f"tag code {code!r}: 2-32 lower-case letters, digits or _, starting with a letter", field="code")
    if not name or len(name) > 50:
        raise Invalid("a tag needs a name of at most 50 characters", field="name")
    if db.scalars(select(Tag).where((Tag.code == code) | (Tag.name == name))).first() is not None:
        raise Conflict(f"a tag with code {code!r} or name {name!r} exists already", code="tag_exists")
    tag = fill_defaults(Tag(code=code, name=name, sensitivity=sensitivity, description=description))
    db.add(tag)
    db.flush()
    return tag


def set_active(*, db: Session, code: str, active: bool) -> Tag:
    """Retires a tag (no new residents get it; those who carry it keep it) or brings it back."""
    tag = get_by_code(db=db, code=code)
    tag.is_active = active
    db.flush()
    return tag


def sync_builtin(*, db: Session) -> int:
    """Adds the shipped tags the database lacks (a newer version's); returns how many were added."""
    known = set(db.scalars(select(Tag.code)))
    added = 0
    for definition in BUILTIN_TAGS:
        if definition.code in known:
            continue
        db.add(
            fill_defaults(
                Tag(
                    code=definition.code,
                    name=definition.name,
                    sensitivity=definition.sensitivity,
                    description=definition.description,
                    is_builtin=True,
                )
            )
        )
        added += 1
    db.flush()
    return added
