import pytest
from openpyxl import Workbook

from gridgov.core.errors import InputError
from gridgov.domains.areas import files


def test_xlsx_rows_carry_spreadsheet_row_numbers(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "人口"
    sheet.append([])  # a blank first row: the header is the first non-empty row
    sheet.append(["编码", "人口", "网格员"])
    sheet.append([410105001001001, 1200, "李四"])
    sheet.append([None, None, None])
    sheet.append(["410105001001002", 800.0, None])
    path = tmp_path / "pop.xlsx"
    workbook.save(path)

    table = files.read_table(path)
    assert table.source == "pop.xlsx sheet '人口'"
    assert table.rows == [
        {"编码": 410105001001001, "人口": 1200, "网格员": "李四"},
        {"编码": "410105001001002", "人口": 800, "网格员": None},
    ]
    assert table.row_numbers == [3, 5]
    with pytest.raises(InputError) as caught:
        files.read_table(path, sheet="2023")
    assert "no sheet named '2023' (sheets: 人口)" in caught.value.issues[0].message


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_and_gb18030(tmp_path, encoding):
    path = tmp_path / "pop.csv"
    path.write_bytes("编码;名称;人口\n410105001001001;一号网格;1200\n\n410105001001002;二号网格;\n".encode(encoding))
    table = files.read_table(path)
    assert table.rows == [
        {"编码": "410105001001001", "名称": "一号网格", "人口": "1200"},
        {"编码": "410105001001002", "名称": "二号网格", "人口": None},
    ]
    assert table.row_numbers == [2, 4]


def test_table_problems_name_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("code,code\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        files.read_table(path)
    assert caught.value.issues[0].where == "bad.csv row 1" and "duplicate column 'code'" in str(caught.value)
    path.write_text("code,population\n1,2,3\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        files.read_table(path)
    assert caught.value.issues[0].where == "bad.csv row 2"
    assert "value '3' in column 3, which has no header" in caught.value.issues[0].message


def test_undecodable_text_and_unknown_suffixes(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"code\n\xff\xfe\xff\n")
    with pytest.raises(InputError) as caught:
        files.read_table(path)
    assert "not UTF-8 or GB18030" in caught.value.issues[0].message
    with pytest.raises(InputError) as caught:
        files.file_kind(tmp_path / "grids.shp")
    assert "unsupported file type '.shp'" in caught.value.issues[0].message
    assert files.file_kind(tmp_path / "GRIDS.GeoJSON") == "geojson"


def test_geojson_syntax_errors_name_line_and_column(tmp_path):
    path = tmp_path / "grids.geojson"
    path.write_text('{\n  "type": "FeatureCollection",\n  "features": [,]\n}', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        files.read_geojson(path)
    assert caught.value.issues[0].where == "grids.geojson line 3 column 16"  # the comma
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        files.read_geojson(path)
    assert "not a GeoJSON object" in caught.value.issues[0].message
