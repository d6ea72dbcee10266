"""The classifier: trained and cross-validated on a generated corpus, explained, scored, saved and refused."""

from __future__ import annotations

import functools
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import sklearn

from gridgov.core.errors import InputError
from gridgov.domains.triage import model
from gridgov.domains.triage.model import Classifier, ModelFileError
from tests.domains.triage.classifier_corpus import KINDS, corpus

CHANCE = 1 / len(KINDS)


@functools.cache
def _trained() -> bytes:
    """Returns the file of a model trained (with the parameter search) on the generated corpus, once per run."""
    texts, labels = corpus()
    extra_texts, extra_labels = ["消防通道被车堵了"], ["消防"]  # one example: cannot be cross-validated
    classifier = model.train(
        texts + extra_texts,
        labels + extra_labels,
        text_columns=("诉求内容",),
        label_column="问题分类",
        source={"file": "generated.csv", "rows": 126},
    )
    return classifier.to_bytes()


@pytest.fixture
def classifier() -> Classifier:
    return Classifier.from_bytes(_trained())


def test_training_chooses_parameters_by_cross_validation_well_above_chance(classifier: Classifier):
    meta = classifier.meta
    assert meta["format"] == "gridgov-triage-model" and meta["format_version"] == 1
    assert classifier.labels == sorted(KINDS) == meta["labels"]
    assert meta["dropped_classes"] == {"消防": 1}  # and the model never suggests it
    assert meta["training_size"] == 125 and meta["class_counts"] == dict.fromkeys(sorted(KINDS), 25)
    assert meta["label_column"] == "问题分类" and meta["text_columns"] == ["诉求内容"]
    assert meta["source"] == {"file": "generated.csv", "rows": 126}
    grid = model.SEARCH_GRID
    assert len(meta["search"]) == len(grid["C"]) * len(grid["char_ngram"])
    best = max(meta["search"], key=lambda row: row["macro_f1"])
    assert meta["params"]["C"] in grid["C"] and best["macro_f1"] == round(meta["cv"]["macro_f1"], 4)
    assert meta["cv"]["folds"] == 5 and meta["cv"]["macro_f1"] > 0.9 and meta["cv"]["accuracy"] > 3 * CHANCE
    assert set(meta["versions"]) == {"python", "sklearn", "numpy", "scipy", "jieba", "gridgov"}
    assert meta["versions"]["sklearn"] == sklearn.__version__ and len(meta["lexicon_sha256"]) == 64
    assert meta["trained_at"].endswith("+00:00")


def test_predictions_rank_labels_and_explain_with_the_planted_words(classifier: Classifier):
    predictions = classifier.predict(["农业路口的井盖松动了，晚上很危险", "楼下烧烤摊天天摆摊到半夜"], top=3, explain=5)
    manhole, stall = predictions
    assert manhole.label == "井盖" and stall.label == "摆摊"
    assert len(manhole.suggestions) == 3 and manhole.confidence == manhole.suggestions[0].probability
    probabilities = [s.probability for s in manhole.suggestions]
    assert probabilities == sorted(probabilities, reverse=True) and manhole.confidence > 0.5
    assert "井盖" in [word for word, _ in manhole.words]
    assert "摆摊" in [word for word, _ in stall.words]
    assert all(weight > 0 for _, weight in manhole.words) and len(manhole.words) <= 5
    assert classifier.predict(["路灯不亮"], top=99)[0].suggestions[-1].label  # top is capped at the labels
    assert len(classifier.predict(["路灯不亮"], top=99)[0].suggestions) == len(KINDS)
    assert classifier.predict(["路灯不亮"])[0].words == []  # explanations only when asked
    with pytest.raises(TypeError):
        classifier.predict("路灯不亮")


def test_probabilities_equal_the_linear_models_own(classifier: Classifier):
    texts, _ = corpus(per_kind=3, seed=5)
    matrix = classifier.features(texts)
    ours = classifier.probabilities(matrix)
    theirs = classifier.pipeline.predict_proba(texts)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_the_model_round_trips_through_bytes_and_file(classifier: Classifier, tmp_path: Path):
    texts, _ = corpus(per_kind=4, seed=99)
    path = tmp_path / "sub" / "m.model"
    classifier.save(path)
    assert not list(path.parent.glob(".*.tmp"))  # written through a temporary file, renamed
    again = Classifier.load(path)
    assert again.meta == classifier.meta and again.labels == classifier.labels
    before = classifier.probabilities(classifier.features(texts))
    after = again.probabilities(again.features(texts))
    assert np.array_equal(before, after)
    assert model.read_meta(path.read_bytes()) == classifier.meta
    assert model.read_meta_file(path)["labels"] == classifier.labels


def test_cross_validation_and_evaluation():
    texts, labels = corpus()
    cv = model.cross_validate(texts + ["一条孤零零的"], labels + ["孤例"], folds=4)
    assert cv.kind == "cv" and cv.folds == 4 and cv.n == 125 and cv.dropped_classes == {"孤例": 1}
    assert cv.macro_f1 > 0.9 and cv.accuracy > 3 * CHANCE and cv.top3_accuracy >= cv.accuracy
    assert sum(map(sum, cv.confusion)) == 125
    trained = model.train(texts, labels, search=False)
    assert trained.meta["cv"] is None and trained.meta["search"] == []  # --no-search without --folds
    held_out, truth = corpus(per_kind=6, seed=2024)
    holdout = model.evaluate(trained, held_out, truth)
    assert holdout.kind == "holdout" and holdout.n == 30 and holdout.accuracy > 0.8
    document = json.loads(json.dumps(holdout.to_dict()))
    assert document["labels"] == sorted(KINDS) and len(document["confusion"]) == len(KINDS)


