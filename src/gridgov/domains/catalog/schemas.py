"""Pydantic shapes of the catalogue: the file format a district maintains (YAML/XLSX) and the API reads."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from gridgov.domains.areas.enums import LEVEL_LABELS_ZH, AreaLevel
from gridgov.domains.catalog.enums import (
    MATTER_KIND_LABELS_ZH,
    STAGE_LABELS_ZH,
    TIME_UNIT_SUFFIX,
    UNIT_KIND_LABELS_ZH,
    URGENCY_LABELS_ZH,
    MatterKind,
    Stage,
    TimeUnit,
    UnitKind,
    Urgency,
)

if TYPE_CHECKING:
    from gridgov.domains.catalog.models import GridAccessEntry, MatterType, PowerItem, ResponsibilityRule, Unit

_LIMIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(wh|wd|h)\s*$")
_TRUE = frozenset({"yes", "y", "true", "t", "1", "on", "是", "√", "✓"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "off", "否", "×", "✗"})


def parse_limit(text: str) -> tuple[float, TimeUnit]:
    """Parses a time limit such as "4wh" (工作时), "2wd" (工作日) or "24h" (natural hours)."""
    match = _LIMIT_RE.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"time limit {text!r}: expected a positive number followed by wh, wd or h (e.g. 4wh)")
    return float(match.group(1)), TIME_UNIT_SUFFIX[match.group(2)]


def format_limit(amount: float, unit: TimeUnit) -> str:
    """Formats a time limit back into the file syntax ("4wh")."""
    suffix = next(s for s, u in TIME_UNIT_SUFFIX.items() if u == unit)
    return f"{amount:g}{suffix}"


def parse_flag(value: object) -> object:
    """Accepts yes/no, true/false, 1/0 and 是/否 for a yes/no field (XLSX cells are often typed by hand)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"expected yes/no, got {value!r}")


def _split_list(value: object) -> object:
    """Accepts a list or a comma-separated string (XLSX cells), with Chinese or Latin commas."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,，、;；]", value) if part.strip()]
    return value


def _check_limit(value: str) -> str:
    parse_limit(value)
    return value


def _enum_alias(enum: type[StrEnum], labels: dict[Any, str]) -> BeforeValidator:
    """Accepts an enum value in any letter case, or its Chinese label (一般 → normal)."""
    by_text = {label: member.value for member, label in labels.items()}
    by_text.update({member.value.casefold(): member.value for member in enum})

    def convert(value: object) -> object:
        if isinstance(value, str):
            return by_text.get(value.strip().casefold(), by_text.get(value.strip(), value))
        return value

    return BeforeValidator(convert)


StrList = Annotated[list[str], BeforeValidator(_split_list)]
Limit = Annotated[str, BeforeValidator(lambda v: str(v).strip()), AfterValidator(_check_limit)]
Flag = Annotated[bool, BeforeValidator(parse_flag)]
LevelIn = Annotated[AreaLevel, _enum_alias(AreaLevel, LEVEL_LABELS_ZH)]
UnitKindIn = Annotated[UnitKind, _enum_alias(UnitKind, UNIT_KIND_LABELS_ZH)]
MatterKindIn = Annotated[MatterKind, _enum_alias(MatterKind, MATTER_KIND_LABELS_ZH)]
UrgencyIn = Annotated[Urgency, _enum_alias(Urgency, URGENCY_LABELS_ZH)]
StageIn = Annotated[Stage, _enum_alias(Stage, STAGE_LABELS_ZH)]

SECTIONS: tuple[str, ...] = ("units", "matter_types", "responsibilities", "grid_access", "powers", "crosswalks")


class FileModel(BaseModel):
    """Base of the catalogue file rows: unknown keys are errors, blank values count as absent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, use_enum_values=False)

    @model_validator(mode="before")
    @classmethod
    def _drop_blanks(cls, data: Any) -> Any:
        # NOTE: an empty XLSX cell or `key: ~` in YAML means "not given", so the field's default applies.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and not v.strip())}
        return data


class UnitIn(FileModel):
    """A unit as written in a catalogue file."""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: UnitKindIn
    level: LevelIn
    function: str | None = Field(None, max_length=64, description="what the unit does, for rule resolution")
    parent: str | None = Field(None, description="code of the parent unit")
    area: str | None = Field(None, description="code of the area the unit serves")
    phone: str | None = Field(None, max_length=40)
    is_active: Flag = True


class MatterTypeIn(FileModel):
    """A matter type as written in a catalogue file; `time_limits` maps urgency → stage → limit."""

    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    kind: MatterKindIn
    major_code: str = Field(min_length=1, max_length=16)
    major_name: str = Field(min_length=1, max_length=100)
    minor_code: str = Field(min_length=1, max_length=16)
    register_condition: str | None = None
    close_condition: str | None = None
    default_urgency: UrgencyIn = Urgency.normal
    department_only: Flag = False
    evidence_required: Flag = True
    keywords: StrList = []
    is_active: Flag = True
    time_limits: dict[UrgencyIn, dict[StageIn, Limit]] = Field(
        default_factory=dict, description="urgency → stage → limit such as 4wh, 2wd or 24h"
    )


