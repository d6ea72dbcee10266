"""Enumerations of the case lifecycle."""

from enum import StrEnum


class Channel(StrEnum):
    """Where a case came from (来源渠道)."""

    patrol = "patrol"  # 网格员巡查
    snapshot = "snapshot"  # 市民随手拍
    hotline = "hotline"  # 12345 热线
    open311 = "open311"  # Open311 GeoReport v2 clients
    iot = "iot"  # 物联感知
    video = "video"  # 视频 AI
    assignment = "assignment"  # 领导交办
    discovered = "discovered"  # 高频事项 found by triage


PUBLIC_CHANNELS = frozenset({Channel.snapshot, Channel.open311, Channel.hotline})


class CaseStage(StrEnum):
    """Where a case is in its lifecycle (the state machine's states)."""

    reported = "reported"  # 上报, awaiting 受理
    verifying = "verifying"  # 核实: a grid worker checks a public report on site
    registered = "registered"  # 立案: in a centre's dispatch queue
    rejected = "rejected"  # 不予立案 / 作废
    merged = "merged"  # 并单 into a parent case
    dispatched = "dispatched"  # 派遣: with a handling unit, not yet signed
    signed = "signed"  # 签收
    returned = "returned"  # 回退: back in the centre's queue
    handling = "handling"  # 处置中
    handled = "handled"  # 处置完成, awaiting 核查
    closed = "closed"  # 结案


TERMINAL_STAGES = frozenset({CaseStage.rejected, CaseStage.merged, CaseStage.closed})
OPEN_STAGES = frozenset(CaseStage) - TERMINAL_STAGES


class Action(StrEnum):
    """Everything that can happen to a case; each is one event in its log."""

    report = "report"
    self_handle = "self_handle"  # 即时处置: reported and handled on the spot
    confirm = "confirm"  # 核实属实
    register = "register"  # 立案
    reject = "reject"  # 不予立案
    merge = "merge"  # 并单
    reclassify = "reclassify"  # 改类: the dispatcher corrects the matter type before dispatch
    dispatch = "dispatch"  # 派遣
    sign = "sign"  # 签收
    return_ = "return"  # 回退
    start = "start"  # 开始处置
    finish = "finish"  # 处置反馈
    verify = "verify"  # 核查通过 → 结案
    rework = "rework"  # 核查不通过 → 返工
    request_extension = "request_extension"  # 申请延期
    decide_extension = "decide_extension"  # 审批延期
    request_suspension = "request_suspension"  # 申请挂账
    decide_suspension = "decide_suspension"  # 审批挂账
    resume = "resume"  # 挂账恢复
    supervise = "supervise"  # 督办
    escalate = "escalate"  # 提级
    rate = "rate"  # 回访评价
    reopen = "reopen"  # 不满意重办
    rule_reasonableness = "rule_reasonableness"  # 诉求合理性认定
    note = "note"  # a note with no change of stage (e.g. an alarm cleared)
    warn = "warn"  # SLA warning crossed (system)
    overdue = "overdue"  # SLA breached (system)


class Satisfaction(StrEnum):
    """The reporter's rating after closure (回访)."""

    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    unsatisfied = "unsatisfied"


class Reasonableness(StrEnum):
    """A ruling on a request (诉求合理性认定); unreasonable cases are excluded from area scores but kept."""

    reasonable = "reasonable"
    unreasonable = "unreasonable"


class CaseFlag(StrEnum):
    """Something about a case a dispatcher should look at before trusting it."""

    photo_far_from_location = "photo_far_from_location"  # a photo's EXIF GPS is far from the reported point
    photo_without_gps = "photo_without_gps"  # a grid worker's photo carries no GPS (informational)


class AttachmentKind(StrEnum):
    """What a photo or file documents."""

    report = "report"  # the problem as reported
    before = "before"  # before handling
    after = "after"  # after handling (evidence)
    verification = "verification"  # taken when verifying
    other = "other"
