"""Hotspot discovery (高频事项): clusters of similar messages over a time window, ranked by a heat score.

Pure: messages in, ranked hotspots out, no database. The system's job (`service.refresh`) and the CLI
(`gridgov triage hotspots`) both call `find_hotspots`.

How it works, in five steps (docs/triage.md#hotspots says the same for users):

1. **Text vectors.** Each text is cleaned and segmented (`text.words`: jieba words without stop words and
   punctuation). Two TF-IDF vectors are fitted on the window's own messages (min_df 2, sublinear tf,
   l2-normalised): one over the words, one over the character bigrams of the words run together (robust to
   segmentation differences: 井盖/井 盖, 占道/占 道). They are joined with weight ½ each, so the cosine of two
   messages is the mean of their word cosine and their bigram cosine.
2. **Blocks.** Up to `BLOCK_MAX` messages are clustered directly. Above that the vectors are weighted once more
   by IDF, reduced (TruncatedSVD, `SVD_DIMS` dimensions, fitted on a sample) and cut with k-means, at most
   `SPLIT_MAX` parts at a time and again until every block holds at most `BLOCK_MAX` (about `BLOCK_SIZE`).
   Blocking only decides which pairs are compared exactly: a problem split over two blocks is joined in step 4.
3. **Average linkage inside each block**, on the exact cosine of the TF-IDF vectors, cut at `min_similarity`:
   two groups join only while the *mean* similarity of all their cross pairs is at least the threshold. Unlike
   linking every pair above the threshold (single linkage), a chain of messages each a little like the next
   cannot pull unrelated texts together.
4. **Across blocks**, the same criterion on groups: the mean cosine over the cross pairs of groups A and B is the
   dot product of their mean vectors. Pairs of groups that share at least `SHARED` of their `TOP_FEATURES`
   heaviest features (features heavy in more than `FEATURE_CAP` groups do not count) are checked exactly and
   joined greedily, most similar first, while the dot product of their *current* means stays at or above the
   threshold. Then each message still alone joins the group whose members it is most similar to on average,
   when that reaches the threshold (candidates found the same way).
5. **Places.** A text cluster whose members carry coordinates is split into places: located members within
   `radius_m` of one another (haversine distance) are linked and each connected set is a place (single linkage
   on distance, like DBSCAN with one sample per core); members without coordinates join the place with the most
   members (the first found on a tie), or form the only place when no member is located. Places smaller than
   `min_size` are dropped.

Heat (`heat_score`): heat = supporters × growth × concentration, where
- supporters = size + ½·ln(1 + likes): each report counts once; likes (endorsements of reports already counted)
  add only logarithmically, so a viral post cannot outrank many independent reports;
- growth = clamp(share of members in the last quarter of the window ÷ 0.25, 0.5, 3): a steady problem has a
  quarter of its reports in the last quarter (growth 1), a rising one more, a fading one less; the clamp keeps
  a handful of brand-new reports from outranking a large cluster;
- concentration = 1 + (1 − span ÷ window), in [1, 2]: reports bunched in a short span point to one acute
  event, reports spread over the whole window to a chronic background level.
The title is the medoid's text (the member most similar on average to the others), trimmed to 60 characters;
the keywords are the five heaviest words (not bigrams) of the cluster's mean word vector.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jieba
import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import BallTree
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from gridgov.domains.triage import text

BLOCK_SIZE = 200  # messages per block, on average, when there are more than BLOCK_MAX
BLOCK_MAX = 2000  # the largest block clustered exactly (average linkage is quadratic in memory and time)
SVD_DIMS = 100
SPLIT_MAX = 32  # parts one k-means cut makes; larger parts are cut again
TOP_FEATURES = 12  # a group's (or lone message's) heaviest features, which propose the pairs worth checking
SHARED = 2  # ... when two share at least this many of them
FEATURE_CAP = 100  # ... not counting a feature among the heaviest of more groups than this
SVD_SAMPLE = 20_000  # the reduction is fitted on at most this many messages, then applied to all
WORD_WEIGHT = 0.5  # share of the word cosine in the similarity (the rest is the bigram cosine)
TITLE_CHARS = 60
KEYWORDS = 5
EARTH_RADIUS_M = 6_371_008.8
PAIRWISE_MAX = 3000  # located members of one cluster compared pairwise; more go through a ball tree
SEED = 0
# The runs of text jieba segments on their own (its own pattern): words never cross their borders.
_JIEBA_BLOCK = jieba.re_han_default


@dataclass(frozen=True)
class Message:
    """One report to cluster: its id, text, time (timezone-aware), optional WGS84 point, likes and matter."""

    id: str | int
    text: str
    at: dt.datetime
    lng: float | None = None
    lat: float | None = None
    likes: int = 0
    matter: str | None = None

    @property
    def located(self) -> bool:
        return self.lng is not None and self.lat is not None


@dataclass(frozen=True)
class HotspotOptions:
    """How hotspots are found: smallest size, text similarity threshold, place radius, how many to return."""

    min_size: int = 5
    min_similarity: float = 0.25
    radius_m: float = 1000.0
    top: int | None = None

    def __post_init__(self) -> None:
        if self.min_size < 2:
            raise ValueError("min_size must be at least 2")
        if not 0 < self.min_similarity < 1:
            raise ValueError("min_similarity must lie between 0 and 1")
        if self.radius_m <= 0:
            raise ValueError("radius_m must be positive")
        if self.top is not None and self.top < 1:
            raise ValueError("top must be at least 1")

    @classmethod
    def from_settings(cls, settings: Any, *, top: int | None = None) -> HotspotOptions:
        """Returns the options of the deployment's settings (hotspot_min_size, ...)."""
        return cls(
            min_size=settings.hotspot_min_size,
            min_similarity=settings.hotspot_min_similarity,
            radius_m=settings.hotspot_radius_m,
            top=top,
        )


