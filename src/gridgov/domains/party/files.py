"""The party tree file: YAML (`orgs:` list) or XLSX (sheet `orgs` or 党组织, one organisation per row).

Reading checks each row on its own and names the spot ("tree.xlsx sheet 'orgs' row 7 (code X), parent"); what
needs the database (parents, areas, levels, cycles, scope) is checked by `service.apply_orgs`, which gets the same
row names, so every error of an import points at a row of the file. Nothing is written unless every row is good.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gridgov.core import sheets
from gridgov.core.errors import InputError, Issue
from gridgov.domains.party.enums import ORG_KIND_LABELS_ZH, ORG_LEVEL_LABELS_ZH, OrgKind, OrgLevel
from gridgov.domains.party.schemas import OrgIn, PartyTreeDocument

SHEETS = ("orgs", "党组织", "组织")
FIELDS = ["code", "name", "level", "kind", "parent", "areas", "secretary", "household_id"]
REQUIRED = ["code", "name", "level"]
# Chinese column titles a district is likely to use (the English field names always work).
ALIASES: dict[str, str] = {
    "编码": "code",
    "组织编码": "code",
    "名称": "name",
    "组织名称": "name",
    "层级": "level",
    "组织层级": "level",
    "类型": "kind",
    "组织类型": "kind",
    "上级": "parent",
    "上级编码": "parent",
    "上级组织编码": "parent",
    "区域": "areas",
    "区域编码": "areas",
    "覆盖区域": "areas",
    "书记": "secretary",
    "书记姓名": "secretary",
    "户编号": "household_id",
}
HEADERS_ZH = {
    "code": "编码",
    "name": "名称",
    "level": "层级",
    "kind": "类型",
    "parent": "上级编码",
    "areas": "区域编码",
    "secretary": "书记",
    "household_id": "户编号",
}
SUFFIXES = (".yaml", ".yml", ".xlsx")
Row = tuple[str, OrgIn]


def _issues(error: ValidationError, where: str) -> list[Issue]:
    return [
        Issue(where, sheets.error_message(e), ".".join(str(p) for p in e["loc"]) if e["loc"] else None)
        for e in error.errors()
    ]


def _row(record: dict[str, Any], where: str, issues: list[Issue]) -> Row | None:
    code = record.get("code")
    if code:
        where += f" (code {code})"
    try:
        return where, OrgIn.model_validate(record)
    except ValidationError as error:
        issues.extend(_issues(error, where))
        return None


def read_tree(path: Path) -> list[Row]:
    """Reads a tree file (.yaml, .yml or .xlsx) into (where, organisation) rows; InputError naming each bad row."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError([Issue(path.name, f"unsupported file type {suffix or '(none)'!r}: .yaml, .yml or .xlsx")])
    if not path.is_file():
        raise InputError([Issue(str(path), "no such file")], "file not read")
    data = path.read_bytes()
    if suffix == ".xlsx":
        return rows_from_xlsx(data, source=path.name)
    return rows_from_yaml(data, source=path.name)


