"""Test data of the catalogue: a few areas inserted directly, and a small valid catalogue as plain data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog import service
from gridgov.domains.catalog.schemas import CatalogDocument

AREAS = [
    ("410105", "金水区", AreaLevel.district, None),
    ("410105001", "经八路街道", AreaLevel.street, "410105"),
    ("410105002", "花园路街道", AreaLevel.street, "410105"),
    ("410105001001", "经八路社区", AreaLevel.community, "410105001"),
    ("410105001001001", "经八路社区第一网格", AreaLevel.grid, "410105001001"),
    ("410105002001001", "花园路第一网格", AreaLevel.grid, "410105002"),
]

SAMPLE: dict[str, Any] = {
    "version": 1,
    "units": [
        {"code": "JS-CYZX", "name": "金水区城运中心", "kind": "district_centre", "level": "district", "area": "410105"},
        {
            "code": "JS-CGJ",
            "name": "金水区城市管理局",
            "kind": "district_bureau",
            "level": "district",
            "function": "urban_management",
            "parent": "JS-CYZX",
            "area": "410105",
            "phone": "0371-12319",
        },
        {
            "code": "JS-HWZX",
            "name": "金水区环卫中心",
            "kind": "district_bureau",
            "level": "district",
            "function": "sanitation",
            "parent": "JS-CYZX",
        },
        {
            "code": "JB8-CGZD",
            "name": "经八路街道城管中队",
            "kind": "street_team",
            "level": "street",
            "function": "urban_management",
            "parent": "JB8-BSC",  # listed before its parent on purpose
            "area": "410105001",
        },
        {"code": "JB8-BSC", "name": "经八路街道办", "kind": "street_office", "level": "street", "area": "410105001"},
        {
            "code": "JB8-SQ",
            "name": "经八路社区居委会",
            "kind": "community",
            "level": "community",
            "function": "community",
            "parent": "JB8-BSC",
            "area": "410105001001",
        },
        {"code": "GAS", "name": "郑州华润燃气", "kind": "enterprise", "level": "district", "function": "gas"},
    ],
    "matter_types": [
        {
            "code": "C0105",
            "name": "燃气井盖",
            "kind": "component",
            "major_code": "01",
            "major_name": "公用设施",
            "minor_code": "05",
            "register_condition": "井盖缺失、破损、移位",
            "close_condition": "井盖恢复完好",
            "department_only": True,
            "keywords": ["井盖", "燃气"],
            "time_limits": {
                "normal": {"register": "1wh", "dispatch": "1wh", "handle": "4wh", "verify": "2wh"},
                "emergency": {"handle": "2h"},
            },
        },
        {
            "code": "E0102",
            "name": "暴露垃圾",
            "name_en": "Exposed rubbish",
            "kind": "event",
            "major_code": "01",
            "major_name": "市容环境",
            "minor_code": "02",
            "close_condition": "彻底清理",
            "time_limits": {"normal": {"handle": "4wh", "verify": "1wd"}, "urgent": {"handle": "2wh"}},
        },
        {
            "code": "E0501",
            "name": "占道经营",
            "kind": "event",
            "major_code": "05",
            "major_name": "街面秩序",
            "minor_code": "01",
            "default_urgency": "urgent",
            "evidence_required": False,
            "keywords": ["占道", "摆摊"],
            "time_limits": {"normal": {"handle": "0.5wd"}},
        },
    ],
    "responsibilities": [
        {"matter": "C0105", "level": "district", "unit": "GAS", "legal_basis": "《城镇燃气管理条例》"},
        {"matter": "E0102", "level": "district", "unit": "JS-HWZX", "co_units": ["JS-CGJ"]},
        {"matter": "E0102", "area": "410105001", "level": "community", "function": "community"},
        {
            "matter": "E0501",
            "level": "street",
            "function": "urban_management",
            "co_functions": ["community"],
            "legal_basis": "《城市市容和环境卫生管理条例》第十四条",
        },
    ],
    "grid_access": [
        {"matter": "E0102", "admitted": True, "basis": "网格事项准入清单第3项"},
        {"matter": "E0102", "area": "410105001001", "admitted": False},
        {"matter": "E0501", "admitted": False},
        {"matter": "E0501", "area": "410105001", "admitted": True},
    ],
    "powers": [
        {
            "code": "CGJ-CF-001",
            "unit": "JS-CGJ",
            "title": "对占道经营的行政处罚",
            "category": "行政处罚",
            "legal_basis": "《城市市容和环境卫生管理条例》第三十六条",
            "matters": ["E0501"],
        }
    ],
}


def insert_areas(db: Session) -> dict[str, Area]:
    """Inserts the test area tree (paths as the area model documents them); returns the areas by code."""
    areas: dict[str, Area] = {}
    for code, name, level, parent in AREAS:
        path = (areas[parent].path if parent else "/") + f"{code}/"
        areas[code] = Area(code=code, name=name, level=level, parent=areas.get(parent), path=path)
        db.add(areas[code])
    db.flush()
    return areas


def write_yaml(data: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_both(data: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Writes `data` as hand-written YAML and, through write_file, as XLSX; returns the paths by format."""
    xlsx = directory / "cat.xlsx"
    service.write_file(CatalogDocument.model_validate(data), xlsx)
    return {"yaml": write_yaml(data, directory / "cat.yaml"), "xlsx": xlsx}
