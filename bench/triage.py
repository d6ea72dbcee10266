"""Benchmarks of triage, one block per measurement:

    .venv/bin/python bench/triage.py [--quick] [--messages N]

1. Prediction throughput of the default model (trained from the demo corpus, as `gridgov demo load` stores
   it): texts/s of `Classifier.predict` (clean, vectorise, probabilities, top 3) against the bare scikit-learn
   pipeline it wraps (`pipeline.predict_proba` on the same texts, no cleaning, no ranking), in a batch of all
   corpus texts and one text at a time; ratio = ours / bare (> 1: faster than the bare pipeline). Explanations
   (the words that drove it) are measured apart, as intake asks for them.
2. Hotspot discovery (高频事项): `hotspots.find_hotspots` on N generated messages (default 100,000; --quick
   10,000) over a 30-day window, one run. The messages are realistic: each is spliced from clauses of two demo
   corpus descriptions of one matter type (src/gridgov/demo/data/triage/corpus-*.yaml), with road names
   swapped, hotline boilerplate added and 70 % placed at random in a 20 km square. Among them are 60 planted
   problems of 10–80 reports each: one corpus description told again and again with small edits (boilerplate, one
   clause dropped, a short detail added), in a few days, at one place (within 200 m) or without coordinates.
   Prints n, the hotspots found, seconds, and the planted problems' recall and precision (each planted problem
   against the hotspot holding most of its reports).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from gridgov.domains.triage.hotspots import HotspotOptions, Message, find_hotspots

CORPUS_DIR = Path(__file__).resolve().parents[1] / "src" / "gridgov" / "demo" / "data" / "triage"
TZ = dt.timezone(dt.timedelta(hours=8))
END = dt.datetime(2026, 11, 27, 18, 0, tzinfo=TZ)
START = END - dt.timedelta(days=30)
LNG0, LAT0 = 113.55, 34.70
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LNG = 111_320.0 * math.cos(math.radians(LAT0))
ROADS = (
    "经三路 纬五路 金水路 东三街 北林路 花园路 文化路 红专路 丰产路 南阳路 黄河路 政七街 国基路 丰庆路 杨金路 博学路 "
    "东风路 天明路 宏达路 索凌路 兴达路 杜岭街 姚砦路 沙口路 农业路 健康路 经八路 纬一路 人民路 顺河路 城东路 "
    "未来路 中州大道 航海路 商都路 郑汴路 陇海路 嵩山路 桐柏路 建设路"
).split()
PREFIXES = ("", "", "", "市民来电反映：", "来电人称", "巡查发现", "网友留言：", "诉求人反映，", "12345转办：")
REQUESTS = ("", "", "", "请尽快处理。", "诉求：尽快解决。", "希望有关部门管管。", "麻烦派人来看看。")
CLAUSE = re.compile(r"[^，。；！？,;!?]+[，。；！？,;!?]?")
ROAD = re.compile("|".join(sorted(ROADS, key=len, reverse=True)))
DIGITS = re.compile(r"\d+")
LANDMARKS = ("{road}{n}号附近", "{road}往东{n}米", "{n}号楼下", "{road}与{other}交叉口", "{road}一带", "在{road}上")
PLANTED = 60


@dataclass
class History:
    """Generated messages and the member ids of each planted problem."""

    messages: list[Message]
    planted: list[set[str]]


def corpus() -> dict[str, list[str]]:
    """Returns the demo corpus (matter code → descriptions), or a small built-in one when it is absent."""
    texts: dict[str, list[str]] = {}
    for path in sorted(CORPUS_DIR.glob("corpus-*.yaml")):
        for code, items in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            texts.setdefault(str(code), []).extend(str(t) for t in items)
    if texts:
        return texts
    things = ("井盖", "路灯", "垃圾桶", "护栏", "广告牌", "下水道", "消防栓", "公厕")
    faults = ("坏了很久", "缺失没人管", "松动摇晃", "破损严重", "堵塞发臭", "倒在路边")
    return {
        f"T{i}": [f"{road}附近的{thing}{fault}，行人经过很危险。" for road in ROADS for fault in faults]
        for i, thing in enumerate(things)
    }


def _clauses(text: str) -> list[str]:
    return [c for c in CLAUSE.findall(text) if c.strip()]


def _point(rng: random.Random, x_m: float, y_m: float) -> tuple[float, float]:
    return LNG0 + x_m / M_PER_DEG_LNG, LAT0 + y_m / M_PER_DEG_LAT


def _time(rng: random.Random) -> dt.datetime:
    return START + dt.timedelta(seconds=rng.uniform(0, (END - START).total_seconds()))


def _vary(rng: random.Random, clause: str) -> str:
    """Returns a clause told of another place: road names swapped, numbers changed, sometimes a landmark added."""
    clause = ROAD.sub(lambda _m: rng.choice(ROADS), clause)
    clause = DIGITS.sub(lambda _m: str(rng.randint(1, 300)), clause)
    if rng.random() < 0.4:
        road, other = rng.sample(ROADS, 2)
        clause = rng.choice(LANDMARKS).format(road=road, other=other, n=rng.randint(1, 300)) + clause
    return clause


def _edit(rng: random.Random, text: str, extra: list[str]) -> str:
    """Returns a paraphrase of `text`: new boilerplate, maybe one clause dropped or one added."""
    clauses = _clauses(text)
    if len(clauses) > 2 and rng.random() < 0.3:
        clauses.pop(rng.randrange(1, len(clauses)))
    if extra and rng.random() < 0.3:
        # A short detail another report of the type also gives (a long one would make it another story).
        short = [c for c in _clauses(rng.choice(extra)) if len(c) <= 12]
        if short:
            clauses.append(rng.choice(short))
    body = "".join(clauses)
    for prefix in PREFIXES:
        if prefix:
            body = body.removeprefix(prefix)
    return rng.choice(PREFIXES) + body + rng.choice(REQUESTS)


def generate(n: int, seed: int = 1) -> History:
    """Returns `n` messages: spliced corpus descriptions around PLANTED planted problems."""
    rng = random.Random(seed)
    texts = corpus()
    codes = sorted(texts)
    planted_bases: list[tuple[str, str]] = []
    for code in rng.sample(codes, min(PLANTED, len(codes))):
        planted_bases.append((code, rng.choice(texts[code])))
    while len(planted_bases) < PLANTED:
        code = rng.choice(codes)
        planted_bases.append((code, rng.choice(texts[code])))
    used = {base for _, base in planted_bases}
    pool = {code: [t for t in items if t not in used] or items for code, items in texts.items()}
    messages: list[Message] = []
    planted: list[set[str]] = []
    for number, (code, base) in enumerate(planted_bases):
        size = rng.randint(10, 80)
        located = rng.random() < 0.6
        centre = (rng.uniform(0, 20_000), rng.uniform(0, 20_000))
        # A burst: the reports fall in a few days somewhere in the window.
        burst_start = rng.uniform(0, 25)
        ids = set()
        for k in range(size):
            ident = f"p{number}-{k}"
            lng, lat = (
                _point(rng, centre[0] + rng.uniform(-200, 200), centre[1] + rng.uniform(-200, 200))
                if located
                else (None, None)
            )
            at = START + dt.timedelta(days=burst_start + rng.uniform(0, 5))
            messages.append(
                Message(
                    ident,
                    _edit(rng, base, pool[code]),
                    at,
                    lng,
                    lat,
                    likes=rng.choice((0, 0, 1, 3)),
                    matter=code,
                )
            )
            ids.add(ident)
        planted.append(ids)
    for k in range(max(0, n - len(messages))):
        code = rng.choice(codes)
        first, second = rng.choice(pool[code]), rng.choice(pool[code])
        a, b = _clauses(first), _clauses(second)
        cut_a, cut_b = rng.randint(1, max(1, len(a))), rng.randint(0, max(0, len(b) - 1))
        body = "".join(_vary(rng, clause) for clause in a[:cut_a] + b[cut_b:])
        located = rng.random() < 0.7
        lng, lat = _point(rng, rng.uniform(0, 20_000), rng.uniform(0, 20_000)) if located else (None, None)
        messages.append(
            Message(f"n{k}", rng.choice(PREFIXES) + body + rng.choice(REQUESTS), _time(rng), lng, lat, matter=code)
        )
    rng.shuffle(messages)
    return History(messages=messages[:n] if n < len(messages) else messages, planted=planted)


def bench_hotspots(n: int) -> None:
    """Times hotspot discovery on `n` generated messages and scores the planted problems."""
    history = generate(n)
    options = HotspotOptions()
    started, cpu = time.perf_counter(), time.process_time()
    found = find_hotspots(history.messages, start=START, end=END, options=options)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    recalls, precisions = [], []
    by_member: dict[str, int] = {}
    for index, hotspot in enumerate(found):
        for member in hotspot.member_ids:
            by_member[str(member)] = index
    for ids in history.planted:
        counts: dict[int, int] = {}
        for ident in ids:
            if ident in by_member:
                counts[by_member[ident]] = counts.get(by_member[ident], 0) + 1
        if not counts:
            recalls.append(0.0)
            precisions.append(0.0)
            continue
        best, hits = max(counts.items(), key=lambda item: item[1])
        recalls.append(hits / len(ids))
        precisions.append(hits / found[best].size)
    planted_found = sum(1 for r in recalls if r >= 0.9)
    print("\nHotspot discovery (find_hotspots, one run)")
    print(f"  messages                {len(history.messages):,} over 30 days ({len(history.planted)} planted problems)")
    settings = f"min size {options.min_size}, similarity {options.min_similarity}"
    print(f"  hotspots found          {len(found):,} ({settings})")
    print(f"  seconds                 {seconds:.1f} wall, {cpu:.1f} CPU (one process)")
    print(f"  planted recall          mean {sum(recalls) / len(recalls):.3f}, min {min(recalls):.3f}")
    print(f"  planted precision       mean {sum(precisions) / len(precisions):.3f}, min {min(precisions):.3f}")
    print(f"  planted found (≥ 0.9)   {planted_found} of {len(history.planted)}")


def _rate(run: Callable[[], object], count: int, min_seconds: float = 2.0) -> float:
    """Returns items per second of `run` (which handles `count` items), repeated for at least `min_seconds`."""
    run()  # warm: caches, the first numpy/scipy calls
    rounds, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds or rounds < 3:
        run()
        rounds += 1
    return rounds * count / elapsed


def bench_prediction(single: int) -> None:
    """Texts/s of the default model's predict vs the bare pipeline, in a batch and one text at a time."""
    from gridgov.domains.triage import demo
    from gridgov.domains.triage.model import Classifier

    classifier = Classifier.from_bytes(demo.default_model_bytes())
    texts = [text for text, _ in demo.corpus()]
    bare = classifier.pipeline
    ones = texts[:single]
    rows = [
        (f"batch of {len(texts)}", lambda: classifier.predict(texts), lambda: bare.predict_proba(texts), len(texts)),
        (
            "one text at a time",
            lambda: [classifier.predict([t]) for t in ones],
            lambda: [bare.predict_proba([t]) for t in ones],
            len(ones),
        ),
    ]
    print(f"\nPrediction throughput (default model: {len(classifier.labels)} labels, {_features(bare):,} features)")
    print(f"  {'':22}{'gridgov':>12}{'bare':>12}{'ratio':>8}")
    for name, ours, theirs, count in rows:
        mine, base = _rate(ours, count), _rate(theirs, count)
        print(f"  {name:22}{mine:>10,.0f}/s{base:>10,.0f}/s{mine / base:>8.2f}")
    explained = _rate(lambda: [classifier.predict([t], explain=5) for t in ones], len(ones))
    print(f"  {'with 5 explaining words':22}{explained:>10,.0f}/s (one text at a time, as intake asks)")


def _features(pipeline: object) -> int:
    union = pipeline.named_steps["features"]  # type: ignore[attr-defined]
    return sum(len(vectorizer.vocabulary_) for _, vectorizer in union.transformer_list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000, help="messages for hotspot discovery")
    parser.add_argument("--quick", action="store_true", help="10,000 messages")
    args = parser.parse_args()
    bench_prediction(200 if args.quick else 1000)
    bench_hotspots(10_000 if args.quick else args.messages)


if __name__ == "__main__":
    main()
