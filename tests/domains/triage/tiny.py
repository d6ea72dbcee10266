"""A small trained model over the synthetic world's matter types, trained once per test process."""

from __future__ import annotations

import functools
import random

import pytest

from gridgov.config import get_settings
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.triage.model import train

ADMIN = Actor(name="admin", role=Role.admin)
PLACES = ["经三路", "纬五路口", "农业路", "花园路", "小区门口", "学校旁边", "菜市场", "公交站", "东风路", "红专路"]
# Words that tell each of the world's matter types apart, and fillers every report may carry.
THEMES = {
    "SJ0102": ["垃圾", "生活垃圾", "垃圾堆", "垃圾没人清理", "垃圾乱扔", "一堆垃圾发臭"],
    "SJ0501": ["摆摊", "占道经营", "小贩摆摊", "流动摊贩", "出摊卖菜", "摊位占道"],
    "BJ0101": ["自来水井盖", "供水井盖", "井盖丢失", "自来水阀门井盖破损", "供水井盖下陷"],
    "ZZ0101": ["邻里纠纷", "吵架", "邻居争吵", "矛盾纠纷", "两户闹矛盾", "纠纷调解"],
}
FILLERS = ["", "，影响通行", "，好几天了", "，请尽快处理", "，居民意见很大", "，晚上尤其严重"]


def texts_and_labels(per_class: int = 24, seed: int = 7) -> tuple[list[str], list[str]]:
    chance = random.Random(seed)
    texts, labels = [], []
    for label, words in THEMES.items():
        for _ in range(per_class):
            texts.append(f"{chance.choice(PLACES)}{chance.choice(words)}{chance.choice(FILLERS)}")
            labels.append(label)
    return texts, labels


@functools.cache
def tiny_model() -> bytes:
    """Returns the bytes of a model trained on `texts_and_labels()` (labels: the world's matter type codes)."""
    texts, labels = texts_and_labels()
    return train(texts, labels, search=False).to_bytes()


def set_min_confidence(monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    """Sets GRIDGOV_AUTO_DISPATCH_MIN_CONFIDENCE for one test (the process settings the services read)."""
    monkeypatch.setattr(get_settings(), "auto_dispatch_min_confidence", value)
