"""Duplicate reports (重复上报): a similarity score from text, distance and time, used at intake (suggestions
returned to the reporter's client) and in the dispatcher's queue (one-click merge, 并单).

The score of a pair of reports is a weighted sum of four terms, each in [0, 1] (the weights sum to 1):

    score = 0.40·text + 0.20·proximity + 0.10·recency + 0.30·same_matter

- text: the cosine similarity of the two texts (title and description), see `TextModel`;
- proximity: 1 − d/R for two located reports d metres apart (R = GRIDGOV_DUPLICATE_RADIUS_M); when either
  report has no coordinates of its own (a hotline order placed at its area's representative point), the area
  they share instead: the same grid 0.5, the same community 0.25;
- recency: 1 − Δt/T for reports Δt hours apart (T = GRIDGOV_DUPLICATE_WINDOW_HOURS);
- same_matter: 1 when both have the same matter type, else 0 — a report under another type still counts when
  its text is similar enough (a citizen may pick the wrong type).

A pair farther apart than R, further apart in time than T, or without coordinates and without a shared grid or
community, is never a candidate (score 0). Open cases scoring at least GRIDGOV_DUPLICATE_MIN_SCORE are suggested,
best first. See docs/triage.md (Duplicates) for the measured precision of the threshold.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pyproj import Geod
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core import permissions
from gridgov.core.geo import metres_to_degrees
from gridgov.domains.areas import locate
from gridgov.domains.areas.locate import GridIndex
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.models import Case
from gridgov.domains.triage.text import clean_text, words

log = logging.getLogger(__name__)

# Weights of the score (sum 1). Text dominates; the same matter type is the next strongest sign, because two
# reporters of one problem mostly pick the same type while their wording differs (see the measurement).
WEIGHT_TEXT = 0.40
WEIGHT_PROXIMITY = 0.20
WEIGHT_RECENCY = 0.10
WEIGHT_MATTER = 0.30
# Proximity of a pair placed by area, not by coordinates: about that of two located reports R/2 (grid) or
# 3R/4 (community) apart — a grid is a few hundred metres across, so sharing one says less than being within R.
PROXIMITY_SAME_GRID = 0.5
PROXIMITY_SAME_COMMUNITY = 0.25

# Text features: character 1- and 2-grams (robust to jieba's segmentation and to typos) and jieba words.
CHAR_NGRAMS = (1, 2)
CHAR_SHARE = 0.5  # the share of the character block in the cosine; the words block has the rest
MAX_CANDIDATES = 200  # candidates scored per report, the nearest in time first
VECTOR_CACHE = 4096  # texts whose vectors stay cached per process (~10 KB each for a 35-character text)
# A case placed at an area's representative point sits there exactly (the same floats from the same geometry);
# points are compared rounded to 1e-9 degrees (0.1 mm) all the same.
SAME_POINT_DECIMALS = 9

DEMO_CORPUS = "data/triage"  # inside the gridgov.demo package: corpus-*.yaml, matter code → list of texts
_RUN = re.compile(r"\w+")
_GEOD = Geod(ellps="WGS84")  # as core.geo.distance_m, but one call for all candidates
# The columns a candidate is scored by: whole cases are loaded only for the few suggested.
_SCORED = (
    Case.id,
    Case.lng,
    Case.lat,
    Case.grid_id,
    Case.community_id,
    Case.street_id,
    Case.district_id,
    Case.reported_at,
    Case.matter_type_id,
    Case.title,
    Case.description,
)


class Place(StrEnum):
    """What the proximity of a pair of reports was taken from."""

    distance = "distance"  # both located: 1 − d/R
    grid = "grid"  # one or both placed by area, in the same grid
    community = "community"  # one or both placed by area, in the same community


@dataclass(frozen=True)
class DuplicateCandidate:
    """An open case that may report the same problem, with its score and the parts of the score."""

    case: Case
    score: float
    text_similarity: float
    distance_m: float | None  # None when either report has no coordinates of its own (see `place`)
    hours_apart: float
    same_matter: bool
    place: Place


# --- the score ------------------------------------------------------------------------------------------------


def proximity(*, distance_m: float | None, radius_m: float, place: Place | None = None) -> float | None:
    """Returns the proximity term of a pair (1 − d/R, or the shared area's), or None when it is no candidate."""
    if distance_m is not None:
        return None if distance_m > radius_m else 1.0 - max(distance_m, 0.0) / radius_m
    if place == Place.grid:
        return PROXIMITY_SAME_GRID
    if place == Place.community:
        return PROXIMITY_SAME_COMMUNITY
    return None


def score(
    *,
    text_similarity: float,
    distance_m: float | None,
    hours_apart: float,
    same_matter: bool,
    radius_m: float,
    window_hours: float,
    place: Place | None = None,
) -> float:
    """Returns the duplicate score of a pair of reports in [0, 1]; 0 when the pair is no candidate at all.

    `distance_m` is None when either report has no coordinates of its own; `place` then says which area they
    share (Place.grid or Place.community; None: neither, so no candidate).
    """
    near = proximity(distance_m=distance_m, radius_m=radius_m, place=place)
    hours = abs(hours_apart)
    if near is None or hours > window_hours:
        return 0.0
    text = min(max(text_similarity, 0.0), 1.0)
    value = (
        WEIGHT_TEXT * text
        + WEIGHT_PROXIMITY * near
        + WEIGHT_RECENCY * (1.0 - hours / window_hours)
        + WEIGHT_MATTER * float(same_matter)
    )
    return round(min(value, 1.0), 4)


# --- text similarity ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextVector:
    """A text's TF-IDF vector in two L2-normalised blocks: character n-grams and words."""

    chars: dict[str, float]
    words: dict[str, float]


def _char_grams(text: str) -> Counter[str]:
    # NOTE: n-grams never span punctuation or spaces (runs of word characters only), so "路口，井盖" has no "口，".
    grams: Counter[str] = Counter()
    for run in _RUN.findall(text.lower()):
        for n in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1):
            grams.update(run[i : i + n] for i in range(len(run) - n + 1))
    return grams