@dataclass
class Hotspot:
    """A cluster of similar messages in one place (or without place) over the window, with its heat."""

    title: str
    keywords: list[str]
    size: int
    heat: float
    first_at: dt.datetime
    last_at: dt.datetime
    member_ids: list[str | int]
    locations: list[tuple[float, float]]
    centre: tuple[float, float] | None
    matter: str | None = None  # the members' most common matter, when they carry one
    details: dict[str, Any] = field(default_factory=dict)
    title_id: str | int | None = None  # the member whose text is the title (the medoid)
    location_ids: list[str | int] = field(default_factory=list)  # the member at each of `locations`

    def as_dict(self) -> dict[str, Any]:
        """Returns the hotspot as JSON-ready data (times in ISO 8601)."""
        return {
            "title": self.title,
            "keywords": self.keywords,
            "size": self.size,
            "heat": self.heat,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "member_ids": self.member_ids,
            "locations": [list(p) for p in self.locations],
            "centre": list(self.centre) if self.centre else None,
            "matter": self.matter,
            "details": self.details,
        }


# --- heat ---------------------------------------------------------------------------------------------------


def heat_score(
    times: Sequence[dt.datetime], *, likes: int, start: dt.datetime, end: dt.datetime
) -> tuple[float, dict[str, Any]]:
    """Returns the heat of a cluster reported at `times` with `likes` in the window, and its parts."""
    size = len(times)
    window = max((end - start).total_seconds(), 1.0)
    first, last = min(times), max(times)
    span = (last - first).total_seconds()
    recent_from = end - dt.timedelta(seconds=window / 4)
    recent = sum(1 for t in times if t >= recent_from)
    recent_share = recent / size
    supporters = size + 0.5 * math.log1p(max(likes, 0))
    growth = min(max(recent_share / 0.25, 0.5), 3.0)
    concentration = 1.0 + (1.0 - min(span / window, 1.0))
    heat = supporters * growth * concentration
    return round(heat, 3), {
        "size": size,
        "likes": int(likes),
        "supporters": round(supporters, 3),
        "recent_share": round(recent_share, 3),
        "growth": round(growth, 3),
        "span_hours": round(span / 3600, 2),
        "window_hours": round(window / 3600, 2),
        "concentration": round(concentration, 3),
        "heat": round(heat, 3),
    }