class TimeLimitRowIn(FileModel):
    """A row of the XLSX `time_limits` sheet (YAML nests the same data inside the matter type)."""

    matter: str = Field(min_length=1, description="matter type code")
    urgency: UrgencyIn
    stage: StageIn
    limit: Limit


class ResponsibilityIn(FileModel):
    """A responsibility-list row: matter type × area scope → handling unit (named, or by function at a level)."""

    matter: str = Field(description="matter type code")
    area: str | None = Field(None, description="area code of the scope; empty = everywhere")
    level: LevelIn
    unit: str | None = Field(None, description="code of a named handling unit")
    function: str | None = Field(None, description="unit function resolved at `level` in the case's area")
    co_units: StrList = []
    co_functions: StrList = []
    legal_basis: str | None = None


class GridAccessIn(FileModel):
    """A grid-access-list row: may the matter type be pushed down to grid and community units?"""

    matter: str
    area: str | None = None
    admitted: Flag
    basis: str | None = None


class PowerIn(FileModel):
    """A power-list row of a unit, with the matter types it covers."""

    code: str = Field(min_length=1, max_length=64)
    unit: str
    title: str = Field(min_length=1, max_length=300)
    category: str = Field(min_length=1, max_length=40)
    legal_basis: str | None = None
    matters: StrList = []


CROSSWALK_SOURCE_12345 = "12345"


class CrosswalkIn(FileModel):
    """A crosswalk row (分类对照): an external system's category → one of our matter types.

    The 12345 hotline sends its own 诉求分类 codes; this table says which matter type each one is, so a pushed
    or imported work order is classified, dispatched and timed like any other case.
    """

    source: str = Field(CROSSWALK_SOURCE_12345, min_length=1, max_length=32, description="external system")
    external_code: str = Field(min_length=1, max_length=64, description="the category code in that system")
    external_name: str | None = Field(None, max_length=200, description="its name there (市容环境/占道经营)")
    matter_type: str = Field(min_length=1, max_length=32, description="our matter type code")


class CatalogDocument(FileModel):
    """A whole catalogue file. Every section is optional; an import upserts what the file contains."""

    version: int = Field(1, ge=1, le=1, description="file format version")
    units: list[UnitIn] = []
    matter_types: list[MatterTypeIn] = []
    responsibilities: list[ResponsibilityIn] = []
    grid_access: list[GridAccessIn] = []
    powers: list[PowerIn] = []
    crosswalks: list[CrosswalkIn] = []

    # Where each item came from ("catalog.xlsx sheet units row 5"), so later checks can name the row.
    _locations: dict[tuple[str, int], str] = PrivateAttr(default_factory=dict)

    def set_location(self, section: str, index: int, where: str) -> None:
        """Records where item `index` of `section` was read from."""
        self._locations[(section, index)] = where

    def location(self, section: str, index: int) -> str | None:
        """Returns where item `index` of `section` was read from, if known."""
        return self._locations.get((section, index))

    def __eq__(self, other: object) -> bool:
        # NOTE: two documents with the same content are equal wherever they were read from.
        if not isinstance(other, CatalogDocument):
            return NotImplemented
        return self.model_dump() == other.model_dump()


# --- Import reports ---------------------------------------------------------------------------------------------


