"""Hotspot discovery, the pure algorithm: planted clusters found precisely, places split, heat ranks growth."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from gridgov.domains.triage import hotspots, text
from gridgov.domains.triage.hotspots import HotspotOptions, Message, find_hotspots, heat_score
from tests.domains.triage.hotspot_history import END, START, History, generate, offset


def _score(found: list[hotspots.Hotspot], history: History) -> dict[str, tuple[float, float]]:
    """Returns, per planted cluster, (precision, recall) of the hotspot holding most of its members."""
    scores = {}
    for key, members in history.planted.items():
        best = max(found, key=lambda h: len(members & {str(m) for m in h.member_ids}), default=None)
        hits = len(members & {str(m) for m in best.member_ids}) if best else 0
        scores[key] = (hits / best.size if best else 0.0, hits / len(members))
    return scores


@pytest.fixture(scope="module")
def history() -> History:
    return generate(seed=7)


@pytest.fixture(scope="module")
def found(history: History) -> list[hotspots.Hotspot]:
    return find_hotspots(history.messages, start=START, end=END)


def test_every_planted_cluster_is_found_precisely(history: History, found: list[hotspots.Hotspot]) -> None:
    scores = _score(found, history)
    assert set(scores) == {"manhole", "night-works", "oil", "lamp", "dog", "fire-lane-0", "fire-lane-1"}
    for key, (precision, recall) in scores.items():
        assert precision >= 0.9 and recall >= 0.9, (key, precision, recall)
    # Noise (500 reports made of random fragments) makes only a few small hotspots of its own.
    planted_ids = set().union(*history.planted.values())
    noise_only = [h for h in found if not {str(m) for m in h.member_ids} & planted_ids]
    assert len(noise_only) <= 4, [(h.size, h.title) for h in noise_only]


def test_the_same_text_at_two_places_5_km_apart_is_two_hotspots(history: History, found) -> None:
    halves = [history.planted["fire-lane-0"], history.planted["fire-lane-1"]]
    holding = [[h for h in found if {str(m) for m in h.member_ids} & half] for half in halves]
    assert [len(h) for h in holding] == [1, 1]
    first, second = holding[0][0], holding[1][0]
    assert first is not second
    assert first.centre is not None and second.centre is not None
    assert hotspots.EARTH_RADIUS_M * math.radians(abs(first.centre[1] - second.centre[1])) > 4000


def test_unlocated_members_join_the_place_and_text_only_clusters_have_no_centre(history, found) -> None:
    night = next(h for h in found if {str(m) for m in h.member_ids} & history.planted["night-works"])
    located = [m for m in history.messages if str(m.id) in history.planted["night-works"] and m.located]
    assert 0 < night.details["located"] == len(located) < night.size  # half the reports carry no coordinates
    oil = next(h for h in found if {str(m) for m in h.member_ids} & history.planted["oil"])
    assert oil.centre is None and oil.locations == [] and oil.details["located"] == 0


def test_a_hotspot_is_described_by_its_medoid_and_its_words(history: History, found) -> None:
    manhole = next(h for h in found if {str(m) for m in h.member_ids} & history.planted["manhole"])
    by_id = {m.id: m for m in history.messages}
    members = [by_id[i] for i in manhole.member_ids]
    # The title is one member's text (trimmed), that of the member most similar to all the others.
    vectors = hotspots.vectorize(hotspots.tokenize(m.text for m in history.messages))
    assert vectors is not None
    rows = [history.messages.index(m) for m in members]
    x = vectors.combined[rows]
    closeness = (x @ x.sum(axis=0).T).A.ravel()
    assert manhole.title == hotspots._title(members[int(closeness.argmax())].text)
    assert len(manhole.title) <= hotspots.TITLE_CHARS
    assert len(manhole.keywords) == 5 and "井口" in manhole.keywords
    assert not set(manhole.keywords) & text.STOPWORDS
    assert [m.at for m in members] == sorted(m.at for m in members)  # members in time order
    assert (manhole.first_at, manhole.last_at) == (members[0].at, members[-1].at)
    assert {"size", "supporters", "growth", "concentration", "cohesion", "heat"} <= set(manhole.details)
    assert manhole.details["cohesion"] >= 0.25  # the mean similarity of its pairs reaches the threshold
    # Which member the title quotes and which member stands at each location (a user seeing only some members
    # is shown only theirs).
    assert manhole.title_id == members[int(closeness.argmax())].id
    assert len(manhole.location_ids) == len(manhole.locations) == sum(1 for m in members if m.located)
    assert [(by_id[i].lng, by_id[i].lat) for i in manhole.location_ids] == manhole.locations


def test_blocks_and_their_merging_find_the_same_clusters(history: History, monkeypatch) -> None:
    # Small blocks force the path taken above BLOCK_MAX messages: SVD, k-means blocks, joining across blocks.
    monkeypatch.setattr(hotspots, "BLOCK_MAX", 300)
    monkeypatch.setattr(hotspots, "BLOCK_SIZE", 100)
    found = find_hotspots(history.messages, start=START, end=END)
    for key, (precision, recall) in _score(found, history).items():
        assert precision >= 0.9 and recall >= 0.9, (key, precision, recall)


# --- heat ---------------------------------------------------------------------------------------------------


def _burst(ident: str, days: list[float], text_: str, where: tuple[float, float] | None = None) -> list[Message]:
    lng, lat = offset(*where) if where else (None, None)
    return [Message(f"{ident}-{n}", text_, START + dt.timedelta(days=d), lng, lat) for n, d in enumerate(days)]


def test_heat_favours_the_growing_cluster_of_a_pair_of_equal_size() -> None:
    steady = _burst("steady", [1, 5, 9, 13, 17, 21, 25, 29], "文化路红专路口的路灯坏了好几盏，晚上漆黑一片")
    growing = _burst("growing", [22, 23, 24, 25, 26, 27, 28, 29], "东风路菜市场门口流动摊贩占道经营，堵塞交通")
    found = find_hotspots(steady + growing, start=START, end=END)
    assert [h.member_ids[0] for h in found] == ["growing-0", "steady-0"]
    grown, flat = found
    assert grown.size == flat.size == 8
    assert grown.details["growth"] > flat.details["growth"]
    assert grown.details["concentration"] > flat.details["concentration"]


def test_heat_score_follows_its_documented_formula() -> None:
    window = dt.timedelta(days=30)
    times = [START + dt.timedelta(days=d) for d in (10, 15, 20, 24, 26, 28)]  # 3 of 6 in the last quarter
    heat, parts = heat_score(times, likes=20, start=START, end=START + window)
    supporters = 6 + 0.5 * math.log(21)
    growth = (3 / 6) / 0.25
    concentration = 1 + (1 - 18 / 30)
    assert parts["supporters"] == round(supporters, 3)
    assert parts["growth"] == round(growth, 3) and parts["concentration"] == round(concentration, 3)
    assert heat == round(supporters * growth * concentration, 3)
    # A fading cluster (nothing in the last quarter) is halved, never zeroed; growth is capped at 3.
    _, fading = heat_score(times[:2], likes=0, start=START - dt.timedelta(days=20), end=START + window)
    assert fading["growth"] == 0.5
    _, burst = heat_score([START + window] * 5, likes=0, start=START, end=START + window)
    assert burst["growth"] == 3.0 and burst["concentration"] == 2.0


# --- edges --------------------------------------------------------------------------------------------------


def test_only_the_window_counts_and_small_inputs_find_nothing() -> None:
    cluster = _burst("c", [10, 11, 12, 13, 14], "小区门口的井盖丢了，井口敞开很危险")
    assert len(find_hotspots(cluster, start=START, end=END)) == 1
    later = START + dt.timedelta(days=12)
    assert find_hotspots(cluster, start=later, end=END) == []  # only 3 reports left in the window
    assert find_hotspots(cluster[:4], start=START, end=END) == []
    assert find_hotspots([], start=START, end=END) == []
    unrelated = [Message(i, t, START + dt.timedelta(days=i)) for i, t in enumerate("甲乙丙丁戊己")]
    assert find_hotspots(unrelated, start=START, end=END) == []  # no feature occurs twice
    with pytest.raises(ValueError, match="after its start"):
        find_hotspots(cluster, start=END, end=START)


def test_places_farther_apart_than_the_radius_are_split_and_small_places_dropped() -> None:
    text_ = "小区门口的井盖丢了，井口敞开很危险"
    here = _burst("here", [1, 2, 3, 4, 5], text_, (0, 0))
    there = _burst("there", [6, 7, 8], text_, (3000, 0))
    found = find_hotspots(here + there, start=START, end=END)
    assert [sorted(h.member_ids) for h in found] == [sorted(m.id for m in here)]
    # With a radius of 5 km the two places are one.
    wide = find_hotspots(here + there, start=START, end=END, options=HotspotOptions(radius_m=5000))
    assert [h.size for h in wide] == [8]


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        HotspotOptions(min_size=1)
    with pytest.raises(ValueError):
        HotspotOptions(min_similarity=1.0)
    with pytest.raises(ValueError):
        HotspotOptions(radius_m=0)
    with pytest.raises(ValueError):
        HotspotOptions(top=0)


def test_top_keeps_the_hottest(history: History) -> None:
    top = find_hotspots(history.messages, start=START, end=END, options=HotspotOptions(top=2))
    full = find_hotspots(history.messages, start=START, end=END)
    assert [h.member_ids for h in top] == [h.member_ids for h in full[:2]]


def test_tokenize_equals_the_shared_word_function() -> None:
    texts = [
        "市民来电反映：经三路纬五路口供水井盖缺失，诉求：尽快处理。",
        "Ａｂｃ１２３ 井盖é坏了①，ＡＢ_c。",
        "3号楼 2单元 电梯坏了 ~ WiFi信号差",
        "",
        "！！！",
        "市民来电反映：经三路纬五路口供水井盖缺失，诉求：尽快处理。",
    ]
    assert hotspots.tokenize(texts) == [text.words(text.clean_text(t)) for t in texts]


def test_a_lone_message_below_the_threshold_stays_alone() -> None:
    texts = ["井盖丢了，井口敞开很危险"] * 2 + ["井盖丢了，井口敞开，旁边的路灯也不亮，垃圾桶满了没人管"]
    vectors = hotspots.vectorize(hotspots.tokenize(texts))
    assert vectors is not None
    labels = np.array([0, 0, 1])
    assert hotspots._attach_singles(vectors.combined, labels, 0.99).tolist() == [0, 0, 1]
    assert hotspots._attach_singles(vectors.combined, labels, 0.3).tolist() == [0, 0, 0]
