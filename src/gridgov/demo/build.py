"""One-off conversion of the shared Jinshui reference data into the demo package's own files.

Run `python -m gridgov.demo.build SHARED_DIR` (SHARED_DIR holds `jinshui/`, or is that folder itself). It
writes `data/district.geojson` (the real outline, converted from GCJ-02 to WGS84, our property names) and
`data/streets.csv` (the 17 street offices' real names and 2023 codes, plus illustrative population
weights). The outputs are committed; `gridgov demo load` never runs this script.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

from gridgov.core.geo import Crs, geometry_to_wgs84

DISTRICT_CODE = "410105"
DISTRICT_NAME = "金水区"
DATA_DIR = Path(__file__).resolve().parent / "data"
PRECISION = 1e-7  # degrees (~1 cm): coordinates are stored with 7 decimals, snapped to this grid

# Township codes coded under 410105 but administered by Zhengdong New District (郑东新区): 龙子湖 and 祭城路,
# and the 56x range. Jinshui's own 17 street offices are the rest of 001–019.
ZHENGDONG_CODES = frozenset({"410105014", "410105015"})

# Illustrative relative population weights per street office (1.0 = an average street). They are NOT
# census figures: they only make the demo's street populations differ plausibly.
POPULATION_WEIGHTS = {
    "410105001": 0.80,  # 经八路
    "410105002": 1.05,  # 花园路
    "410105003": 0.75,  # 人民路
    "410105004": 0.70,  # 杜岭
    "410105005": 1.00,  # 大石桥
    "410105006": 1.10,  # 南阳路
    "410105007": 0.95,  # 南阳新村
    "410105008": 1.05,  # 文化路
    "410105009": 0.85,  # 丰产路
    "410105010": 1.15,  # 东风路
    "410105011": 0.90,  # 北林路
    "410105012": 1.10,  # 未来路
    "410105013": 1.00,  # 凤凰台
    "410105016": 1.20,  # 兴达路
    "410105017": 1.25,  # 国基路
    "410105018": 1.05,  # 杨金路
    "410105019": 1.10,  # 丰庆路
}


def convert_outline(source: Path) -> dict:
    """Returns the district outline from the GCJ-02 DataV export as a WGS84 FeatureCollection of our own."""
    collection = json.loads(source.read_text(encoding="utf-8"))
    features = collection.get("features") or []
    if len(features) != 1:
        raise ValueError(f"{source}: expected one feature (the district outline), found {len(features)}")
    geometry = geometry_to_wgs84(shape(features[0]["geometry"]), Crs.gcj02)
    geometry = shapely.set_precision(shapely.make_valid(geometry), PRECISION)
    if geometry.geom_type == "MultiPolygon" and len(geometry.geoms) == 1:
        geometry = geometry.geoms[0]
    if geometry.geom_type != "Polygon" or not geometry.is_valid:
        raise ValueError(f"{source}: the converted outline is not one valid polygon ({geometry.geom_type})")
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "code": DISTRICT_CODE,
                    "name": DISTRICT_NAME,
                    "parent": None,
                    "crs": "wgs84",
                    "source": "DataV GeoAtlas export of AMap data (about 2019), converted from GCJ-02 to WGS84",
                },
                "geometry": _rounded(mapping(geometry)),
            }
        ],
    }


def convert_streets(source: Path) -> list[dict[str, str]]:
    """Returns Jinshui's 17 street offices (code, name, weight) from the NBS 2023 township list."""
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    streets = []
    for row in rows:
        code, name = row["code"].strip(), row["name"].strip()
        if not code.startswith(DISTRICT_CODE) or code in ZHENGDONG_CODES or not "001" <= code[6:] <= "099":
            continue
        if code not in POPULATION_WEIGHTS:
            raise ValueError(f"{source}: street {code} {name} has no population weight in build.py")
        streets.append({"code": code, "name": name, "weight": f"{POPULATION_WEIGHTS[code]:.2f}"})
    if len(streets) != len(POPULATION_WEIGHTS):
        raise ValueError(f"{source}: expected {len(POPULATION_WEIGHTS)} street offices, found {len(streets)}")
    return sorted(streets, key=lambda street: street["code"])


def build(shared_dir: Path, out_dir: Path = DATA_DIR) -> list[Path]:
    """Converts the shared reference data in `shared_dir` into the package's files in `out_dir`."""
    source_dir = shared_dir / "jinshui" if (shared_dir / "jinshui").is_dir() else shared_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    outline = convert_outline(source_dir / f"district_{DISTRICT_CODE}_gcj02.geojson")
    streets = convert_streets(source_dir / f"streets_{DISTRICT_CODE}_2023.csv")

    district_path = out_dir / "district.geojson"
    district_path.write_text(json.dumps(outline, ensure_ascii=False) + "\n", encoding="utf-8")
    streets_path = out_dir / "streets.csv"
    with streets_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["code", "name", "weight"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(streets)
    return [district_path, streets_path]


def _rounded(value: object) -> object:
    """Rounds every coordinate of a GeoJSON geometry to 7 decimals (lists come back as lists)."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    if isinstance(value, float):
        return round(value, 7)
    return value


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: `python -m gridgov.demo.build SHARED_DIR [OUT_DIR]`."""
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        sys.stderr.write("usage: python -m gridgov.demo.build SHARED_DIR [OUT_DIR]\n")
        return 2
    out_dir = Path(args[1]) if len(args) == 2 else DATA_DIR
    for path in build(Path(args[0]), out_dir):
        sys.stderr.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
