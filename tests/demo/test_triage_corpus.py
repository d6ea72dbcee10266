"""The demo triage corpus: every demo matter type has enough varied descriptions to train the default model."""

from __future__ import annotations

from collections import Counter
from importlib import resources

import yaml

from gridgov.domains.triage import demo as triage_demo
from gridgov.domains.triage.text import clean_text


def _demo_matter_types() -> dict[str, str]:
    text = resources.files("gridgov.demo").joinpath("data/catalog.yaml").read_text(encoding="utf-8")
    return {m["code"]: m["name"] for m in yaml.safe_load(text)["matter_types"]}


def test_every_demo_matter_type_has_at_least_thirty_distinct_descriptions():
    pairs = triage_demo.corpus()
    counts = Counter(code for _, code in pairs)
    assert set(counts) == set(_demo_matter_types())
    assert min(counts.values()) >= 30
    texts = [clean_text(text) for text, _ in pairs]
    assert len(set(texts)) == len(texts), "a description appears twice"
    assert all(8 <= len(text) <= 200 for text in texts)


def test_descriptions_do_not_just_repeat_the_matter_type_name():
    names = _demo_matter_types()
    pairs = triage_demo.corpus()
    named = sum(names[code] in text for text, code in pairs)
    assert named / len(pairs) < 0.35  # mostly symptoms and paraphrases, as real reports are


def test_the_corpus_exports_as_csv_with_an_exports_column_names():
    lines = triage_demo.corpus_csv().splitlines()
    assert lines[0] == "问题描述,事项编码"
    assert len(lines) == len(triage_demo.corpus()) + 1
