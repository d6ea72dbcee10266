"""The triage classifier: which matter type (or unit) a description belongs to, with the words that say why.

Features are character n-grams (1–2 or 1–3, TF-IDF with sublinear tf, in at least two texts) — robust to the
typos, variants and run-together words of Chinese reports — plus jieba words (TF-IDF, `text.words`: stop words
and hotline boilerplate removed). A class-balanced logistic regression turns them into probabilities, so a rare
matter type is not swamped by the frequent ones. Its regularisation C and the char n-gram range are chosen by
stratified cross-validation on macro-F1, the mean of the per-class F1 scores, which weighs every matter type
the same. The search analyses each text once and fits the folds in parallel processes; the out-of-fold
predictions of the chosen parameters give the scores recorded in the model (meta["cv"]).

Explanations: for the best label, each feature present in the text contributes tfidf × weight; the positive
ones, the word 井盖 and the char-gram 井盖 merged, grams across word boundaries and inside a stronger gram left
out, are the words shown.

Model file: ``MAGIC``, a fixed header (format version, metadata length, payload length, payload sha256), the
metadata as UTF-8 JSON, then the joblib pickle of the scikit-learn pipeline. The metadata (labels, training
size and date, cross-validated scores, library versions) is read without unpickling (`read_meta`), and a
foreign, truncated or corrupt file, another format version or another scikit-learn version is refused before
anything is unpickled.

SECURITY: a model file is code — unpickling runs whatever the file says. Load only files you trust (trained
here or by your own district); the database keeps the sha256 of each stored version and the registry checks it
on every load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import platform
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.extmath import softmax

import gridgov
from gridgov.core import clock
from gridgov.core.errors import InputError, Issue
from gridgov.domains.triage import text as triage_text

FORMAT = "gridgov-triage-model"
FORMAT_VERSION = 1
MAGIC = b"\x89GRIDGOV-TRIAGE\n"  # 16 bytes; the non-ASCII first byte keeps text tools from taking it for text
_HEADER = struct.Struct(">HIQ32s")  # format version, metadata length, payload length, payload sha256
RANDOM_STATE = 0
PARALLEL_FROM = 1000  # texts: below this, cross-validation folds are fitted in this process
MIN_EXAMPLES = 2  # a class needs two examples to appear on both sides of a cross-validation split

# The parameters `gridgov demo load` trains with (search=False): the ones the search chose on the demo corpus.
DEFAULT_PARAMS: dict[str, Any] = {"C": 30.0, "char_ngram": [1, 2]}
# What the search tries: every C for every char n-gram range (features are built once per range and fold).
SEARCH_GRID: dict[str, list[Any]] = {"C": [3.0, 10.0, 30.0, 100.0], "char_ngram": [[1, 2], [1, 3]]}

Progress = Callable[[str], None]


class ModelFileError(InputError):
    """Raised for a file that is not a gridgov triage model, another format version, or corrupt bytes."""


@dataclass(frozen=True)
class Suggestion:
    """One candidate label and the model's probability for it."""

    label: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """The best labels for one text, best first, and the features that drove the best one."""

    suggestions: list[Suggestion]
    words: list[tuple[str, float]] = field(default_factory=list)  # (word or char-gram, contribution), strongest first

    @property
    def label(self) -> str:
        """Returns the most probable label."""
        return self.suggestions[0].label

    @property
    def confidence(self) -> float:
        """Returns the probability of the most probable label."""
        return self.suggestions[0].probability


@dataclass
class Evaluation:
    """Scores of predictions against the true labels: per class, macro and weighted F1, accuracy, confusions."""

    labels: list[str]
    per_class: dict[str, dict[str, float]]  # label → precision, recall, f1, support
    macro_f1: float
    weighted_f1: float
    accuracy: float
    confusion: list[list[int]]  # confusion[i][j]: texts of labels[i] predicted as labels[j]
    n: int
    kind: str  # "holdout" (a model against labelled data) or "cv" (cross-validated out-of-fold predictions)
    top3_accuracy: float | None = None  # share of texts whose true label is among the three best suggestions
    folds: int | None = None
    dropped_classes: dict[str, int] = field(default_factory=dict)  # classes too small to cross-validate

    def top_confusions(self, limit: int = 20) -> list[tuple[str, str, int]]:
        """Returns the most frequent (true, predicted, count) mistakes, largest first."""
        pairs = [
            (self.labels[i], self.labels[j], count)
            for i, row in enumerate(self.confusion)
            for j, count in enumerate(row)
            if i != j and count
        ]
        return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))[:limit]

    def to_dict(self) -> dict[str, Any]:
        """Returns the evaluation as JSON-able data (the full confusion matrix included)."""
        return {
            "kind": self.kind,
            "n": self.n,
            "folds": self.folds,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "top3_accuracy": self.top3_accuracy,
            "labels": self.labels,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "top_confusions": [{"true": t, "predicted": p, "count": n} for t, p, n in self.top_confusions(50)],
            "dropped_classes": self.dropped_classes,
        }