class SectionCount(BaseModel):
    """How many rows of one section an import created, updated, left unchanged (or, for time limits, deleted)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, *, created: bool, changed: bool) -> None:
        """Counts one row: created, else updated when it changed, else unchanged."""
        if created:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1


class CatalogReport(BaseModel):
    """What an import did, section by section."""

    source: str
    units: SectionCount = Field(default_factory=SectionCount)
    matter_types: SectionCount = Field(default_factory=SectionCount)
    time_limits: SectionCount = Field(default_factory=SectionCount)
    responsibilities: SectionCount = Field(default_factory=SectionCount)
    grid_access: SectionCount = Field(default_factory=SectionCount)
    powers: SectionCount = Field(default_factory=SectionCount)
    crosswalks: SectionCount = Field(default_factory=SectionCount)

    def sections(self) -> dict[str, SectionCount]:
        """Returns the counts by section name, in file order."""
        return {name: getattr(self, name) for name in (*SECTIONS[:2], "time_limits", *SECTIONS[2:])}


# --- API read models --------------------------------------------------------------------------------------------


class UnitRead(BaseModel):
    """A unit as the API lists it; `parent` and `area` are codes, as in the catalogue file."""

    code: str
    name: str
    kind: UnitKind
    level: AreaLevel
    function: str | None
    parent: str | None
    area: str | None
    phone: str | None
    is_active: bool

    @classmethod
    def of(cls, unit: Unit) -> UnitRead:
        """Builds the read model of `unit` (its parent and area should be loaded)."""
        return cls(
            code=unit.code,
            name=unit.name,
            kind=unit.kind,
            level=unit.level,
            function=unit.function,
            parent=unit.parent.code if unit.parent else None,
            area=unit.area.code if unit.area else None,
            phone=unit.phone,
            is_active=unit.is_active,
        )


class PowerRead(BaseModel):
    """A power-list row as the API shows it."""

    code: str
    unit: str
    unit_name: str
    title: str
    category: str
    legal_basis: str | None
    matters: list[str]

    @classmethod
    def of(cls, power: PowerItem) -> PowerRead:
        """Builds the read model of `power` (its unit and matter types should be loaded)."""
        return cls(
            code=power.code,
            unit=power.unit.code,
            unit_name=power.unit.name,
            title=power.title,
            category=power.category,
            legal_basis=power.legal_basis,
            matters=sorted(m.code for m in power.matter_types),
        )


class UnitDetail(UnitRead):
    """One unit with its direct sub-units and its power list."""

    parent_name: str | None
    area_name: str | None
    children: list[UnitRead]
    powers: list[PowerRead]


class TimeLimitRead(BaseModel):
    """One time limit of a matter type; `limit` is the file syntax ("4wh")."""

    urgency: Urgency
    stage: Stage
    amount: float
    unit: TimeUnit
    limit: str


class ResponsibilityRead(BaseModel):
    """A responsibility-list row as the API shows it; `area` None means the rule applies everywhere."""

    matter: str
    matter_name: str
    area: str | None
    area_name: str | None
    level: AreaLevel
    unit: str | None
    unit_name: str | None
    function: str | None
    co_units: list[str]
    co_functions: list[str]
    legal_basis: str | None

    @classmethod
    def of(cls, rule: ResponsibilityRule) -> ResponsibilityRead:
        """Builds the read model of `rule` (its matter type, area and unit should be loaded)."""
        return cls(
            matter=rule.matter_type.code,
            matter_name=rule.matter_type.name,
            area=rule.area.code if rule.area else None,
            area_name=rule.area.name if rule.area else None,
            level=rule.level,
            unit=rule.unit.code if rule.unit else None,
            unit_name=rule.unit.name if rule.unit else None,
            function=rule.unit_function,
            co_units=list(rule.co_unit_codes),
            co_functions=list(rule.co_unit_functions),
            legal_basis=rule.legal_basis,
        )


class GridAccessRead(BaseModel):
    """A grid-access-list row as the API shows it; `area` None means the entry applies everywhere."""

    matter: str
    area: str | None
    area_name: str | None
    admitted: bool
    basis: str | None

    @classmethod
    def of(cls, entry: GridAccessEntry) -> GridAccessRead:
        """Builds the read model of `entry` (its matter type and area should be loaded)."""
        return cls(
            matter=entry.matter_type.code,
            area=entry.area.code if entry.area else None,
            area_name=entry.area.name if entry.area else None,
            admitted=entry.admitted,
            basis=entry.basis,
        )


class MatterTypeRead(BaseModel):
    """A matter type as the API lists it (without its time limits and lists)."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str | None
    kind: MatterKind
    major_code: str
    major_name: str
    minor_code: str
    register_condition: str | None
    close_condition: str | None
    default_urgency: Urgency
    department_only: bool
    evidence_required: bool
    keywords: list[str]
    is_active: bool


class MatterTypeDetail(MatterTypeRead):
    """One matter type with its time limits, responsibility rules, grid access entries and powers."""

    time_limits: list[TimeLimitRead]
    responsibilities: list[ResponsibilityRead]
    grid_access: list[GridAccessRead]
    powers: list[PowerRead]

    @classmethod
    def of(
        cls,
        matter_type: MatterType,
        *,
        rules: list[ResponsibilityRule],
        grid_access: list[GridAccessEntry],
        powers: list[PowerItem],
    ) -> MatterTypeDetail:
        """Builds the detail of `matter_type` from its lists (its time limits should be loaded)."""
        base = MatterTypeRead.model_validate(matter_type).model_dump()
        limits = sorted(
            matter_type.time_limits, key=lambda t: (list(Urgency).index(t.urgency), list(Stage).index(t.stage))
        )
        return cls(
            **base,
            time_limits=[
                TimeLimitRead(
                    urgency=t.urgency, stage=t.stage, amount=t.amount, unit=t.unit, limit=format_limit(t.amount, t.unit)
                )
                for t in limits
            ],
            responsibilities=[ResponsibilityRead.of(rule) for rule in rules],
            grid_access=[GridAccessRead.of(entry) for entry in grid_access],
            powers=[PowerRead.of(power) for power in powers],
        )
