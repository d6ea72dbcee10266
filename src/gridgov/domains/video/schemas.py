"""Shapes of video AI: the webhook's alarm payload and answer, the algorithm file, feedback and the reports."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridgov.domains.video.enums import Feedback

MAX_BATCH = 100  # alarms in one webhook call
CODE_MAX = 64


class VideoBase(BaseModel):
    """Base of read models: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


# --- sources -------------------------------------------------------------------------------------------------------


class SourceRead(VideoBase):
    """A video-AI platform as listed (never its secret)."""

    id: int
    code: str
    name: str
    fold_window_s: float
    is_active: bool
    created_at: dt.datetime


class SourceSecret(BaseModel):
    """A source with its signing secret: shown once, when created or rotated."""

    source: SourceRead
    secret: str


# --- cameras -------------------------------------------------------------------------------------------------------


class CameraRead(VideoBase):
    """A camera: where it is, which grid, where it looks; the stream URL is a reference only."""

    id: int
    code: str
    name: str
    lng: float
    lat: float
    grid_id: int | None
    area_path: str
    direction: float | None
    stream_url: str | None
    owner_unit_id: int | None
    is_active: bool


class CameraPage(BaseModel):
    """One page of cameras."""

    items: list[CameraRead]
    total: int
    offset: int
    limit: int


class ImportReport(BaseModel):
    """What an import did, by code: created, updated, unchanged."""

    source: str
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)

    def summary(self, what: str) -> str:
        """Returns one line such as "cameras from cams.xlsx: 3 created, 1 updated, 0 unchanged"."""
        return (
            f"{what} from {self.source}: {len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )


# --- algorithm mappings (the file format of `gridgov video import-algorithms`) -----------------------------------


class AlgorithmIn(BaseModel):
    """One algorithm → matter type mapping, for one source (`source`) or, without it, for every source."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    source: str | None = Field(None, max_length=CODE_MAX, description="source code; empty = every source")
    algorithm_code: str = Field(min_length=1, max_length=CODE_MAX)
    name: str = Field(min_length=1, max_length=200)
    matter_type: str = Field(min_length=1, max_length=32, description="catalogue matter type code (事项编码)")
    min_confidence: float = Field(0.5, ge=0, le=1, description="alarms below this make no case")
    is_active: bool = True


class AlgorithmDocument(BaseModel):
    """An algorithm mapping file: `algorithms` is a list of AlgorithmIn."""

    model_config = ConfigDict(extra="forbid")

    version: int | str | None = None
    algorithms: list[AlgorithmIn] = Field(default_factory=list)


class AlgorithmRead(VideoBase):
    """A stored mapping."""

    id: int
    source_id: int | None
    algorithm_code: str
    name: str
    matter_type_id: int
    min_confidence: float
    is_active: bool


# --- the webhook ---------------------------------------------------------------------------------------------------


class AlarmIn(BaseModel):
    """One alarm as an algorithm platform posts it (validated item by item; see `service.parse_alarm`)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    id: str | None = Field(None, min_length=1, max_length=100, description="the platform's event id (retries)")
    camera: str = Field(min_length=1, max_length=CODE_MAX, description="camera code")
    algorithm: str = Field(min_length=1, max_length=CODE_MAX, description="algorithm code")
    confidence: float = Field(ge=0, le=1)
    bbox: list[float] | None = Field(None, description="[x, y, w, h], relative to the image (0..1)")
    time: AwareDatetime = Field(description="when the camera saw it, ISO 8601 with an offset")
    image: str | None = Field(None, description="the snapshot, base64 JPEG or PNG")
    image_url: str | None = Field(None, max_length=500, description="where the platform keeps the snapshot")


ItemStatus = Literal["alarm", "folded", "duplicate", "rejected"]


class AlarmItemResult(BaseModel):
    """What became of one alarm of a webhook call, in the order sent."""

    index: int
    id: str | None = None
    status: ItemStatus
    alarm_id: int | None = None
    case_id: int | None = None
    case_number: str | None = None
    reason: str | None = None  # a rejection's reason code (unknown_camera, bad_bbox ...)
    message: str | None = None


class AlarmBatchResult(BaseModel):
    """The answer to a webhook call: counts and one item per alarm."""

    received: int = 0
    new_alarms: int = 0
    folded: int = 0
    duplicates: int = 0
    rejected: int = 0
    cases_created: int = 0
    below_threshold: int = 0  # new alarms whose confidence made no case
    items: list[AlarmItemResult] = Field(default_factory=list)


# --- alarms, feedback, reports ------------------------------------------------------------------------------------


class VideoAlarmRead(VideoBase):
    """A video alarm: one camera and algorithm, its events folded within the source's window."""

    id: int
    source_id: int
    camera_id: int
    camera_code: str
    camera_name: str
    algorithm_code: str
    confidence: float
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    bbox: list[float] | None
    snapshot_sha256: str | None
    snapshot_url: str | None
    case_id: int | None
    feedback: Feedback | None
    feedback_by: int | None
    feedback_at: dt.datetime | None
    data: dict[str, Any]


class FeedbackIn(BaseModel):
    """A dispatcher's verdict on an alarm (误报 = false positive)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    verdict: Feedback
    note: str | None = Field(None, max_length=500)


class FeedbackResult(BaseModel):
    """The alarm after feedback, and whether its case was rejected because of it."""

    alarm: VideoAlarmRead
    previous: Feedback | None
    case_rejected: bool


PrecisionBy = Literal["algorithm", "camera"]


class PrecisionRow(BaseModel):
    """Precision of one algorithm or camera: TP / (TP + FP) over the alarms with a verdict."""

    key: str
    name: str
    alarms: int
    events: int
    with_feedback: int  # the sample: TP + FP
    true_positives: int
    false_positives: int
    precision: float | None  # None without any verdict
    below_threshold: int  # alarms that made no case


class PrecisionReport(BaseModel):
    """Per-algorithm or per-camera precision, worst first."""

    by: PrecisionBy
    since: dt.datetime | None
    until: dt.datetime | None
    formula: str
    rows: list[PrecisionRow]


class VideoStats(BaseModel):
    """Webhook counters of this process since it started, and the alarms in the caller's area."""

    counting_since: dt.datetime
    refused: dict[str, int]  # whole calls refused (401 by reason, 413, 422)
    rejected: dict[str, int]  # single alarms rejected, by reason
    accepted: int
    duplicates: int
    new_alarms: int
    folded: int
    cases_created: int
    below_threshold: int
    case_failures: int
    alarms: int
    alarms_with_case: int
    alarms_without_case: int
    true_positives: int
    false_positives: int
