"""Enumerations of video-AI alarms (视频智能分析告警)."""

from enum import StrEnum


class Feedback(StrEnum):
    """A dispatcher's judgement of a video-AI alarm, from which each algorithm's precision is reported."""

    true_positive = "true_positive"
    false_positive = "false_positive"
