"""Precision and recall of duplicate suggestions on labelled pairs built from the demo corpus, and scoring speed.

    .venv/bin/python bench/duplicates.py [--pairs N] [--seed S]

Each matter type's descriptions in `src/gridgov/demo/data/triage/corpus-*.yaml` are split in two halves (seeded):
the text model (IDF) is fitted on one half and the pairs are drawn from the other, so no text of a pair weighed
its own terms. N pairs of each kind (seeded):

TRUE duplicates — two reporters, one problem:
- `same_type_near`: two different descriptions of one matter type, 0–30 m and 0–6 h apart;
- `misfiled_near`: the same, but the second reporter picked another matter type;
- `misfiled_restated`: the second reporter picked another type and restates part of the first report (half its
  clauses, in another voice: 市民来电反映：…，诉求：… / 巡查发现… / …谁来管管), 0–30 m and 0–6 h apart;
- `unlocated_same_grid`: two descriptions of one type, one report without coordinates (hotline), same grid, 0–6 h.
FALSE — different problems:
- `other_type_same_spot`: another matter type's description, 0–10 m and 0–48 h apart;
- `other_type_same_hour`: another type, 0–50 m and 0–1 h apart;
- `related_type_same_spot`: a type of the same class (上水/污水/雨水井盖 …), 0–30 m, 0–6 h;
- `unlocated_other_type_same_grid`: another type, one report without coordinates, same grid, 0–6 h;
- `same_type_other_problem`: two descriptions of one type 0–50 m and 0–72 h apart, labelled different problems
  (two piles of rubbish on one street): the score cannot tell them from `same_type_near` but by distance and time;
- `same_type_far`: same type, 60–3,000 m apart, 0–48 h (beyond the radius: never a candidate);
- `same_type_later`: same type, 0–30 m, 80–720 h apart (beyond the window: never a candidate).

A second table gives the texts of the pairs at one spot the same opening address (两个人报同一处, both name the
crossing), which lifts true and false pairs at one spot alike.

Printed: per kind, the share suggested at each threshold; then precision / recall / F1 of "suggested" over all pairs
at thresholds 0.40 … 0.80 and at the configured default (GRIDGOV_DUPLICATE_MIN_SCORE). The mix is one pair of each
kind per round (4 true : 7 false); from the per-kind rates precision can be recomputed for any other mix. Last: the
time to score one new report against 200 candidates (their vectors cached, and cold).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from importlib import resources

import yaml

from gridgov.config import get_settings
from gridgov.domains.triage import duplicates
from gridgov.domains.triage.duplicates import Place, TextModel, TextVector

THRESHOLDS = [0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80]
TRUE_KINDS = ("same_type_near", "misfiled_near", "misfiled_restated", "unlocated_same_grid")
FALSE_KINDS = (
    "other_type_same_spot",
    "other_type_same_hour",
    "related_type_same_spot",
    "unlocated_other_type_same_grid",
    "same_type_other_problem",
    "same_type_far",
    "same_type_later",
)
# Kinds whose two reports are at one spot (the second table gives both texts one address).
AT_ONE_SPOT = {
    "same_type_near",
    "misfiled_near",
    "misfiled_restated",
    "other_type_same_spot",
    "related_type_same_spot",
    "same_type_other_problem",
}
ROADS = "经三路 纬五路 花园路 农业路 文化路 东风路 金水路 红专路 丰产路 黄河路 南阳路 国基路 丰庆路 博学路".split()
CLAUSE = re.compile(r"[，。；！？,;!?]+")
VOICES = [("", ""), ("市民来电反映：", "，诉求：尽快处理。"), ("巡查发现", "，已拍照取证。"), ("", "，谁来管管")]


@dataclass(frozen=True)
class Pair:
    """One labelled pair of reports and what the score sees of it."""

    kind: str
    duplicate: bool
    text_a: str
    text_b: str
    distance_m: float | None
    hours_apart: float
    same_matter: bool
    place: Place | None


def load_corpus() -> dict[str, list[str]]:
    """Returns the demo corpus: matter code → descriptions."""
    folder = resources.files("gridgov.demo").joinpath(duplicates.DEMO_CORPUS)
    corpus: dict[str, list[str]] = {}
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if item.name.startswith("corpus-") and item.name.endswith(".yaml"):
            corpus.update(yaml.safe_load(item.read_text(encoding="utf-8")))
    return corpus


def split(corpus: dict[str, list[str]], rng: random.Random) -> tuple[list[str], dict[str, list[str]]]:
    """Returns the reference half (all types' texts) and the held-out half by type."""
    reference: list[str] = []
    held: dict[str, list[str]] = {}
    for code, texts in corpus.items():
        shuffled = list(texts)
        rng.shuffle(shuffled)
        half = len(shuffled) // 2
        reference += shuffled[:half]
        held[code] = shuffled[half:]
    return reference, held


def restate(text: str, rng: random.Random) -> str:
    """Returns another reporter's wording of the problem `text` describes: some of its clauses, in another voice."""
    clauses = [c for c in CLAUSE.split(text) if c]
    kept = sorted(rng.sample(range(len(clauses)), max(1, (len(clauses) + 1) // 2)))
    prefix, suffix = rng.choice(VOICES)
    return prefix + "，".join(clauses[i] for i in kept) + suffix


def build_pairs(held: dict[str, list[str]], n: int, rng: random.Random) -> list[Pair]:
    """Returns n pairs of every kind (seeded)."""
    codes = sorted(held)
    related_codes = [c for c in codes if any(o != c and o[:4] == c[:4] for o in codes)]
    pairs: list[Pair] = []

    def other(code: str, related: bool = False) -> str:
        pool = [c for c in codes if c != code and (c[:4] == code[:4]) == related]
        return rng.choice(pool)

    def add(
        kind: str,
        texts: tuple[str, str],
        metres: tuple[float, float] | None,
        hours: tuple[float, float],
        same_matter: bool,
    ) -> None:
        distance = None if metres is None else rng.uniform(*metres)
        place = Place.grid if metres is None else Place.distance
        duplicate = kind in TRUE_KINDS
        pairs.append(Pair(kind, duplicate, *texts, distance, rng.uniform(*hours), same_matter, place))

    for _ in range(n):
        code = rng.choice(codes)
        add("same_type_near", tuple(rng.sample(held[code], 2)), (0, 30), (0, 6), True)
        add("misfiled_near", tuple(rng.sample(held[code], 2)), (0, 30), (0, 6), False)
        first = rng.choice(held[code])
        add("misfiled_restated", (first, restate(first, rng)), (0, 30), (0, 6), False)
        add("unlocated_same_grid", tuple(rng.sample(held[code], 2)), None, (0, 6), True)
        add("other_type_same_spot", (first, rng.choice(held[other(code)])), (0, 10), (0, 48), False)
        add("other_type_same_hour", (first, rng.choice(held[other(code)])), (0, 50), (0, 1), False)
        related = rng.choice(related_codes)
        texts = (rng.choice(held[related]), rng.choice(held[other(related, related=True)]))
        add("related_type_same_spot", texts, (0, 30), (0, 6), False)
        add("unlocated_other_type_same_grid", (first, rng.choice(held[other(code)])), None, (0, 6), False)
        add("same_type_other_problem", tuple(rng.sample(held[code], 2)), (0, 50), (0, 72), True)
        add("same_type_far", tuple(rng.sample(held[code], 2)), (60, 3000), (0, 48), True)
        add("same_type_later", tuple(rng.sample(held[code], 2)), (0, 30), (80, 720), True)
    return pairs


def with_shared_place(pairs: list[Pair], rng: random.Random) -> list[Pair]:
    """Returns the pairs with one address opening both texts of the pairs at one spot."""
    shared = []
    for pair in pairs:
        if pair.kind in AT_ONE_SPOT:
            first, second = rng.sample(ROADS, 2)
            place = f"{first}与{second}交叉口，"
            pair = replace(pair, text_a=place + pair.text_a, text_b=place + pair.text_b)
        shared.append(pair)
    return shared


def scores(pairs: list[Pair], model: TextModel) -> list[float]:
    """Returns the score of every pair under the configured radius and window."""
    settings = get_settings()
    cache: dict[str, TextVector] = {}

    def vector(text: str) -> TextVector:
        if text not in cache:
            cache[text] = model.vector(text)
        return cache[text]

    return [
        duplicates.score(
            text_similarity=duplicates.similarity(vector(p.text_a), vector(p.text_b)),
            distance_m=p.distance_m,
            hours_apart=p.hours_apart,
            same_matter=p.same_matter,
            radius_m=settings.duplicate_radius_m,
            window_hours=settings.duplicate_window_hours,
            place=p.place,
        )
        for p in pairs
    ]


def report(title: str, pairs: list[Pair], values: list[float]) -> None:
    """Prints per-kind suggestion rates and precision / recall / F1 by threshold."""
    default = get_settings().duplicate_min_score
    thresholds = sorted({*THRESHOLDS, default})
    print(f"\n== {title} ==")
    by_kind: dict[str, list[float]] = defaultdict(list)
    for pair, value in zip(pairs, values, strict=True):
        by_kind[pair.kind].append(value)
    print(f"{'kind (share suggested)':34}" + "".join(f"{t:>7.2f}" for t in thresholds) + "   median score")
    for kind in (*TRUE_KINDS, *FALSE_KINDS):
        kind_values = by_kind[kind]
        label = f"{'+' if kind in TRUE_KINDS else '-'} {kind}"
        rates = "".join(f"{sum(v >= t for v in kind_values) / len(kind_values):>7.3f}" for t in thresholds)
        print(f"{label:34}{rates}   {statistics.median(kind_values):.3f}")
    print(f"\n{'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'suggested':>9}")
    for threshold in thresholds:
        tp = sum(p.duplicate and v >= threshold for p, v in zip(pairs, values, strict=True))
        fp = sum(not p.duplicate and v >= threshold for p, v in zip(pairs, values, strict=True))
        positives = sum(p.duplicate for p in pairs)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / positives
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        mark = "  ← default (GRIDGOV_DUPLICATE_MIN_SCORE)" if threshold == default else ""
        print(f"{threshold:>9.2f} {precision:>9.3f} {recall:>7.3f} {f1:>6.3f} {tp + fp:>9}{mark}")


def timing(model: TextModel, texts: list[str], rng: random.Random) -> None:
    """Prints the time to score one new report against 200 candidates: vectors cached, and cold."""
    settings = get_settings()
    candidates = rng.sample(texts, 200)
    new = rng.choice(texts)

    def run(cached: list[TextVector] | None) -> float:
        started = time.perf_counter()
        vecs = cached if cached is not None else [model.vector(t) for t in candidates]
        mine = model.vector(new)
        for vec in vecs:
            duplicates.score(
                text_similarity=duplicates.similarity(mine, vec),
                distance_m=12.0,
                hours_apart=1.0,
                same_matter=True,
                radius_m=settings.duplicate_radius_m,
                window_hours=settings.duplicate_window_hours,
            )
        return time.perf_counter() - started

    warm = [model.vector(t) for t in candidates]
    cached = min(run(warm) for _ in range(20))
    cold = min(run(None) for _ in range(3))
    print("\n== speed: one new report against 200 candidates ==")
    print(f"candidate vectors cached (the per-process cache): {cached * 1000:.1f} ms")
    print(f"cold (every candidate text vectorised):           {cold * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1000, help="pairs of each kind (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = get_settings()
    rng = random.Random(args.seed)
    corpus = load_corpus()
    reference, held = split(corpus, rng)
    started = time.perf_counter()
    model = TextModel.fit(reference, source="reference half")
    fitted = time.perf_counter() - started
    print(
        f"demo corpus: {len(corpus)} matter types, {sum(map(len, corpus.values()))} texts; IDF fitted on "
        f"{model.documents} ({fitted:.1f} s), pairs drawn from the other half: {args.pairs} of each of "
        f"{len(TRUE_KINDS) + len(FALSE_KINDS)} kinds (seed {args.seed})"
    )
    print(
        f"radius R = {settings.duplicate_radius_m:g} m, window T = {settings.duplicate_window_hours:g} h; "
        f"score = {duplicates.WEIGHT_TEXT}·text + {duplicates.WEIGHT_PROXIMITY}·proximity + "
        f"{duplicates.WEIGHT_RECENCY}·recency + {duplicates.WEIGHT_MATTER}·same_matter"
    )
    pairs = build_pairs(held, args.pairs, rng)
    report("pairs as written (each text names its own place)", pairs, scores(pairs, model))
    shared = with_shared_place(pairs, rng)
    report("pairs at one spot share an address", shared, scores(shared, model))
    timing(model, [t for texts in held.values() for t in texts], rng)


if __name__ == "__main__":
    main()
