"""API shapes of triage: hotspots (高频事项) and, below, the classifier's models and suggestions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gridgov.domains.cases.enums import CaseStage
from gridgov.domains.cases.schemas import AppBase
from gridgov.domains.triage.enums import HotspotStatus, LabelTarget

# --- hotspots ---------------------------------------------------------------------------------------------------


# HotspotRead is one row of the list; HotspotDetail adds the members the caller may see; the commands are bodies.
class HotspotRead(AppBase):
    """A hotspot (高频事项) as the caller may see it: similar cases of one place (or without place) over the window,
    with its heat. Member ids and locations are those of the members the caller may see; size and heat are the
    whole hotspot's."""

    id: int
    status: HotspotStatus
    title: str = Field(
        description="the text of its most typical member; its keywords when the caller may not see that member"
    )
    keywords: list[str]
    size: int = Field(description="all members, seen or not")
    heat: float
    first_at: dt.datetime
    last_at: dt.datetime
    member_case_ids: list[int] = Field(description="the members the caller may see")
    hidden_members: int = Field(0, description="members outside the caller's scope: counted, not shown")
    locations: list[list[float]] = Field(description="[lng, lat] of the located members the caller may see")
    lng: float | None
    lat: float | None
    matter_type_id: int | None
    matter_type: str | None = Field(None, description="the matter type's code")
    street_id: int | None
    street: str | None = Field(None, description="the street's name")
    details: dict[str, Any] = Field(description="the heat's parts: size, supporters, growth, concentration ...")
    window_start: dt.datetime
    window_end: dt.datetime
    refreshed_at: dt.datetime
    case_id: int | None
    decided_by_user_id: int | None


class HotspotMember(AppBase):
    """A member case of a hotspot, as far as the caller may see it."""

    id: int
    number: str
    title: str
    stage: CaseStage
    reported_at: dt.datetime


class HotspotDetail(HotspotRead):
    """A hotspot with the member cases the caller may see (members outside the caller's scope are counted only)."""

    members: list[HotspotMember] = []


class HotspotNote(BaseModel):
    """The body of escalating (立为督办案件) or dismissing (忽略) a hotspot."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    note: str | None = Field(None, max_length=1000, description="why; escalation uses it as the supervision note")


class HotspotCase(BaseModel):
    """The case a hotspot became."""

    hotspot_id: int
    case_id: int
    number: str


class RefreshRead(BaseModel):
    """What a refresh did."""

    window_start: dt.datetime
    window_end: dt.datetime
    cases: int
    found: int
    created: int
    updated: int
    deleted: int
    already_decided: int
    seconds: float
    hotspot_ids: list[int]


# --- classifier: models and suggestions -------------------------------------------------------------------------


class ModelRead(BaseModel):
    """A stored model version: what it was trained on, how well it scored, whether intake uses it."""

    version: int
    active: bool
    sha256: str
    size_bytes: int
    label_target: LabelTarget = Field(description="what the labels name: matter types or handling units")
    labels: int
    unresolved: int = Field(description="labels the catalogue does not know (cases never get them)")
    training_size: int | None
    trained_at: str | None
    cv_macro_f1: float | None = Field(description="cross-validated macro-F1 at training (see docs/triage.md)")
    cv_accuracy: float | None
    note: str | None
    added_at: str
    activated_at: str | None


class ClassifyIn(BaseModel):
    """A text to classify with the active model (e.g. while a report is being written)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class Suggested(BaseModel):
    """One label the model suggests, resolved to the catalogue."""

    code: str
    name: str
    label: str = Field(description="the label as the model knows it (e.g. a 12345 category)")
    probability: float


class ClassifyRead(BaseModel):
    """The active model's suggestions for a text; `auto` tells whether a case would go out without a dispatcher."""

    model_version: int
    label_target: LabelTarget
    suggestions: list[Suggested]
    words: list[str] = Field(description="the words that drove the best suggestion, strongest first")
    confidence: float
    auto: bool = Field(description="confidence at or above GRIDGOV_AUTO_DISPATCH_MIN_CONFIDENCE")