# --- text vectors -------------------------------------------------------------------------------------------


def _tokens(doc: list[str]) -> list[str]:
    return doc


def _bigrams(doc: list[str]) -> list[str]:
    joined = "".join(doc)
    return [joined[i : i + 2] for i in range(len(joined) - 1)]


@dataclass
class Vectors:
    """The window's messages as vectors: the combined rows (unit length) and the word part with its vocabulary."""

    combined: sp.csr_matrix
    words: sp.csr_matrix
    vocabulary: np.ndarray


def _tokenize_chunk(cleaned: list[str]) -> list[list[str]]:
    """Returns the words of cleaned texts, segmenting each run of text jieba segments on its own only once."""
    cache: dict[str, list[str]] = {}
    out = []
    for value in cleaned:
        found: list[str] = []
        for piece in _JIEBA_BLOCK.split(value):
            if not piece:
                continue
            words = cache.get(piece)
            if words is None:
                words = cache[piece] = text.words(piece)
            found.extend(words)
        out.append(found)
    return out


def tokenize(texts: Iterable[str]) -> list[list[str]]:
    """Returns the words of each text (cleaned, segmented, without stop words).

    Exactly `text.words(text.clean_text(t))`, faster: jieba segments each run of Han characters, letters and
    digits independently of the rest, so a run met before (boilerplate, a street name, a repeated clause) is
    looked up instead of segmented again.
    """
    return _tokenize_chunk([text.clean_text(value) for value in texts])


def vectorize(tokens: list[list[str]]) -> Vectors | None:
    """Returns the TF-IDF vectors of tokenised texts (fitted on them), or None when no feature occurs twice."""
    common = {"min_df": 2, "sublinear_tf": True, "dtype": np.float32, "lowercase": False}
    try:
        word_vectorizer = TfidfVectorizer(analyzer=_tokens, **common)  # type: ignore[arg-type]
        words = word_vectorizer.fit_transform(tokens)
        vocabulary = word_vectorizer.get_feature_names_out()
    except ValueError:  # no word occurs in two texts
        words, vocabulary = sp.csr_matrix((len(tokens), 0), dtype=np.float32), np.array([], dtype=object)
    try:
        bigrams = TfidfVectorizer(analyzer=_bigrams, **common).fit_transform(tokens)  # type: ignore[arg-type]
    except ValueError:
        bigrams = sp.csr_matrix((len(tokens), 0), dtype=np.float32)
    if words.shape[1] + bigrams.shape[1] == 0:
        return None
    combined = sp.hstack([words * math.sqrt(WORD_WEIGHT), bigrams * math.sqrt(1 - WORD_WEIGHT)], format="csr")
    # NOTE: a text with words but no shared bigram (or the reverse) is renormalised to unit length.
    combined = normalize(combined).astype(np.float32)
    return Vectors(combined=sp.csr_matrix(combined), words=sp.csr_matrix(words), vocabulary=vocabulary)


# --- clustering ---------------------------------------------------------------------------------------------


def _reduce(x: sp.csr_matrix) -> np.ndarray:
    """Returns the rows of `x` reduced by TruncatedSVD (fitted on a sample) and normalised to unit length, for
    cutting blocks only (similarities are always computed on `x` itself)."""
    dims = min(SVD_DIMS, x.shape[1] - 1)
    if dims < 2:
        return normalize(x.toarray()) if x.shape[1] else np.zeros((x.shape[0], 1), dtype=np.float32)
    # NOTE: weighted once more by IDF, so the few dimensions go to what sets texts apart rather than to what many
    # share (hotline boilerplate, common words): reports of one problem that differ only in their boilerplate then
    # land in one block (measured: a planted problem spread over 1.5 blocks on average instead of 4.3).
    df = np.bincount(x.indices, minlength=x.shape[1])
    idf = (np.log((1 + x.shape[0]) / (1 + df)) + 1).astype(np.float32)
    x = sp.csr_matrix(normalize(x @ sp.diags(idf)))
    rng = np.random.default_rng(SEED)
    sample = x if x.shape[0] <= SVD_SAMPLE else x[np.sort(rng.choice(x.shape[0], SVD_SAMPLE, replace=False))]
    svd = TruncatedSVD(n_components=dims, n_iter=3, random_state=SEED).fit(sample)
    return normalize(svd.transform(x)).astype(np.float32)


