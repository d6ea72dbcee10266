"""`gridgov triage train / evaluate / predict / info` on generated exports (no database involved)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.domains.triage import cli as triage_cli
from gridgov.domains.triage import model
from tests.domains.triage.classifier_corpus import KINDS, corpus, export_rows, write_csv, write_xlsx

runner = CliRunner()


def _run(*args: Any) -> Any:
    return runner.invoke(app, ["triage", *map(str, args)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("cli")
    header, rows = export_rows(*corpus())
    rows += [["GD9998", "", "", "路灯", ""], ["GD9999", "消防通道", "消防通道被车堵了", "消防", ""]]
    data = write_xlsx(folder / "history.xlsx", header, rows, title="12345工单导出")
    out = folder / "m.model"
    result = _run(
        "train",
        data,
        "--text-col",
        "标题",
        "--text-col",
        "诉求内容",
        "--label-col",
        "问题分类",
        "--out",
        out,
        "--folds",
        3,
    )
    return out, result


def test_train_reports_what_it_read_chose_and_wrote(trained):
    out, result = trained
    assert result.exit_code == 0, result.output
    assert "read history.xlsx sheet 工单: 126 rows used, 1 skipped; 6 classes" in result.output
    assert "skipped history.xlsx sheet 工单 row 128, 标题, 诉求内容: empty text: row skipped" in result.output
    assert "dropped 1 class(es) with fewer than 2 examples" in result.output and "消防 (1)" in result.output
    assert "5 classes, 125 texts" in result.output and "parameters: C=" in result.output
    assert "cross-validated (3 folds): macro-F1" in result.output and f"wrote {out}" in result.output
    meta = model.read_meta_file(out)
    assert meta["text_columns"] == ["标题", "诉求内容"] and meta["label_column"] == "问题分类"
    assert meta["source"]["file"] == "history.xlsx" and meta["source"]["rows"] == 126
    assert meta["cv"]["folds"] == 3 and meta["cv"]["macro_f1"] > 0.9


def test_evaluate_a_model_on_held_out_gbk_data_and_write_json(trained, tmp_path: Path):
    out, _ = trained
    header, rows = export_rows(*corpus(per_kind=6, seed=31))
    rows.append(["GD9999", "新问题", "一个模型没见过的类别", "新类", ""])
    data = write_csv(tmp_path / "held.csv", header, rows, encoding="gbk")
    report = tmp_path / "eval.json"
    result = _run("evaluate", "--model", out, "--data", data, "--json", report)  # columns: the model's
    assert result.exit_code == 0, result.output
    assert "per class (held-out data)" in result.output and "新类 (unknown to the model)" in result.output
    assert "31 texts: macro-F1" in result.output and "confusion matrix" in result.output
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["kind"] == "holdout" and document["n"] == 31
    assert document["labels"] == sorted([*KINDS, "新类"]) and len(document["confusion"]) == 6
    assert document["per_class"]["新类"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert document["accuracy"] > 0.8 and document["data"]["file"] == "held.csv"
    assert document["model"]["params"] == model.read_meta_file(out)["params"]


def test_evaluate_by_cross_validation(tmp_path: Path):
    header, rows = export_rows(*corpus(per_kind=10, seed=4))
    data = write_csv(tmp_path / "bom.csv", header, rows, encoding="utf-8-sig")
    report = tmp_path / "cv.json"
    result = _run(
        "evaluate", "--data", data, "--cv", 3, "--text-col", "诉求内容", "--label-col", "问题分类", "--json", report
    )
    assert result.exit_code == 0, result.output
    assert "per class (cross-validated)" in result.output and "50 texts, 3 folds: macro-F1" in result.output
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["kind"] == "cv" and document["folds"] == 3 and document["model"] is None
    assert sum(map(sum, document["confusion"])) == 50


def test_predict_and_info(trained):
    out, _ = trained
    result = _run("predict", out, "经三路的井盖松动了", "小区门口路灯整排都黑着", "--top", 2, "--words", 4)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "经三路的井盖松动了" and lines[1].startswith("  1. 井盖  0.")
    assert lines[3].startswith("  words: 井盖 (") and lines[4] == "小区门口路灯整排都黑着"
    assert lines[5].startswith("  1. 路灯")
    info = _run("info", out)
    assert info.exit_code == 0, info.output
    assert "gridgov-triage-model format version 1" in info.output
    assert "trained" in info.output and "on 125 texts of history.xlsx" in info.output
    assert (
        "5 labels: 井盖, 噪音, 垃圾, 摆摊, 路灯" in info.output
        and "dropped (fewer than 2 examples): 消防" in info.output
    )
    assert "cannot be loaded here" not in info.output
    as_json = _run("info", out, "--json")
    assert json.loads(as_json.output)["labels"] == sorted(KINDS)


def test_bad_input_exits_1_with_the_reason_and_writes_nothing(trained, tmp_path: Path):
    model_file, _ = trained
    data = write_csv(tmp_path / "d.csv", ["内容", "分类"], [["井盖缺失", "井盖"], ["路灯不亮", "路灯"]])
    out = tmp_path / "new.model"
    result = _run("train", data, "--text-col", "诉求内容", "--label-col", "分类", "--out", out)
    assert result.exit_code == 1
    assert "d.csv: not read (1 problem)" in result.stderr
    assert "missing column 诉求内容; the file has: 内容, 分类" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    one = write_csv(tmp_path / "one.csv", ["内容", "分类"], [["井盖缺失", "井盖"], ["井盖破损", "井盖"]])
    out.write_bytes(b"the previous model")
    result = _run("train", one, "--text-col", "内容", "--label-col", "分类", "--out", out)
    assert result.exit_code == 1 and "only one class: '井盖'" in result.stderr
    assert out.read_bytes() == b"the previous model"  # left as it was
    (tmp_path / "x.model").write_bytes(b"not a model at all")
    for args in (["predict", tmp_path / "x.model", "井盖"], ["info", tmp_path / "x.model"]):
        result = _run(*args)
        assert result.exit_code == 1 and "not a gridgov triage model file" in result.stderr
    both = _run("evaluate", "--model", model_file, "--cv", 3, "--data", data)
    assert both.exit_code == 1 and "give either --model MODEL or --cv K" in both.stderr
    unnamed = _run("evaluate", "--cv", 3, "--data", data)
    assert unnamed.exit_code == 1 and "name the --text-col and --label-col" in unnamed.stderr
    c_with_search = _run("train", data, "--text-col", "内容", "--label-col", "分类", "--out", out, "--c", 3)
    assert c_with_search.exit_code == 1 and "give --c with --no-search" in c_with_search.stderr


def test_many_labels_show_the_top_confusions_instead_of_the_matrix(capsys: pytest.CaptureFixture[str]):
    labels = [f"L{i:02d}" for i in range(15)]
    truth = labels * 2 + ["L00", "L00"]
    predicted = labels * 2 + ["L01", "L01"]
    triage_cli._print_evaluation(model.score(truth, predicted), None)
    output = capsys.readouterr().out
    assert "confusion matrix" not in output and "L00 → L01: 2" in output
    assert "most frequent confusions (true → predicted: texts; the JSON has the whole matrix)" in output