class Classifier:
    """A trained pipeline with its metadata; predicts the top labels of texts and explains the best one."""

    def __init__(self, pipeline: Pipeline, meta: dict[str, Any]) -> None:
        self.pipeline = pipeline
        self.meta = meta
        self.labels: list[str] = [str(label) for label in pipeline.classes_]
        self._names: np.ndarray | None = None  # readable feature names, built on the first explanation
        self._scorer: tuple[np.ndarray, np.ndarray] | None = None  # (weights features × labels, intercepts)

    def __repr__(self) -> str:
        return f"<Classifier {len(self.labels)} labels, trained on {self.meta.get('training_size')} texts>"

    # -- prediction ---------------------------------------------------------------------------------------------

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Returns the feature matrix of cleaned `texts` (char n-grams then words, as the model reads them)."""
        union: FeatureUnion = self.pipeline.named_steps["features"]
        # NOTE: the transformers are called directly: FeatureUnion.transform's joblib dispatch costs more than
        # vectorising one short text.
        with sklearn.config_context(assume_finite=True):
            parts = [transformer.transform(texts) for _, transformer in union.transformer_list]
        return sp.hstack(parts, format="csr")

    def probabilities(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Returns the probability of each label (columns in `labels` order) for a feature matrix.

        The same numbers as the logistic regression's predict_proba, without its per-call copy of the weights
        (transposed and widened to float64: 3 ms of a 4 ms prediction on 100 labels).
        """
        if self._scorer is None:
            model: LogisticRegression = self.pipeline.named_steps["model"]
            weights = np.ascontiguousarray(model.coef_.T, dtype=np.float64)
            self._scorer = (weights, np.asarray(model.intercept_, dtype=np.float64))
        weights, intercepts = self._scorer
        scores = np.asarray(matrix @ weights) + intercepts
        if len(self.labels) <= 2:
            positive = expit(scores[:, 0])
            return np.column_stack([1.0 - positive, positive])
        return softmax(scores, copy=False)

    def predict(self, texts: Sequence[str], *, top: int = 3, explain: int = 0) -> list[Prediction]:
        """Returns, per text, the `top` most probable labels and (if `explain`) the features behind the first."""
        if isinstance(texts, str):
            raise TypeError("predict takes a sequence of texts, not one string")
        if not texts:
            return []
        cleaned = [triage_text.clean_text(value) for value in texts]
        matrix = self.features(cleaned)
        probabilities = self.probabilities(matrix)
        top = max(1, min(top, len(self.labels)))
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
        predictions = []
        for row, indices in enumerate(order):
            suggestions = [Suggestion(self.labels[i], float(probabilities[row, i])) for i in indices]
            words = self._explain(matrix.getrow(row), int(indices[0]), explain, cleaned[row]) if explain > 0 else []
            predictions.append(Prediction(suggestions=suggestions, words=words))
        return predictions

    def _weights(self, label_index: int) -> np.ndarray:
        model: LogisticRegression = self.pipeline.named_steps["model"]
        coef = model.coef_
        if coef.shape[0] == 1:  # two classes: one row of weights, for classes_[1]
            return coef[0] if label_index == 1 else -coef[0]
        return coef[label_index]

    def _feature_names(self) -> np.ndarray:
        if self._names is None:
            union: FeatureUnion = self.pipeline.named_steps["features"]
            names: list[str] = []
            for _, vectorizer in union.transformer_list:
                vocabulary: dict[str, int] = vectorizer.vocabulary_
                part = [""] * len(vocabulary)
                for term, index in vocabulary.items():
                    part[index] = term.strip()  # char_wb pads grams at word edges with a space
                names.extend(part)
            self._names = np.array(names, dtype=object)
        return self._names

    def _explain(self, row: sp.csr_matrix, label_index: int, limit: int, text: str) -> list[tuple[str, float]]:
        """Returns the readable features with the largest positive tfidf × weight for the label, merged."""
        weights = self._weights(label_index)
        contributions = row.data * weights[row.indices]
        names = self._feature_names()
        merged: Counter[str] = Counter()
        for index, value in zip(row.indices, contributions, strict=True):
            name = names[index]
            if value > 0 and name.isalnum():  # no grams with punctuation ("，窗")
                merged[name] += float(value)  # the word 井盖 and the char-gram 井盖 are one feature to a reader
        # Char-grams across word boundaries ("盖被" of 井盖/被/压碎) say nothing to a reader: keep the grams
        # inside one of the text's words, unless that leaves nothing.
        tokens = triage_text.words(text)
        readable = [(name, value) for name, value in merged.most_common() if any(name in t for t in tokens)]
        ranked = readable or merged.most_common()
        floor = ranked[0][1] / 100 if ranked else 0.0  # below 1% of the strongest: noise, not a reason
        ranked = [(name, value) for name, value in ranked if value >= floor]
        # Single characters come last: "下" or "去" tell a reader little beside "井盖" and "压碎".
        ranked = [item for item in ranked if len(item[0]) > 1] + [item for item in ranked if len(item[0]) == 1]
        chosen: list[tuple[str, float]] = []
        for name, value in ranked:
            if len(chosen) >= limit:
                break
            # A gram inside a chosen one adds nothing to read ("井" under "井盖"); a longer one that contains
            # chosen grams replaces them, carrying their contributions.
            if any(name in kept for kept, _ in chosen):
                continue
            inside = [kept for kept, _ in chosen if kept in name]
            value += sum(v for kept, v in chosen if kept in inside)
            chosen = [item for item in chosen if item[0] not in inside] + [(name, value)]
        chosen.sort(key=lambda item: -item[1])
        return [(name, round(value, 4)) for name, value in chosen]

    # -- files --------------------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Returns the model file: magic, header, metadata JSON, then the pickled pipeline."""
        buffer = io.BytesIO()
        joblib.dump(self.pipeline, buffer, compress=("zlib", 3))
        payload = buffer.getvalue()
        meta = json.dumps(self.meta, ensure_ascii=False, sort_keys=True).encode("utf-8")
        header = _HEADER.pack(FORMAT_VERSION, len(meta), len(payload), hashlib.sha256(payload).digest())
        return MAGIC + header + meta + payload

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "model") -> Classifier:
        """Returns the classifier in a model file's bytes; raises ModelFileError before unpickling a bad file."""
        meta, payload = _split(data, source)
        _check_versions(meta, source)
        try:
            pipeline = joblib.load(io.BytesIO(payload))
        except Exception as exc:  # any unpickling failure means the same to the user: unusable file
            raise ModelFileError([Issue(source, f"the model cannot be loaded: {exc}")], "model not loaded") from None
        if not isinstance(pipeline, Pipeline) or "features" not in pipeline.named_steps:
            raise ModelFileError([Issue(source, "not a triage classifier pipeline")], "model not loaded")
        return cls(pipeline, meta)

    def save(self, path: Path) -> None:
        """Writes the model file atomically (a temporary file renamed over `path`)."""
        write_atomic(Path(path), self.to_bytes())

    @classmethod
    def load(cls, path: Path) -> Classifier:
        """Returns the classifier in the model file at `path`; raises ModelFileError if it cannot be used."""
        path = Path(path)
        return cls.from_bytes(_read(path), source=path.name)


