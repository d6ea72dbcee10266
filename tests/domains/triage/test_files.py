"""Reading classifier training data: XLSX and CSV in UTF-8, UTF-8 with BOM and GBK, with the columns the user
names; bad files are refused with the reason, rows without a text or a label are skipped and reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridgov.core import sheets
from gridgov.core.errors import InputError
from gridgov.domains.triage.files import read_training
from gridgov.domains.triage.text import clean_text
from tests.domains.triage.classifier_corpus import corpus, export_rows, write_csv, write_xlsx


def _read(path: Path, **options):
    options.setdefault("text_columns", ["诉求内容"])
    options.setdefault("label_column", "问题分类")
    return read_training(path, **options)


def _refusal(path: Path, **options) -> str:
    with pytest.raises(InputError) as caught:
        _read(path, **options)
    return "\n".join(str(issue) for issue in caught.value.issues)


def test_gbk_and_bom_csv_and_xlsx_with_chinese_columns_read_the_same(tmp_path: Path):
    texts, labels = corpus(per_kind=4)
    header, rows = export_rows(texts, labels)
    read = [
        _read(write_csv(tmp_path / "gbk.csv", header, rows, encoding="gbk")),
        _read(write_csv(tmp_path / "bom.csv", header, rows, encoding="utf-8-sig")),
        _read(write_xlsx(tmp_path / "export.xlsx", header, rows, title="金水区12345工单导出（2026年10月）")),
    ]
    for data in read:
        assert data.texts == [clean_text(text) for text in texts] and data.labels == labels  # ，→ , (NFKC)
        assert data.rows_used == len(texts) and data.rows_skipped == []
    assert read[2].source == "export.xlsx sheet 工单" and read[2].header_row == 2  # under the title line
    assert read[0].sha256 != read[1].sha256  # the bytes differ, the data does not
    assert read[0].source_meta() == {"file": "gbk.csv", "source": "gbk.csv", "sha256": read[0].sha256, "rows": 20}
    assert read[0].class_counts == dict.fromkeys(dict.fromkeys(labels), 4)


def test_columns_match_loosely_join_and_are_cleaned(tmp_path: Path):
    header = ["编号", " 标题* ", "诉求内容", "Category"]
    rows = [
        [1, "井盖丢了", "  经三路\u3000井盖\n缺失。", "BJ0101"],
        [2, "", "路灯不亮", 2.0],  # a number read as a label: "2", not "2.0"
        [3, "ＡＢＣ小区", None, "BJ0101"],
    ]
    data = _read(
        write_xlsx(tmp_path / "t.xlsx", header, rows), text_columns=["标题", "诉求内容"], label_column="category"
    )
    assert data.texts == [
        "井盖丢了。经三路 井盖 缺失",
        "路灯不亮",
        "ABC小区",
    ]  # NFKC, whitespace collapsed, joined with 。
    assert data.labels == ["BJ0101", "2", "BJ0101"]
    assert data.columns == {"标题": "标题*", "诉求内容": "诉求内容", "category": "Category"}


def test_rows_without_a_text_or_a_label_are_skipped_and_reported(tmp_path: Path):
    rows = [
        ["a", "井盖缺失", "井盖"],
        ["b", "   ", "井盖"],
        ["c", "路灯不亮", ""],
        ["", "", ""],
        ["d", "路灯一直闪", "路灯"],
    ]
    data = _read(write_csv(tmp_path / "s.csv", ["id", "诉求内容", "问题分类"], rows))
    assert data.texts == ["井盖缺失", "路灯一直闪"] and data.rows_used == 2
    assert [(issue.where, issue.message) for issue in data.rows_skipped] == [
        ("s.csv row 3", "empty text: row skipped"),
        ("s.csv row 4", "no label: row skipped"),
    ]  # the blank row 5 is no row at all


def test_a_missing_column_lists_the_columns_the_file_has(tmp_path: Path):
    path = write_csv(tmp_path / "m.csv", ["工单编号", "标题", "内容", "事项类型"], [["1", "x", "井盖", "井盖"]])
    message = _refusal(path, label_column="事项类型")
    assert "m.csv row 1, 诉求内容: missing column 诉求内容; the file has: 工单编号, 标题, 内容, 事项类型" == message


def test_one_class_only_is_refused(tmp_path: Path):
    rows = [["井盖缺失", "井盖"], ["井盖破损", "井盖"], ["路灯不亮", ""]]
    message = _refusal(write_csv(tmp_path / "one.csv", ["诉求内容", "问题分类"], rows))
    assert "only one class: '井盖' (2 rows)" in message
    data = _read(tmp_path / "one.csv", min_classes=1)  # evaluating a model on one class's texts is fine
    assert data.labels == ["井盖", "井盖"]


def test_all_texts_empty_or_no_usable_row_is_refused(tmp_path: Path):
    empty = write_csv(tmp_path / "e.csv", ["诉求内容", "问题分类"], [["", "井盖"], [" ", "路灯"]])
    assert "all 2 texts are empty (column 诉求内容)" in _refusal(empty)
    unlabelled = write_csv(tmp_path / "u.csv", ["诉求内容", "问题分类"], [["井盖缺失", ""], ["路灯不亮", ""]])
    assert "no usable row" in _refusal(unlabelled)
    header_only = write_csv(tmp_path / "h.csv", ["诉求内容", "问题分类"], [])
    assert "no data rows under the header" in _refusal(header_only)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bad.csv", b"\x81\x30\xff\xff\xfe\x00", "not UTF-8 or GB18030 text"),
        ("bad.xlsx", b"PK\x03\x04 not a zip", "not a readable XLSX workbook"),
        ("bad.txt", "诉求内容,问题分类\n".encode(), "unsupported file type '.txt'"),
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", b"\n\n", "not a table"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, name: str, data: bytes, message: str):
    (tmp_path / name).write_bytes(data)
    assert message in _refusal(tmp_path / name)
    with pytest.raises(InputError, match=message.split("'")[0]):  # the same from an upload's bytes
        read_training(data, name, text_columns=["诉求内容"], label_column="问题分类")


def test_the_label_column_cannot_be_a_text_column(tmp_path: Path):
    path = write_csv(tmp_path / "x.csv", ["诉求内容", "问题分类"], [["a", "b"]])
    assert "both a text and the label column" in _refusal(path, text_columns=["诉求内容", " 问题分类"])


def test_the_generic_table_reader_sniffs_the_delimiter_and_numbers_rows_as_excel(tmp_path: Path):
    data = '标题;内容\n"a;1";"多行\n内容"\nb;c\n'.encode("gb18030")
    table = sheets.read_table(data, "t.csv")
    assert table.rows == [(1, ("标题", "内容")), (2, ("a;1", "多行\n内容")), (3, ("b", "c"))]
    with pytest.raises(InputError, match="a CSV file has no sheets"):
        sheets.read_table(data, "t.csv", sheet="x")
    with pytest.raises(InputError, match="no such file"):
        sheets.read_file(tmp_path / "missing.csv")