def _blocks(x: sp.csr_matrix) -> list[np.ndarray]:
    """Cuts the messages into blocks of similar ones (one block when there are few)."""
    n = x.shape[0]
    if n <= BLOCK_MAX:
        return [np.arange(n)]
    reduced = _reduce(x)
    pending = [np.arange(n)]
    blocks: list[np.ndarray] = []
    while pending:
        rows = pending.pop()
        if len(rows) <= BLOCK_MAX:
            blocks.append(rows)
            continue
        # NOTE: at most SPLIT_MAX parts per cut, then each part is cut again: many small k-means runs are much
        # faster than one with hundreds of centres.
        parts = max(2, min(SPLIT_MAX, round(len(rows) / BLOCK_SIZE)))
        labels = KMeans(n_clusters=parts, random_state=SEED, n_init=1, max_iter=20).fit_predict(reduced[rows])
        groups = [rows[labels == label] for label in range(parts)]
        if max(len(g) for g in groups) == len(rows):
            # Vectors k-means cannot tell apart: cut the block by position (the joining step mends any split).
            groups = [rows[i : i + BLOCK_SIZE] for i in range(0, len(rows), BLOCK_SIZE)]
            blocks.extend(groups)
            continue
        pending.extend(g for g in groups if len(g))
    return blocks


def _average_linkage(x: sp.csr_matrix, threshold: float) -> np.ndarray:
    """Returns cluster labels (0..) of the rows of `x`: average linkage on cosine, cut at `threshold`."""
    n = x.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    sims = (x @ x.T).toarray()
    distance = np.clip(1.0 - sims, 0.0, 2.0).astype(np.float64)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return fcluster(tree, t=1.0 - threshold, criterion="distance") - 1


def _row_dots(a: sp.csr_matrix, rows_a: np.ndarray, b: sp.csr_matrix, rows_b: np.ndarray) -> np.ndarray:
    """Returns the dot products of the row pairs (a[rows_a[k]], b[rows_b[k]])."""
    out = np.empty(len(rows_a), dtype=np.float64)
    for begin in range(0, len(rows_a), 20_000):
        part = a[rows_a[begin : begin + 20_000]].multiply(b[rows_b[begin : begin + 20_000]])
        out[begin : begin + 20_000] = np.asarray(part.sum(axis=1)).ravel()
    return out


