"""Enumerations of duty (值班): what a notice is about and where each of its deliveries stands."""

from enum import StrEnum


class NoticeKind(StrEnum):
    """Why the on-duty staff of a centre are told about a case."""

    urgent = "urgent"  # 紧急/特急 case reported or registered
    overdue = "overdue"  # a stage's deadline passed (超期)


class DeliveryStatus(StrEnum):
    """Where one delivery of a notice (one notifier, one recipient) stands."""

    pending = "pending"  # waiting for its (next) attempt
    sending = "sending"  # claimed by a worker that is sending it now
    delivered = "delivered"
    failed = "failed"  # given up: attempts exhausted, or the outcome is unknown (never sent twice)
    skipped = "skipped"  # could not be addressed (no e-mail address on record ...)


NOTICE_KIND_LABELS_ZH = {NoticeKind.urgent: "紧急案件", NoticeKind.overdue: "超期案件"}
DELIVERY_STATUS_LABELS_ZH = {
    DeliveryStatus.pending: "待发送",
    DeliveryStatus.sending: "发送中",
    DeliveryStatus.delivered: "已送达",
    DeliveryStatus.failed: "失败",
    DeliveryStatus.skipped: "未发送",
}