def _weigh(counts: Counter[str], idf: dict[str, float], unseen: float) -> dict[str, float]:
    weights = {term: (1.0 + math.log(count)) * idf.get(term, unseen) for term, count in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {term: w / norm for term, w in weights.items()} if norm else {}


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    weight = b.get
    return sum([w * weight(t, 0.0) for t, w in a.items()])


def similarity(a: TextVector, b: TextVector) -> float:
    """Returns the cosine similarity of two text vectors: CHAR_SHARE of the characters' plus the rest of the words'.

    When either text has no meaningful word (all stop words), the characters' cosine alone.
    """
    chars = _dot(a.chars, b.chars)
    if not a.words or not b.words:
        return round(min(chars, 1.0), 4)
    return round(min(CHAR_SHARE * chars + (1.0 - CHAR_SHARE) * _dot(a.words, b.words), 1.0), 4)


@dataclass(frozen=True)
class TextModel:
    """IDF weights of character n-grams and words, fitted once on a reference corpus.

    Weights are sublinear TF (1 + ln tf) times smooth IDF (ln((1 + N) / (1 + df)) + 1, as scikit-learn's
    TfidfVectorizer); a term the corpus never saw gets the highest IDF, ln(1 + N) + 1 — a rare term, such as a
    place name both reports share, is the strongest sign. Fitting on a large reference corpus (the demo corpus,
    ~3,900 descriptions of 105 matter types) instead of the handful of texts being compared keeps common words
    (井盖, 路口, 垃圾) weak however few candidates there are.
    """

    documents: int
    char_idf: dict[str, float]
    word_idf: dict[str, float]
    source: str

    @classmethod
    def fit(cls, texts: Iterable[str], *, source: str = "texts") -> TextModel:
        """Returns a model with the document frequencies of `texts` (cleaned first)."""
        char_df: Counter[str] = Counter()
        word_df: Counter[str] = Counter()
        documents = 0
        for raw in texts:
            text = clean_text(raw)
            documents += 1
            char_df.update(_char_grams(text).keys())
            word_df.update(set(words(text)))

        def idf(df: Counter[str]) -> dict[str, float]:
            return {term: math.log((1 + documents) / (1 + n)) + 1.0 for term, n in df.items()}

        return cls(documents=documents, char_idf=idf(char_df), word_idf=idf(word_df), source=source)

    @property
    def unseen_idf(self) -> float:
        """The IDF of a term no reference text contains."""
        return math.log(1 + self.documents) + 1.0

    def vector(self, text: str) -> TextVector:
        """Returns the TF-IDF vector of `text` (cleaned first)."""
        cleaned = clean_text(text)
        return TextVector(
            chars=_weigh(_char_grams(cleaned), self.char_idf, self.unseen_idf),
            words=_weigh(Counter(words(cleaned)), self.word_idf, self.unseen_idf),
        )


def load_reference_texts() -> list[str]:
    """Returns the texts of the demo corpus (`gridgov/demo/data/triage/corpus-*.yaml`); [] when there is none.

    A file that does not parse is skipped with a warning: the reference only weighs terms.
    """
    folder = resources.files("gridgov.demo").joinpath(DEMO_CORPUS)
    texts: list[str] = []
    if not folder.is_dir():
        return texts
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not (item.name.startswith("corpus-") and item.name.endswith(".yaml")):
            continue
        try:
            data = yaml.safe_load(item.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            log.warning("duplicates: skipping reference corpus %s: %s", item.name, exc)
            continue
        if isinstance(data, dict):
            texts += [str(text) for values in data.values() if isinstance(values, list) for text in values if text]
    return texts


_FIT_LOCK = threading.Lock()
_reference: list[TextModel | None] = []


def reference_model() -> TextModel | None:
    """Returns the text model fitted on the demo corpus (once per process), or None when there is no corpus."""
    if not _reference:
        with _FIT_LOCK:
            if not _reference:
                texts = load_reference_texts()
                model = TextModel.fit(texts, source=f"demo corpus ({len(texts)} texts)") if texts else None
                _reference.append(model)
    return _reference[0]


@lru_cache(maxsize=VECTOR_CACHE)
def _reference_vector(text: str) -> TextVector:
    model = reference_model()
    assert model is not None
    return model.vector(text)


def vectors(texts: Sequence[str]) -> list[TextVector]:
    """Returns the vectors of `texts`: by the reference model (cached per text), else by one fitted on `texts`."""
    if reference_model() is not None:
        return [_reference_vector(text) for text in texts]
    # NOTE: without a reference corpus the texts compared are the corpus; smooth IDF keeps this sane even
    # for two texts (a shared term weighs 1, a term of one text alone ln(3/2) + 1).
    model = TextModel.fit(texts, source="candidates")
    return [model.vector(text) for text in texts]


@lru_cache(maxsize=VECTOR_CACHE)
def _case_vector(title: str, description: str) -> TextVector:
    return _reference_vector(compose_text(title, description))


def _vectors_of(text: str, cases: Sequence[tuple[str, str]]) -> list[TextVector]:
    """Returns the vectors of a report's text and of cases' (title, description), cached per case text."""
    if reference_model() is not None:
        return [_reference_vector(text), *(_case_vector(title, description) for title, description in cases)]
    return vectors([text, *(compose_text(title, description) for title, description in cases)])


def text_similarity(a: str, b: str) -> float:
    """Returns the cosine similarity of two texts (see `similarity`)."""
    first, second = vectors([a, b])
    return similarity(first, second)


def compose_text(title: str, description: str) -> str:
    """Returns the text a report is compared by: its title and description (the description alone when it
    starts with the title, as hotline orders titled by their first line do)."""
    title, description = clean_text(title), clean_text(description)
    # NOTE: a truncated title ends in "…", which cleaning (NFKC) has turned into "...".
    if not description or description.startswith(title.rstrip(".…")):
        return description or title
    return f"{title} {description}"


def case_text(case: Case) -> str:
    """Returns the text a case is compared by (see `compose_text`)."""
    return compose_text(case.title, case.description)


# --- where a report is ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """What is known of a report's place: its point when located, else the areas it was placed by."""

    lng: float | None
    lat: float | None
    grid_id: int | None
    community_id: int | None

    @property
    def located(self) -> bool:
        return self.lng is not None and self.lat is not None


# Representative points per grid index: `locate.get_index` returns a new index whenever the areas change, so
# points cached against an index are never stale (and a session's uncommitted areas get an index of their own).
_POINTS: weakref.WeakKeyDictionary[GridIndex, dict[int, tuple[float, float] | None]] = weakref.WeakKeyDictionary()
_POINTS_LOCK = threading.Lock()


def _point_key(lng: float, lat: float) -> tuple[float, float]:
    return round(lng, SAME_POINT_DECIMALS), round(lat, SAME_POINT_DECIMALS)


class _Points:
    """Representative points of areas, cached for as long as the areas do not change."""

    def __init__(self, db: Session) -> None:
        self.db = db
        index = locate.get_index(db=db)
        with _POINTS_LOCK:
            self.points = _POINTS.setdefault(index, {})

    def load(self, area_ids: Iterable[int | None]) -> None:
        wanted = {area_id for area_id in area_ids if area_id is not None and area_id not in self.points}
        if not wanted:
            return
        found: dict[int, tuple[float, float] | None] = dict.fromkeys(wanted)
        for area_id, geometry in self.db.execute(select(Area.id, Area.geometry).where(Area.id.in_(wanted))):
            if geometry is not None and not geometry.is_empty:
                point = geometry.representative_point()
                found[area_id] = _point_key(point.x, point.y)
        self.points.update(found)

    def where(
        self, lng: float, lat: float, grid_id: int | None, community_id: int | None, coarse_ids: Sequence[int | None]
    ) -> Where:
        """Tells a located report from one placed at an area's representative point (hotline orders without
        coordinates, reports naming an area code: see areas.locate.point_in_area), and what that area tells.
        The areas must have been loaded."""
        points = self.points
        key = _point_key(lng, lat)
        if grid_id is not None and points.get(grid_id) == key:
            return Where(None, None, grid_id, community_id)
        if community_id is not None and points.get(community_id) == key:
            return Where(None, None, None, community_id)
        if any(area_id is not None and points.get(area_id) == key for area_id in coarse_ids):
            return Where(None, None, None, None)  # placed by street or district: too coarse to compare
        return Where(lng, lat, grid_id, community_id)


def placed_by_area(*, db: Session, cases: Sequence[Case]) -> dict[int, Where]:
    """Returns, for each case, what is known of its place: its point, or only the area it was placed by.

    A case placed at the representative point of its grid or community (a hotline order without coordinates, a
    report naming an area code) keeps only that area; one placed by street or district keeps nothing comparable.
    """
    points = _Points(db)
    points.load(i for c in cases for i in (c.grid_id, c.community_id, c.street_id, c.district_id))
    return {c.id: points.where(c.lng, c.lat, c.grid_id, c.community_id, (c.street_id, c.district_id)) for c in cases}


def _area_pair(a: Where, b: Where) -> Place | None:
    """Returns the area two reports share when either has no coordinates of its own (None: none comparable)."""
    if a.grid_id is not None and a.grid_id == b.grid_id:
        return Place.grid
    if a.community_id is not None and a.community_id == b.community_id:
        return Place.community
    return None


# --- suggestions ------------------------------------------------------------------------------------------------


def suggest(
    *,
    db: Session,
    matter_type_id: int,
    text: str,
    lng: float | None,
    lat: float | None,
    grid_id: int | None,
    community_id: int | None,
    at: dt.datetime,
    exclude_id: int | None = None,
    limit: int = 5,
    street_id: int | None = None,
    district_id: int | None = None,
    exclude_parent_id: int | None = None,
) -> list[DuplicateCandidate]:
    """Returns the open cases that may report the same problem as a report, best first (score ≥ the setting).

    `lng`/`lat` None means the report has no coordinates: `grid_id`/`community_id` are then what is known (None
    when unknown). Coordinates that are exactly an area's representative point (a hotline order placed by its
    area) are recognised as such; pass `street_id`/`district_id` so a report placed by street or district is too.
    Candidates of any matter type are scored; `exclude_parent_id` leaves out the cases merged into that case.
    """
    settings = get_settings()
    radius_m, window_hours = settings.duplicate_radius_m, settings.duplicate_window_hours
    points = _Points(db)
    if lng is not None and lat is not None:
        points.load((grid_id, community_id, street_id, district_id))
        where = points.where(lng, lat, grid_id, community_id, (street_id, district_id))
    else:
        where = Where(None, None, grid_id, community_id)
    window = dt.timedelta(hours=window_hours)
    conditions = [Case.is_open, Case.reported_at >= at - window, Case.reported_at <= at + window]
    if exclude_id is not None:
        conditions.append(Case.id != exclude_id)
    if exclude_parent_id is not None:
        conditions.append(or_(Case.parent_id.is_(None), Case.parent_id != exclude_parent_id))
    # Candidates: located neighbours within the radius (a bounding box first, for the index), and — whatever
    # their nominal point — reports placed by area in the same community.
    nearby = []
    if where.located:
        assert where.lng is not None and where.lat is not None
        dlat, dlng = metres_to_degrees(radius_m, 0), metres_to_degrees(radius_m, where.lat)
        nearby.append(
            and_(
                Case.lat.between(where.lat - dlat, where.lat + dlat),
                Case.lng.between(where.lng - dlng, where.lng + dlng),
            )
        )
    if where.community_id is not None:
        nearby.append(Case.community_id == where.community_id)
    if not nearby:
        return []
    rows = db.execute(select(*_SCORED).where(*conditions, or_(*nearby))).all()
    points.load(i for r in rows for i in (r.grid_id, r.community_id, r.street_id, r.district_id))
    places = [points.where(r.lng, r.lat, r.grid_id, r.community_id, (r.street_id, r.district_id)) for r in rows]
    distances: dict[int, float] = {}
    if where.located:
        both = [(r.id, p) for r, p in zip(rows, places, strict=True) if p.located]
        if both:
            _az, _back, metres = _GEOD.inv(
                [where.lng] * len(both), [where.lat] * len(both), [p.lng for _, p in both], [p.lat for _, p in both]
            )
            distances = {case_id: float(m) for (case_id, _), m in zip(both, metres, strict=True)}
    paired: list[tuple[Any, Place, float | None]] = []
    for row, place in sorted(
        zip(rows, places, strict=True), key=lambda rp: abs((rp[0].reported_at - at).total_seconds())
    ):
        if row.id in distances:
            if distances[row.id] <= radius_m:
                paired.append((row, Place.distance, distances[row.id]))
        elif (shared := _area_pair(where, place)) is not None:
            paired.append((row, shared, None))
        if len(paired) >= MAX_CANDIDATES:
            break
    if not paired:
        return []

    vecs = _vectors_of(text, [(row.title, row.description) for row, _place, _distance in paired])
    scored: list[tuple[float, float, float, bool, int, float | None, Place]] = []
    for (row, place, distance), vec in zip(paired, vecs[1:], strict=True):
        hours = abs((row.reported_at - at).total_seconds()) / 3600.0
        sim = similarity(vecs[0], vec)
        same_matter = row.matter_type_id == matter_type_id
        value = score(
            text_similarity=sim,
            distance_m=distance,
            hours_apart=hours,
            same_matter=same_matter,
            radius_m=radius_m,
            window_hours=window_hours,
            place=place,
        )
        if value > 0 and value >= settings.duplicate_min_score:
            scored.append((value, sim, hours, same_matter, row.id, distance, place))
    scored.sort(key=lambda s: (-s[0], s[5] if s[5] is not None else math.inf, s[4]))
    top = scored[:limit]
    cases = {c.id: c for c in db.scalars(select(Case).where(Case.id.in_([s[4] for s in top])))} if top else {}
    return [
        DuplicateCandidate(
            case=cases[case_id],
            score=value,
            text_similarity=sim,
            distance_m=None if distance is None else round(distance, 1),
            hours_apart=round(hours, 2),
            same_matter=same_matter,
            place=place,
        )
        for value, sim, hours, same_matter, case_id, distance, place in top
    ]


def suggest_for_case(*, db: Session, case: Case, limit: int = 5) -> list[DuplicateCandidate]:
    """Returns the open cases that may report the same problem as `case` (not itself nor its merged children)."""
    return suggest(
        db=db,
        matter_type_id=case.matter_type_id,
        text=case_text(case),
        lng=case.lng,
        lat=case.lat,
        grid_id=case.grid_id,
        community_id=case.community_id,
        street_id=case.street_id,
        district_id=case.district_id,
        at=case.reported_at,
        exclude_id=case.id,
        exclude_parent_id=case.id,
        limit=limit,
    )


def visible_to(*, db: Session, actor: Actor, candidates: list[DuplicateCandidate]) -> list[DuplicateCandidate]:
    """Returns the candidates `actor` may see (case.view scope): a suggestion never reveals another area's case."""
    if not candidates:
        return []
    ids = [c.case.id for c in candidates]
    allowed = set(db.scalars(permissions.restrict(select(Case.id).where(Case.id.in_(ids)), actor, "case.view")))
    return [c for c in candidates if c.case.id in allowed]
