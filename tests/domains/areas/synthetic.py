"""A small synthetic area tree for tests: a 1×1 km district → 2 streets → 4 communities → 16 grids.

Coordinates are built from metre offsets on one shared lattice, so neighbouring areas share exactly equal vertices.
Streets split the district west/east; each street's communities are north (…001) and south (…002); each community
holds 2×2 grids numbered west→east, north→south (001 NW, 002 NE, 003 SW, 004 SE), as DB11 numbers unit grids.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from sqlalchemy.orm import Session

from gridgov.domains.areas import service
from gridgov.domains.areas.enums import AreaLevel

LNG0, LAT0 = 113.70, 34.78  # south-west corner, inside Jinshui
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LNG = 111_320.0 * math.cos(math.radians(LAT0))
DISTRICT = "410105"
STREETS = {"410105001": ("经八路街道", 0), "410105002": ("花园路街道", 500)}


def lnglat(x_m: float, y_m: float) -> tuple[float, float]:
    """Returns the WGS84 point x_m east and y_m north of the district's south-west corner."""
    return LNG0 + x_m / M_PER_DEG_LNG, LAT0 + y_m / M_PER_DEG_LAT


def rect(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    """Returns a GeoJSON Polygon for the rectangle between metre offsets (x0, y0) and (x1, y1)."""
    ring = [lnglat(x0, y0), lnglat(x1, y0), lnglat(x1, y1), lnglat(x0, y1), lnglat(x0, y0)]
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def feature(code: str, name: str, parent: str | None, geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """Returns a GeoJSON Feature with code, name and parent properties."""
    props: dict[str, Any] = {"code": code, "name": name, **properties}
    if parent is not None:
        props["parent"] = parent
    return {"type": "Feature", "properties": props, "geometry": geometry}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    """Returns a FeatureCollection of `features` (deep-copied, so tests may edit them)."""
    return {"type": "FeatureCollection", "features": [copy.deepcopy(f) for f in features]}


def community_box(street_code: str, north: bool) -> tuple[float, float, float, float]:
    x0 = STREETS[street_code][1]
    y0 = 500 if north else 0
    return x0, y0, x0 + 500, y0 + 500


def grid_boxes(community_code: str) -> dict[str, tuple[float, float, float, float]]:
    """Returns the four grid codes of a community with their metre boxes."""
    street_code, number = community_code[:9], community_code[9:]
    x0, y0, _, _ = community_box(street_code, north=number == "001")
    cells = {"001": (0, 1), "002": (1, 1), "003": (0, 0), "004": (1, 0)}
    return {
        community_code + n: (x0 + 250 * i, y0 + 250 * j, x0 + 250 * (i + 1), y0 + 250 * (j + 1))
        for n, (i, j) in cells.items()
    }


def tree_collections() -> dict[AreaLevel, dict[str, Any]]:
    """Returns one FeatureCollection per level of the synthetic tree, district first."""
    district = [feature(DISTRICT, "金水区", None, rect(0, 0, 1000, 1000), population=10000, households=4000)]
    streets = [feature(code, name, DISTRICT, rect(x, 0, x + 500, 1000)) for code, (name, x) in STREETS.items()]
    communities, grids = [], []
    for street_code, (street_name, _) in STREETS.items():
        for number, north in (("001", True), ("002", False)):
            code = street_code + number
            name = f"{street_name[:-2]}{'北' if north else '南'}社区"
            communities.append(feature(code, name, street_code, rect(*community_box(street_code, north))))
            for grid_code, box in grid_boxes(code).items():
                grids.append(feature(grid_code, f"{name}第{grid_code[-1]}网格", code, rect(*box), population=600))
    return {
        AreaLevel.district: collection(*district),
        AreaLevel.street: collection(*streets),
        AreaLevel.community: collection(*communities),
        AreaLevel.grid: collection(*grids),
    }


def load_tree(db: Session, down_to: AreaLevel = AreaLevel.grid) -> dict[AreaLevel, service.ImportReport]:
    """Imports the synthetic tree into `db` level by level and returns the reports."""
    reports = {}
    for level, fc in tree_collections().items():
        if level.depth > down_to.depth:
            break
        reports[level] = service.import_geojson(db=db, collection=fc, level=level, source=f"{level}.geojson")
    return reports


def grid_code_at(x_m: float, y_m: float) -> str:
    """Returns the code of the grid containing the metre offset (strictly inside a grid)."""
    street = "410105001" if x_m < 500 else "410105002"
    community = street + ("001" if y_m >= 500 else "002")
    for code, (x0, y0, x1, y1) in grid_boxes(community).items():
        if x0 <= x_m <= x1 and y0 <= y_m <= y1:
            return code
    raise ValueError(f"({x_m}, {y_m}) is outside the district")