def test_scores_equal_a_hand_computed_case():
    truth = ["a", "a", "a", "b", "b", "c"]
    predicted = ["a", "a", "b", "b", "c", "c"]
    result = model.score(truth, predicted)
    # a: precision 2/2, recall 2/3; b: 1/2, 1/2; c: 1/2, 1/1.
    assert result.per_class["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": 0.8, "support": 3}
    assert result.per_class["b"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert result.per_class["c"]["f1"] == pytest.approx(2 / 3)
    assert result.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert result.weighted_f1 == pytest.approx((0.8 * 3 + 0.5 * 2 + 2 / 3) / 6)
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert result.top_confusions() == [("a", "b", 1), ("b", "c", 1)]


def test_two_classes_explain_either_label():
    texts, labels = corpus(per_kind=12)
    keep = [i for i, label in enumerate(labels) if label in ("井盖", "路灯")]
    binary = model.train([texts[i] for i in keep], [labels[i] for i in keep], search=False)
    for text, label in [("井盖丢了", "井盖"), ("路灯坏了不亮", "路灯")]:
        prediction = binary.predict([text], explain=3)[0]
        assert prediction.label == label and label in [word for word, _ in prediction.words]


def test_training_refuses_unusable_data():
    with pytest.raises(InputError, match="only one class: 'a' with at least 2 examples.*too small: b \\(1\\)"):
        model.train(["井盖缺失", "井盖破损", "路灯不亮"], ["a", "a", "b"])
    with pytest.raises(InputError, match="empty text"):
        model.train(["井盖缺失", "  "], ["a", "b"])
    with pytest.raises(InputError, match="the parameter search needs at least 2 folds"):
        model.train(["井盖缺失", "井盖破损", "路灯不亮", "路灯坏了"], ["a", "a", "b", "b"], folds=1)


def _file_with(data: bytes, *, version: int | None = None, meta: dict | None = None) -> bytes:
    """Returns a model file with its header's format version or its metadata replaced (checksum kept valid)."""
    start = len(model.MAGIC) + struct.calcsize(">HIQ32s")
    old_version, meta_length, payload_length, digest = struct.unpack_from(">HIQ32s", data, len(model.MAGIC))
    old_meta = data[start : start + meta_length]
    new_meta = json.dumps(meta).encode() if meta is not None else old_meta
    header = struct.pack(">HIQ32s", version or old_version, len(new_meta), payload_length, digest)
    return model.MAGIC + header + new_meta + data[start + meta_length :]


def test_foreign_truncated_and_corrupt_files_are_refused_before_unpickling(tmp_path: Path):
    data = _trained()
    meta = model.read_meta(data)
    cases = [
        (b"PK\x03\x04 a zip, not a model", "not a gridgov triage model file"),
        (data[:10], "not a gridgov triage model file"),
        (data[:30], "truncated model file (the header is incomplete)"),
        (data[:-100], "truncated model file"),
        (data + b"\0", "corrupt model file"),
        (data[:-50] + bytes(50), "the pickled model does not match its checksum"),
        (_file_with(data, version=2), "model file format version 2; this gridgov reads version 1"),
        (_file_with(data, meta={**meta, "format": "other"}), "does not name the format"),
    ]
    for bad, message in cases:
        with pytest.raises(ModelFileError, match=re.escape(message)) as caught:
            Classifier.from_bytes(bad, source="m.model")
        assert caught.value.issues[0].where == "m.model"
    old = _file_with(data, meta={**meta, "versions": {**meta["versions"], "sklearn": "1.4.2"}})
    with pytest.raises(ModelFileError, match=r"trained with scikit-learn 1\.4\.2 \(this installation has 1\.9"):
        Classifier.from_bytes(old)
    assert model.read_meta(old)["versions"]["sklearn"] == "1.4.2"  # the metadata still reads
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelFileError, match="not a gridgov triage model file"):
        Classifier.load(tmp_path / "notes.txt")
    with pytest.raises(ModelFileError, match="no such file"):
        Classifier.load(tmp_path / "missing.model")


def test_the_searchs_fold_features_equal_the_pipelines():
    texts, labels = corpus(per_kind=8)
    train, test = np.arange(0, 40, 2), np.arange(1, 40, 2)
    params = {"C": 10.0, "char_ngram": [1, 3]}
    prepared = model._Prepared.of(texts, [(1, 3)])
    x_train, x_test = prepared.matrices((1, 3), train, test)
    features = model.build_pipeline(params).named_steps["features"]
    expected_train = features.fit_transform([texts[i] for i in train], [labels[i] for i in train])
    expected_test = features.transform([texts[i] for i in test])
    assert (abs(x_train - expected_train)).max() < 1e-12 and (abs(x_test - expected_test)).max() < 1e-12


@pytest.mark.parametrize("run", ["train", "cross_validate"])
def test_texts_too_short_to_learn_from_are_an_input_error_not_a_crash(run):
    texts, labels = ["甲", "乙", "丙", "丁"], ["a", "a", "b", "b"]
    with pytest.raises(InputError, match="cannot train"):
        if run == "train":
            model.train(texts, labels, search=False)
        else:
            model.cross_validate(texts, labels, folds=2)