def rows_from_yaml(data: bytes, *, source: str) -> list[Row]:
    """Reads the YAML tree file: a mapping with `orgs`, a list of organisations."""
    from gridgov.domains.areas.files import decode_text

    loader = sheets.yaml_loader(frozenset({sheets.INT, sheets.FLOAT, sheets.TIMESTAMP}))
    try:
        document = yaml.load(decode_text(data, source), Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source} line {mark.line + 1}" if mark is not None else source
        raise InputError([Issue(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from None
    if not isinstance(document, dict) or not isinstance(document.get("orgs"), list):
        raise InputError([Issue(source, "expected a mapping with 'orgs:', a list of organisations", "orgs")])
    unknown = sorted(set(document) - {"orgs"})
    issues: list[Issue] = [Issue(source, f"unknown section {key!r}; expected orgs", key) for key in unknown]
    rows: list[Row] = []
    for number, item in enumerate(document["orgs"], start=1):
        where = f"{source} orgs item {number}"
        if not isinstance(item, dict):
            issues.append(Issue(where, "expected a mapping with code, name, level ..."))
            continue
        row = _row(item, where, issues)
        if row is not None:
            rows.append(row)
    if issues:
        raise InputError(issues, f"{source}: nothing imported")
    if not rows:
        raise InputError([Issue(source, "the file lists no organisation", "orgs")], f"{source}: nothing imported")
    return rows


def rows_from_xlsx(data: bytes, *, source: str) -> list[Row]:
    """Reads the XLSX tree file: the sheet `orgs` (or 党组织), one organisation per row under a header row."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError([Issue(source, f"not a readable XLSX workbook ({exc})")], "file not read") from None
    try:
        names = [n for n in workbook.sheetnames if n.strip().casefold() in SHEETS]
        if names:
            worksheet = workbook[names[0]]
        else:
            candidates = [n for n in workbook.sheetnames if sheets.normalise(n) not in sheets.NOTE_SHEETS]
            if not candidates:
                raise InputError([Issue(source, "no sheet of organisations (name it 'orgs' or 党组织)")])
            worksheet = workbook[candidates[0]]
        where = f"{source} sheet {worksheet.title!r}"
        issues: list[Issue] = []
        rows: list[Row] = []
        for number, record in sheets.read_sheet_rows(
            worksheet, fields=FIELDS, required=REQUIRED, aliases=ALIASES, where=where, issues=issues
        ):
            row = _row(record, f"{where} row {number}", issues)
            if row is not None:
                rows.append(row)
    finally:
        workbook.close()
    if issues:
        raise InputError(issues, f"{source}: nothing imported")
    if not rows:
        raise InputError([Issue(source, "the sheet lists no organisation")], f"{source}: nothing imported")
    return rows


def _record(org: OrgIn) -> dict[str, Any]:
    record: dict[str, Any] = {"code": org.code, "name": org.name, "level": org.level.value}
    if org.kind is not None:
        record["kind"] = org.kind.value
    if org.parent:
        record["parent"] = org.parent
    if org.areas:
        record["areas"] = list(org.areas)
    if org.secretary:
        record["secretary"] = org.secretary
    if org.household_id is not None:
        record["household_id"] = org.household_id
    return record


def tree_yaml(document: PartyTreeDocument) -> bytes:
    """Returns the tree as the YAML file `rows_from_yaml` reads."""
    text = yaml.dump(
        {"orgs": [_record(o) for o in document.orgs]},
        Dumper=sheets.SafeDumper,
        allow_unicode=True,
        sort_keys=False,
        width=120,
    )
    return ("# gridgov party organisation tree (党组织树)\n" + text).encode("utf-8")


def tree_xlsx(document: PartyTreeDocument) -> bytes:
    """Returns the tree as the XLSX file `rows_from_xlsx` reads, with a 说明 sheet on the columns and values."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = workbook.add_format({"bold": True})
    text = workbook.add_format({"num_format": "@"})  # codes stay text (no lost leading zeros or digits)
    sheet = workbook.add_worksheet("orgs")
    for column, name in enumerate(FIELDS):
        sheet.write_string(0, column, name, bold)
    for number, org in enumerate(document.orgs, start=1):
        record = _record(org)
        for column, name in enumerate(FIELDS):
            value = record.get(name)
            if value is None:
                continue
            if name == "areas":
                value = ", ".join(value)
            sheet.write_string(number, column, str(value), text)
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 30)
    sheet.set_column(2, 4, 18)
    sheet.set_column(5, 5, 40)
    sheet.freeze_panes(1, 0)
    notes = workbook.add_worksheet("说明")
    lines = [
        "One organisation per row of the sheet 'orgs'; headers may also be written in Chinese (编码, 名称, 层级 ...).",
        "level: " + ", ".join(f"{lv.value} {ORG_LEVEL_LABELS_ZH[lv]}" for lv in OrgLevel),
        "kind: " + ", ".join(f"{k.value} {ORG_KIND_LABELS_ZH[k]}" for k in OrgKind) + " (default by level)",
        "parent: the code of the organisation one level up (empty for a 街道党工委).",
        "areas: codes of the areas covered, separated by commas (a grid branch may cover two grids).",
        "An import checks every row first and writes nothing if any row is wrong; it never deletes organisations.",
    ]
    for number, line in enumerate(lines):
        notes.write_string(number, 0, line)
    notes.set_column(0, 0, 120)
    workbook.close()
    return buffer.getvalue()


def write_tree(document: PartyTreeDocument, path: Path) -> None:
    """Writes the tree to `path` as YAML or XLSX, by its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError([Issue(Path(path).name, f"unsupported file type {suffix or '(none)'!r}: .yaml or .xlsx")])
    Path(path).write_bytes(tree_xlsx(document) if suffix == ".xlsx" else tree_yaml(document))
