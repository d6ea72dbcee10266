"""Text helpers every part of triage shares: cleaning, word segmentation (jieba) and stop words.

The classifier, duplicate scoring and hotspot discovery all read text through these two functions, so a
description is cleaned and segmented the same way wherever it is compared.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from pathlib import Path

import jieba

# Governance terms jieba's general dictionary splits (占道经营 → 占/道/经营): one per line, "word frequency".
LEXICON = Path(__file__).with_name("lexicon.txt")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[\w\u4e00-\u9fff]")
_READY = threading.Lock()
_initialised = False

# Words that say nothing about the problem: function words, and the boilerplate of hotline transcriptions
# (市民来电反映…诉求…) and patrol reports, which would otherwise make every message look alike.
STOPWORDS: frozenset[str] = frozenset(
    """
    的 了 在 是 我 有 和 就 不 人 都 一 一个 上 也 很 到 说 要 去 你 会 着 没有 看 好 自己 这 那 他 她 它 们 我们
    你们 他们 这个 那个 这里 那里 这边 那边 还 又 把 被 让 给 对 与 及 或 等 但 而 因为 所以 如果 已 已经 现在 目前
    一直 还是 非常 特别 比较 太 吧 呢 啊 吗 呀 哦 嘛 么 个 之 其 为 以 于 从 向 将 并 且 该 此 每 各 里 中 内 外
    后 前 时 时候 多 少 能 可以 可能 没 无 请 希望 要求 诉求 反映 来电 市民 来电人 称 表示 相关 部门 尽快 处理 解决
    问题 情况 经 核实 巡查 发现 存在 造成 导致 影响 附近 位置 地方 附件 照片 拍照 取证 谢谢 麻烦 帮忙 管管 一下
    """.split()
)


def _ensure_jieba() -> None:
    global _initialised
    if _initialised:
        return
    with _READY:
        if not _initialised:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            jieba.load_userdict(str(LEXICON))
            _initialised = True


def clean_text(value: object) -> str:
    """Returns the text normalised (NFKC: full-width letters and digits to half-width) with whitespace collapsed."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return _SPACE.sub(" ", text).strip()


def words(text: str) -> list[str]:
    """Returns the meaningful words of a cleaned text (jieba segmentation, without punctuation and stop words).

    Module-level so a fitted vectorizer that uses it as its tokenizer can be pickled into a model file.
    """
    _ensure_jieba()
    return [
        word
        for word in (token.strip().lower() for token in jieba.lcut(text))
        if word and word not in STOPWORDS and _WORD.search(word) and not word.isdigit()
    ]