def _top_features(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Returns a 0/1 matrix marking the k heaviest features of each row of `m`."""
    m = sp.csr_matrix(m)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    order = np.lexsort((-m.data, rows))
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = order[rank < k]
    return sp.csr_matrix(
        (np.ones(len(keep), dtype=np.float32), (rows[keep], m.indices[keep])), shape=m.shape, dtype=np.float32
    )


def _shared_top_features(queries: sp.csr_matrix, groups: sp.csr_matrix, *, same: bool) -> tuple[np.ndarray, np.ndarray]:
    """Returns the (query, group) pairs sharing at least SHARED of their TOP_FEATURES heaviest features, ignoring
    features among the top ones of more than FEATURE_CAP groups (too common to say two texts tell one story)."""
    top_groups = _top_features(groups, TOP_FEATURES)
    common = np.asarray(top_groups.sum(axis=0)).ravel() > FEATURE_CAP
    if common.any():
        top_groups = sp.csr_matrix(top_groups @ sp.diags((~common).astype(np.float32)))
        top_groups.eliminate_zeros()
    top_queries = top_groups if same else _top_features(queries, TOP_FEATURES)
    shared = sp.coo_matrix(top_queries @ top_groups.T)
    keep = shared.data >= SHARED
    left, right = shared.row[keep], shared.col[keep]
    if same:
        keep = left < right
        left, right = left[keep], right[keep]
    return left.astype(np.int64), right.astype(np.int64)


class _Groups:
    """Union-find over groups of messages, keeping each root's member count and sum vector."""

    def __init__(self, sums: sp.csr_matrix, counts: np.ndarray) -> None:
        self.parent = list(range(len(counts)))
        self.sums: dict[int, sp.csr_matrix] = {}
        self._all_sums = sums
        self.counts = counts.astype(np.float64).copy()

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def sum_of(self, root: int) -> sp.csr_matrix:
        return self.sums.get(root, self._all_sums[root])

    def similarity(self, a: int, b: int) -> float:
        """Returns the mean cosine over all cross pairs of the groups rooted at a and b."""
        dot = self.sum_of(a).multiply(self.sum_of(b)).sum()
        return float(dot) / float(self.counts[a] * self.counts[b])

    def join(self, a: int, b: int) -> None:
        self.sums[a] = sp.csr_matrix(self.sum_of(a) + self.sum_of(b))
        self.sums.pop(b, None)
        self.counts[a] += self.counts[b]
        self.parent[b] = a


def _group_sums(x: sp.csr_matrix, labels: np.ndarray, groups: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Returns the sum vectors and the sizes of the labels in `groups`."""
    index_of = -np.ones(int(labels.max()) + 1, dtype=np.int64)
    index_of[groups] = np.arange(len(groups))
    members = np.flatnonzero(index_of[labels] >= 0)
    indicator = sp.csr_matrix(
        (np.ones(len(members), dtype=np.float32), (index_of[labels[members]], members)),
        shape=(len(groups), x.shape[0]),
    )
    return sp.csr_matrix(indicator @ x), np.asarray(indicator.sum(axis=1)).ravel()


def _merge_groups(x: sp.csr_matrix, labels: np.ndarray, block_of: np.ndarray, threshold: float) -> np.ndarray:
    """Joins groups of two or more messages from different blocks while their mean cross similarity holds."""
    counts = np.bincount(labels)
    multi = np.flatnonzero(counts >= 2)
    if len(multi) < 2:
        return labels
    sums, sizes = _group_sums(x, labels, multi)
    left, right = _shared_top_features(sums, sums, same=True)
    # NOTE: same-block pairs need no look: average linkage inside the block already found them too unalike.
    _, first_member = np.unique(labels, return_index=True)  # labels run 0..n-1 without gaps
    group_block = block_of[first_member[multi]]
    apart = group_block[left] != group_block[right]
    left, right = left[apart], right[apart]
    if not len(left):
        return labels
    exact = _row_dots(sums, left, sums, right) / (sizes[left] * sizes[right])
    order = np.argsort(-exact, kind="stable")
    groups = _Groups(sums, sizes)
    for position in order:
        if exact[position] < threshold:
            break
        a, b = groups.find(int(left[position])), groups.find(int(right[position]))
        if a == b:
            continue
        # NOTE: checked again on the groups as they are now: joining A with B and then C requires C to be alike
        # to A and B together, on average (no chaining).
        if groups.similarity(a, b) >= threshold:
            if groups.counts[a] < groups.counts[b]:
                a, b = b, a
            groups.join(a, b)
    roots = np.array([groups.find(i) for i in range(len(multi))], dtype=np.int64)
    relabel = np.arange(len(counts))
    relabel[multi] = multi[roots]
    return relabel[labels]


def _attach_singles(x: sp.csr_matrix, labels: np.ndarray, threshold: float) -> np.ndarray:
    """Lets each message alone in its group join the group of two or more whose members it is most similar to on
    average, when that reaches the threshold."""
    counts = np.bincount(labels)
    alone = np.flatnonzero(counts[labels] == 1)
    multi = np.flatnonzero(counts >= 2)
    if not len(alone) or not len(multi):
        return labels
    sums, sizes = _group_sums(x, labels, multi)
    singles, targets = _shared_top_features(x[alone], sums, same=False)
    if not len(singles):
        return labels
    exact = _row_dots(x, alone[singles], sums, targets) / sizes[targets]
    good = exact >= threshold
    singles, targets, exact = singles[good], targets[good], exact[good]
    if not len(singles):
        return labels
    order = np.lexsort((-exact, singles))  # best group first for each single
    first = np.r_[True, singles[order][1:] != singles[order][:-1]]
    result = labels.copy()
    result[alone[singles[order][first]]] = multi[targets[order][first]]
    return result


def cluster(x: sp.csr_matrix, threshold: float) -> np.ndarray:
    """Returns a cluster label for each row of `x` (unit-length TF-IDF rows): similar texts share a label."""
    blocks = _blocks(x)
    labels = np.empty(x.shape[0], dtype=np.int64)
    block_of = np.empty(x.shape[0], dtype=np.int64)
    offset = 0
    for index, rows in enumerate(blocks):
        local = _average_linkage(x[rows], threshold)
        labels[rows] = local + offset
        block_of[rows] = index
        offset += int(local.max()) + 1
    if len(blocks) == 1:
        return labels  # one block: average linkage has already compared every pair
    labels = _merge_groups(x, labels, block_of, threshold)
    return _attach_singles(x, labels, threshold)


def find_hotspots(
    messages: Iterable[Message], *, start: dt.datetime, end: dt.datetime, options: HotspotOptions | None = None
) -> list[Hotspot]:
    """Returns the hotspots among the messages reported in [start, end], hottest first."""
    options = options or HotspotOptions()
    if end <= start:
        raise ValueError("the window's end must come after its start")
    msgs = [m for m in messages if start <= m.at <= end]
    if len(msgs) < options.min_size:
        return []
    vectors = vectorize(tokenize(m.text for m in msgs))
    if vectors is None:
        return []
    x = vectors.combined
    has_features = np.flatnonzero(np.diff(x.indptr) > 0)
    labels = -np.ones(len(msgs), dtype=np.int64)
    if len(has_features) >= options.min_size:
        # NOTE: one BLAS thread: the products here are small (128 dimensions, blocks of ~200), where threads
        # only add overhead, and a job in the web process must not take every core (with other processes busy,
        # two spinning OpenBLAS threads made the reduction ten times slower).
        with threadpool_limits(limits=1, user_api="blas"):
            labels[has_features] = cluster(x[has_features], options.min_similarity)
    found: list[Hotspot] = []
    for members in _groups_of(labels, options.min_size):
        for place in split_places([msgs[i] for i in members], options.radius_m):
            if len(place) >= options.min_size:
                rows = members[place]
                found.append(_describe(msgs, rows, vectors, start=start, end=end))
    found.sort(key=lambda h: (-h.heat, -h.size, -h.last_at.timestamp()))
    return found[: options.top] if options.top else found


def _groups_of(labels: np.ndarray, min_size: int) -> list[np.ndarray]:
    valid = labels >= 0
    counts = np.bincount(labels[valid]) if valid.any() else np.array([], dtype=np.int64)
    big = np.flatnonzero(counts >= min_size)
    return [np.flatnonzero(labels == label) for label in big]


def _within(points: np.ndarray, radius_m: float) -> sp.csr_matrix:
    """Returns the graph linking the points (radians: lat, lng) that lie within `radius_m` of each other."""
    if len(points) <= PAIRWISE_MAX:
        lat, lng = points[:, 0][:, None], points[:, 1][:, None]
        # Haversine, all pairs at once (a few thousand points at most).
        a = np.sin((lat - lat.T) / 2) ** 2 + np.cos(lat) * np.cos(lat.T) * np.sin((lng - lng.T) / 2) ** 2
        near = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1))) <= radius_m
        return sp.csr_matrix(near)
    tree = BallTree(points, metric="haversine")
    neighbours = tree.query_radius(points, r=radius_m / EARTH_RADIUS_M)
    rows = np.repeat(np.arange(len(points)), [len(n) for n in neighbours])
    cols = np.concatenate(neighbours)
    return sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(points), len(points)))


def split_places(messages: Sequence[Message], radius_m: float) -> list[np.ndarray]:
    """Returns the members (indices) of each place: located ones linked within `radius_m` (single linkage), the
    others with the largest place (or all together when none is located)."""
    located = np.array([i for i, m in enumerate(messages) if m.located], dtype=np.int64)
    unlocated = np.array([i for i, m in enumerate(messages) if not m.located], dtype=np.int64)
    if len(located) == 0:
        return [np.arange(len(messages))]
    points = np.radians([[messages[i].lat, messages[i].lng] for i in located])
    _, labels = connected_components(_within(points, radius_m), directed=False)
    places = [located[labels == label] for label in range(int(labels.max()) + 1)]
    if len(unlocated):
        largest = max(range(len(places)), key=lambda i: (len(places[i]), -i))
        places[largest] = np.sort(np.concatenate([places[largest], unlocated]))
    return places


def _describe(
    msgs: list[Message], rows: np.ndarray, vectors: Vectors, *, start: dt.datetime, end: dt.datetime
) -> Hotspot:
    """Builds the hotspot of the messages at `rows`: title, keywords, span, places and heat."""
    members = [msgs[i] for i in rows]
    x = vectors.combined[rows]
    total = np.asarray(x.sum(axis=0)).ravel()
    closeness = x @ total  # each member's summed similarity to all members (itself included)
    medoid = members[int(np.argmax(closeness))]
    size = len(members)
    cohesion = (float(total @ total) - size) / (size * (size - 1))  # the mean similarity over member pairs
    times = [m.at for m in members]
    likes = sum(max(m.likes, 0) for m in members)
    heat, details = heat_score(times, likes=likes, start=start, end=end)
    details["cohesion"] = round(cohesion, 3)
    placed = [(m.id, float(m.lng), float(m.lat)) for m in members if m.lng is not None and m.lat is not None]
    located = [(lng, lat) for _, lng, lat in placed]
    centre = (
        (round(sum(p[0] for p in located) / len(located), 7), round(sum(p[1] for p in located) / len(located), 7))
        if located
        else None
    )
    details["located"] = len(located)
    matters = Counter(m.matter for m in members if m.matter)
    order = sorted(range(size), key=lambda i: (members[i].at, str(members[i].id)))
    return Hotspot(
        title=_title(medoid.text),
        keywords=_keywords(vectors, rows),
        size=size,
        heat=heat,
        first_at=min(times),
        last_at=max(times),
        member_ids=[members[i].id for i in order],
        locations=located,
        centre=centre,
        matter=matters.most_common(1)[0][0] if matters else None,
        details=details,
        title_id=medoid.id,
        location_ids=[member for member, _, _ in placed],
    )


def _title(value: str) -> str:
    """Returns a text as a title: whitespace collapsed, trailing punctuation dropped, at most TITLE_CHARS."""
    # NOTE: not clean_text: its NFKC would turn the full-width punctuation people read (，：) into ASCII.
    collapsed = " ".join(value.split()).rstrip("，。；、,.;:： ")
    return collapsed if len(collapsed) <= TITLE_CHARS else collapsed[: TITLE_CHARS - 1] + "…"


def _keywords(vectors: Vectors, rows: np.ndarray) -> list[str]:
    """Returns the heaviest words of the members' mean word vector (two or more characters first)."""
    if vectors.words.shape[1] == 0:
        return []
    totals = sp.csr_matrix(vectors.words[rows].sum(axis=0))
    order = totals.indices[np.argsort(-totals.data, kind="stable")]
    words = [str(vectors.vocabulary[i]) for i in order]
    return ([w for w in words if len(w) >= 2] + [w for w in words if len(w) < 2])[:KEYWORDS]