def read_meta(data: bytes, *, source: str = "model") -> dict[str, Any]:
    """Returns the metadata of a model file without unpickling it; raises ModelFileError for a bad file."""
    return _split(data, source)[0]


def read_meta_file(path: Path) -> dict[str, Any]:
    """Returns the metadata of the model file at `path` without unpickling it."""
    path = Path(path)
    return read_meta(_read(path), source=path.name)


def write_atomic(path: Path, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it over `path` (no half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise ModelFileError([Issue(str(path), "no such file")], "model not loaded")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelFileError([Issue(str(path), f"cannot read: {exc.strerror or exc}")], "model not loaded") from None


def _split(data: bytes, source: str) -> tuple[dict[str, Any], bytes]:
    def refuse(message: str) -> ModelFileError:
        return ModelFileError([Issue(source, message)], "model not loaded")

    if not data.startswith(MAGIC):
        raise refuse("not a gridgov triage model file (it does not start with the model file signature)")
    start = len(MAGIC) + _HEADER.size
    if len(data) < start:
        raise refuse("truncated model file (the header is incomplete)")
    version, meta_length, payload_length, digest = _HEADER.unpack_from(data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise refuse(f"model file format version {version}; this gridgov reads version {FORMAT_VERSION}")
    expected = start + meta_length + payload_length
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "corrupt"
        raise refuse(f"{state} model file: {len(data)} bytes, the header says {expected}")
    try:
        meta = json.loads(data[start : start + meta_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise refuse(f"corrupt model file: the metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise refuse(f"corrupt model file: the metadata does not name the format {FORMAT!r}")
    payload = data[start + meta_length :]
    if hashlib.sha256(payload).digest() != digest:
        raise refuse("corrupt model file: the pickled model does not match its checksum")
    return meta, payload


def incompatibility(meta: dict[str, Any]) -> str | None:
    """Returns why a model (by its metadata) cannot be loaded here — another scikit-learn or numpy major
    version: pickles do not carry across them — or None if it can."""
    versions = meta.get("versions") or {}
    problems = []
    if versions.get("sklearn") != sklearn.__version__:
        problems.append(f"scikit-learn {versions.get('sklearn')} (this installation has {sklearn.__version__})")
    if str(versions.get("numpy", "")).split(".")[0] != np.__version__.split(".")[0]:
        problems.append(f"numpy {versions.get('numpy')} (this installation has {np.__version__})")
    if not problems:
        return None
    return (
        f"the model was trained with {' and '.join(problems)}; model files are pickles that do not carry "
        "across library versions: retrain it with `gridgov triage train`"
    )


def _check_versions(meta: dict[str, Any], source: str) -> None:
    problem = incompatibility(meta)
    if problem:
        raise ModelFileError([Issue(source, problem)], "model not loaded")


# --- training ---------------------------------------------------------------------------------------------------


def _vectorizers(params: dict[str, Any]) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    low, high = params["char_ngram"]
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(int(low), int(high)), sublinear_tf=True, min_df=2)
    words = TfidfVectorizer(
        tokenizer=triage_text.words, token_pattern=None, lowercase=False, sublinear_tf=True, min_df=2
    )
    return chars, words


def _linear(params: dict[str, Any]) -> LogisticRegression:
    # NOTE: newton-cg converges in a handful of iterations here; lbfgs needs 3–4× longer on 100 classes × 30,000
    # features (measured on the demo corpus), saga slows down sharply as C grows.
    return LogisticRegression(
        C=float(params["C"]),
        class_weight="balanced",
        solver="newton-cg",
        max_iter=1000,
        tol=1e-4,
        random_state=RANDOM_STATE,
    )


def build_pipeline(params: dict[str, Any] | None = None) -> Pipeline:
    """Returns an unfitted pipeline: char n-gram + word TF-IDF features into a class-balanced logistic regression."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    chars, words = _vectorizers(params)
    features = FeatureUnion([("chars", chars), ("words", words)])
    return Pipeline([("features", features), ("model", _linear(params))])


def _given(tokens: list[str]) -> list[str]:
    """Returns already-analysed tokens unchanged (cross-validation analyses every text once, not once per fold)."""
    return tokens


@dataclass
class _Prepared:
    """The texts analysed once per char n-gram range, for fitting many folds and C values quickly."""

    grams: dict[tuple[int, int], list[list[str]]]
    words: list[list[str]]

    @classmethod
    def of(cls, texts: list[str], ranges: list[tuple[int, int]]) -> _Prepared:
        grams = {}
        for low, high in ranges:
            chars, words = _vectorizers({"char_ngram": [low, high]})
            analyse = chars.build_analyzer()
            grams[(low, high)] = [analyse(value) for value in texts]
        analyse_words = words.build_analyzer()
        return cls(grams=grams, words=[analyse_words(value) for value in texts])

    def matrices(self, ngram: tuple[int, int], train: np.ndarray, test: np.ndarray) -> tuple[sp.csr_matrix, ...]:
        """Returns the train and test feature matrices of a fold, the vectorizers fitted on the train part only."""
        fitted_train, fitted_test = [], []
        for docs in (self.grams[ngram], self.words):
            vectorizer = TfidfVectorizer(analyzer=_given, sublinear_tf=True, min_df=2)
            fitted_train.append(vectorizer.fit_transform([docs[i] for i in train]))
            fitted_test.append(vectorizer.transform([docs[i] for i in test]))
        return sp.hstack(fitted_train, format="csr"), sp.hstack(fitted_test, format="csr")


def _fit_fold(
    x_train: sp.csr_matrix, x_test: sp.csr_matrix, y_train: np.ndarray, c_values: list[float]
) -> list[np.ndarray]:
    """Returns a fold's test probabilities for each C, fitted from the smallest C up (each fit warm-starts)."""
    model = _linear({"C": c_values[0]}).set_params(warm_start=True)
    results = []
    for c in c_values:
        model.set_params(C=c)
        model.fit(x_train, y_train)
        results.append(model.predict_proba(x_test))
    return results


def _workers(n_jobs: int | None, tasks: int, size: int) -> int:
    if n_jobs is not None and n_jobs > 0:
        return min(n_jobs, tasks)
    if size < PARALLEL_FROM:
        return 1  # starting worker processes would cost more than the fits
    return max(1, min(tasks, os.cpu_count() or 1))


def _out_of_fold(
    prepared: _Prepared,
    y: np.ndarray,
    *,
    folds: int,
    ranges: list[tuple[int, int]],
    c_values: list[float],
    progress: Progress | None,
    n_jobs: int | None,
) -> dict[tuple[tuple[int, int], float], np.ndarray]:
    """Returns the out-of-fold probabilities of every (char n-gram range, C), columns in sorted label order."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    splits = list(splitter.split(np.zeros(len(y)), y))
    tasks = [(ngram, fold, train, test) for ngram in ranges for fold, (train, test) in enumerate(splits, start=1)]
    workers = _workers(n_jobs, len(tasks), len(y))
    if workers > 1:
        # NOTE: processes, not threads: the solver holds the GIL for much of a fit. Features are built here, once.
        calls = (
            joblib.delayed(_fit_fold)(*prepared.matrices(ngram, train, test), y[train], c_values)
            for ngram, _, train, test in tasks
        )
        outputs = joblib.Parallel(n_jobs=workers, return_as="generator")(calls)
    else:
        outputs = (
            _fit_fold(*prepared.matrices(ngram, train, test), y[train], c_values) for ngram, _, train, test in tasks
        )
    n_classes = len(set(y))
    results = {(ngram, c): np.zeros((len(y), n_classes)) for ngram in ranges for c in c_values}
    started = time.perf_counter()
    for (ngram, fold, _, test), fitted in zip(tasks, outputs, strict=True):
        for c, probabilities in zip(c_values, fitted, strict=True):
            results[(ngram, c)][test] = probabilities
        if progress:
            progress(
                f"  fold {fold}/{folds}, char n-grams {ngram[0]}–{ngram[1]}: {len(c_values)} fit(s) done "
                f"({time.perf_counter() - started:.0f} s)"
            )
    return results


def score(
    y_true: Sequence[str], y_pred: Sequence[str], *, kind: str = "holdout", top3: float | None = None
) -> Evaluation:
    """Returns the evaluation of predicted labels against the true ones (its labels: both sets, sorted)."""
    labels = sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    n = len(y_true)
    total = int(support.sum())
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return Evaluation(
        labels=labels,
        per_class=per_class,
        macro_f1=float(f1.mean()) if len(labels) else 0.0,
        weighted_f1=float((f1 * support).sum() / total) if total else 0.0,
        accuracy=float(np.trace(matrix) / n) if n else 0.0,
        confusion=matrix.astype(int).tolist(),
        n=n,
        kind=kind,
        top3_accuracy=top3,
    )


def _from_probabilities(
    y_true: Sequence[str], probabilities: np.ndarray, classes: list[str], *, kind: str
) -> Evaluation:
    order = np.argsort(-probabilities, axis=1, kind="stable")
    predicted = [classes[i] for i in order[:, 0]]
    index = {label: i for i, label in enumerate(classes)}
    top3 = [index.get(label, -1) in row[:3] for label, row in zip(y_true, order, strict=True)]
    return score(y_true, predicted, kind=kind, top3=float(np.mean(top3)) if top3 else None)


def _check_input(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    cleaned = [triage_text.clean_text(value) for value in texts]
    names = [triage_text.clean_text(value) for value in labels]
    issues = [Issue(f"text {i + 1}", "empty text") for i, value in enumerate(cleaned) if not value]
    issues += [Issue(f"text {i + 1}", "empty label") for i, value in enumerate(names) if not value]
    if issues:
        raise InputError(issues[:20], "training data refused")
    return cleaned, names


def drop_rare(texts: list[str], labels: list[str]) -> tuple[list[str], list[str], dict[str, int]]:
    """Returns the texts and labels without classes of fewer than two examples, and those classes with counts."""
    counts = Counter(labels)
    dropped = {label: count for label, count in sorted(counts.items()) if count < MIN_EXAMPLES}
    if len(counts) - len(dropped) < 2:
        kept = [label for label in counts if label not in dropped]
        detail = f"only one class: {kept[0]!r}" if kept else "no class"
        message = f"{detail} with at least {MIN_EXAMPLES} examples; a classifier needs at least 2 such classes"
        if dropped:
            message += f" (too small: {', '.join(f'{k} ({v})' for k, v in dropped.items())})"
        raise InputError([Issue("training data", message)], "training data refused")
    if not dropped:
        return texts, labels, {}
    keep = [i for i, label in enumerate(labels) if label not in dropped]
    return [texts[i] for i in keep], [labels[i] for i in keep], dropped


@contextmanager
def _learnable() -> Iterator[None]:
    """Turns scikit-learn's refusal of unusable texts (an empty vocabulary: too few or too short texts to learn
    anything from) into an input error naming it."""
    try:
        yield
    except ValueError as exc:
        raise InputError([Issue("training data", f"cannot train: {exc}")], "training data refused") from None


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    folds: int = 5,
    params: dict[str, Any] | None = None,
    progress: Progress | None = None,
    n_jobs: int | None = None,
) -> Evaluation:
    """Returns the stratified K-fold cross-validated evaluation of the classifier on labelled texts.

    Classes with fewer than two examples are left out (listed in `dropped_classes`); the folds are at most the
    size of the smallest class.
    """
    cleaned, names = _check_input(texts, labels)
    cleaned, names, dropped = drop_rare(cleaned, names)
    params = {**DEFAULT_PARAMS, **(params or {})}
    folds = max(2, min(folds, min(Counter(names).values())))
    ngram = (int(params["char_ngram"][0]), int(params["char_ngram"][1]))
    y = np.array(names, dtype=object)
    with _learnable():
        prepared = _Prepared.of(cleaned, [ngram])
        c_values = [float(params["C"])]
        out = _out_of_fold(
            prepared, y, folds=folds, ranges=[ngram], c_values=c_values, progress=progress, n_jobs=n_jobs
        )
    evaluation = _from_probabilities(names, out[(ngram, float(params["C"]))], sorted(set(names)), kind="cv")
    evaluation.folds = folds
    evaluation.dropped_classes = dropped
    return evaluation


def evaluate(classifier: Classifier, texts: Sequence[str], labels: Sequence[str]) -> Evaluation:
    """Returns the evaluation of a trained classifier on held-out labelled texts."""
    cleaned, names = _check_input(texts, labels)
    if not cleaned:
        raise InputError([Issue("evaluation data", "no texts")], "nothing to evaluate")
    probabilities = classifier.probabilities(classifier.features(cleaned))
    return _from_probabilities(names, probabilities, classifier.labels, kind="holdout")


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    text_columns: Sequence[str] = ("text",),
    label_column: str = "label",
    source: dict[str, Any] | None = None,
    search: bool = True,
    params: dict[str, Any] | None = None,
    folds: int | None = None,
    grid: dict[str, list[Any]] | None = None,
    progress: Progress | None = None,
    n_jobs: int | None = None,
) -> Classifier:
    """Returns a classifier trained on labelled texts, its parameters chosen by cross-validation if `search`.

    Classes with fewer than two examples are dropped (listed in meta["dropped_classes"]). With `search` every
    combination of `grid` (default SEARCH_GRID) is cross-validated on `folds` (default 5) folds and the best
    macro-F1 wins; without it `params` (default DEFAULT_PARAMS) are used and cross-validated for the record only
    when `folds` is given (meta["cv"] is None otherwise). Folds are at most the size of the smallest class.
    """
    started = time.perf_counter()
    cleaned, names = _check_input(texts, labels)
    cleaned, names, dropped = drop_rare(cleaned, names)
    counts = Counter(names)
    if folds is None:
        folds = 5 if search else 0
    if search and folds < 2:
        raise InputError([Issue("folds", "the parameter search needs at least 2 folds")], "training refused")
    folds = min(folds, min(counts.values())) if folds else 0
    chosen = {**DEFAULT_PARAMS, **(params or {})}
    cv: dict[str, Any] | None = None
    searched: list[dict[str, Any]] = []
    if search or folds:
        folds = max(folds, 2)
        space = (grid or SEARCH_GRID) if search else {"C": [chosen["C"]], "char_ngram": [chosen["char_ngram"]]}
        ranges = [(int(r[0]), int(r[1])) for r in space["char_ngram"]]
        c_values = sorted(float(c) for c in space["C"])
        if progress:
            combos = len(ranges) * len(c_values)
            progress(f"cross-validating {combos} parameter set(s) on {folds} folds of {len(cleaned)} texts")
        y = np.array(names, dtype=object)
        with _learnable():
            prepared = _Prepared.of(cleaned, ranges)
            out = _out_of_fold(
                prepared, y, folds=folds, ranges=ranges, c_values=c_values, progress=progress, n_jobs=n_jobs
            )
        classes = sorted(counts)
        best: tuple[float, float] | None = None
        for ngram in ranges:
            for c in c_values:
                evaluation = _from_probabilities(names, out[(ngram, c)], classes, kind="cv")
                scores = {
                    "C": c,
                    "char_ngram": list(ngram),
                    "macro_f1": round(evaluation.macro_f1, 4),
                    "accuracy": round(evaluation.accuracy, 4),
                }
                searched.append(scores)
                if progress and len(ranges) * len(c_values) > 1:
                    progress(
                        f"  C={c:g}, char n-grams {ngram[0]}–{ngram[1]}: macro-F1 {evaluation.macro_f1:.3f}, "
                        f"accuracy {evaluation.accuracy:.3f}"
                    )
                # Ties go to the first in grid order: the smaller n-gram range and the stronger regularisation.
                key = (round(evaluation.macro_f1, 6), round(evaluation.accuracy, 6))
                if best is None or key > best:
                    best = key
                    chosen = {"C": c, "char_ngram": list(ngram)}
                    cv = {
                        "macro_f1": evaluation.macro_f1,
                        "weighted_f1": evaluation.weighted_f1,
                        "accuracy": evaluation.accuracy,
                        "top3_accuracy": evaluation.top3_accuracy,
                        "folds": folds,
                    }
    if progress:
        progress(f"fitting the final model on all {len(cleaned)} texts (C={chosen['C']:g})")
    fit_started = time.perf_counter()
    pipeline = build_pipeline(chosen)
    with _learnable():
        pipeline.fit(cleaned, names)
    fit_seconds = time.perf_counter() - fit_started
    linear: LogisticRegression = pipeline.named_steps["model"]
    # Single precision halves the model file and changes no probability beyond the 6th decimal.
    linear.coef_ = linear.coef_.astype(np.float32)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "labels": [str(label) for label in pipeline.classes_],
        "label_column": label_column,
        "text_columns": list(text_columns),
        "training_size": len(cleaned),
        "class_counts": dict(sorted(counts.items())),
        "dropped_classes": dropped,
        "trained_at": clock.now().astimezone(dt.UTC).replace(microsecond=0).isoformat(),
        "source": source or {},
        "params": chosen,
        "search": searched,
        "cv": cv,
        "features": {
            name: len(vectorizer.vocabulary_) for name, vectorizer in pipeline.named_steps["features"].transformer_list
        },
        "seconds": {"total": round(time.perf_counter() - started, 2), "final_fit": round(fit_seconds, 2)},
        "versions": versions(),
        "lexicon_sha256": hashlib.sha256(triage_text.LEXICON.read_bytes()).hexdigest(),
    }
    return Classifier(pipeline, meta)


def versions() -> dict[str, str]:
    """Returns the versions of the libraries a model file depends on."""
    import jieba

    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "jieba": str(getattr(jieba, "__version__", "")),
        "gridgov": gridgov.__version__,
    }
