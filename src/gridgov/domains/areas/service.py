"""The area tree: import boundaries (GeoJSON) and attributes (XLSX/CSV), export, tree and look-ups.

An import is validated as a whole before anything is written; any problem raises InputError with one Issue per
problem naming the file, the feature or row, and the field. Imports upsert by code: existing codes are updated,
new ones created. Rules and tolerances are described in docs/areas.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, LargeBinary, bindparam, func, insert, select, type_coerce
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError, Issue, NotFoundError
from gridgov.core.geo import Crs, area_m2, from_wgs84, geometry_to_wgs84
from gridgov.domains.areas import locate
from gridgov.domains.areas.enums import LEVEL_ORDER, AreaLevel
from gridgov.domains.areas.geometry import POLYGONAL, MetricProjection, orient, repair
from gridgov.domains.areas.models import Area
from gridgov.domains.areas.schemas import AreaRead, AreaRef, AreaTreeNode

DEFAULT_OVERLAP_TOLERANCE_M2 = 25.0
"""Siblings may overlap by this many square metres (digitising slivers) before an import is rejected."""
DEFAULT_CONTAINMENT_TOLERANCE_M = 5.0
"""A child may stick out of its parent by this many metres before an import is rejected."""

UNCHANGED_TOLERANCE_DEG = 1e-7
"""A boundary whose vertices all moved less than this (about 1 cm) counts as unchanged, e.g. after an export."""

STATISTICAL_CODE_LENGTHS = {
    AreaLevel.district: 6,  # GB/T 2260 county-level code
    AreaLevel.street: 9,  # + 3 township (街道/镇/乡)
    AreaLevel.community: 12,  # + 3 居委会/村委会
    AreaLevel.grid: 15,  # + 3 unit grid, numbered west→east, north→south (DB11 单元网格)
}
GEOMETRY_TYPES: dict[AreaLevel, tuple[str, ...]] = {
    level: POLYGONAL + (("Point",) if level is AreaLevel.building else ()) for level in AreaLevel
}
NAME_MAX = 200
CODE_MAX = 32
# Feature properties that are computed or mapped to columns, never copied into `attributes`.
COMPUTED_PROPERTIES = frozenset({"level", "population", "households", "area_m2"})
ATTRIBUTE_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "编码", "代码", "区划代码", "网格编码"),
    "name": ("name", "名称", "网格名称"),
    "population": ("population", "人口", "常住人口", "人口数"),
    "households": ("households", "户数", "住户数"),
}
ACCEPTED_FILE_CRS = ("CRS84", "EPSG::4326", "EPSG:4326", "EPSG::4490", "EPSG:4490")
_CHUNK = 900


@dataclass
class ImportReport:
    """What an import did: codes created, updated, unchanged, and whose geometry was repaired (--fix)."""

    level: AreaLevel | None
    source: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged)

    def summary(self) -> str:
        """Returns one line such as "grid from grids.geojson: 12 created, 4 updated, 0 unchanged"."""
        what = f"{self.level.value} areas" if self.level else "attributes"
        text = (
            f"{what} from {self.source}: {len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )
        if self.repaired:
            text += f" ({len(self.repaired)} geometr{'y' if len(self.repaired) == 1 else 'ies'} repaired)"
        return text


@dataclass
class _Feature:
    index: int
    where: str
    code: str
    name: str
    parent_code: str | None
    geometry: BaseGeometry
    population: int | None
    households: int | None
    extra: dict[str, Any]
    repaired: bool = False
    parent: Area | None = None


class _Issues:
    """Issues collected in feature/row order, so the report reads top to bottom like the file."""

    def __init__(self) -> None:
        self._items: list[tuple[int, int, Issue]] = []

    def add(self, index: int, where: str, message: str, field_name: str | None = None) -> None:
        self._items.append((index, len(self._items), Issue(where, message, field_name)))

    def __bool__(self) -> bool:
        return bool(self._items)

    def issues(self) -> list[Issue]:
        return [issue for _, _, issue in sorted(self._items, key=lambda item: item[:2])]


# --- import: GeoJSON ------------------------------------------------------------------------------------------------


def import_geojson(
    *,
    db: Session,
    collection: dict[str, Any],
    level: AreaLevel | str,
    code_field: str = "code",
    name_field: str = "name",
    parent_field: str = "parent",
    crs: Crs | str = Crs.wgs84,
    fix: bool = False,
    source: str = "input",
    overlap_tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2,
    containment_tolerance_m: float = DEFAULT_CONTAINMENT_TOLERANCE_M,
) -> ImportReport:
    """Validates a GeoJSON FeatureCollection of one level as a whole, then creates or updates its areas by code."""
    level, crs = AreaLevel(level), Crs(crs)
    raw_features = _features_of(collection, source)
    issues = _Issues()
    seen: dict[str, int] = {}
    features: list[_Feature] = []
    for index, raw in enumerate(raw_features):
        feature = _parse_feature(
            index, raw, level, code_field, name_field, parent_field, crs, fix, source, issues, seen
        )
        if feature is not None:
            features.append(feature)

    existing = _areas_by_code(db, [f.code for f in features])
    parents = _areas_by_code(db, [f.parent_code for f in features if f.parent_code])
    for feature in features:
        _check_tree_place(feature, level, existing, parents, parent_field, issues)
    _check_containment(db, features, existing, level, containment_tolerance_m, issues)
    _check_siblings(db, features, level, overlap_tolerance_m2, issues)
    if issues:
        raise InputError(issues.issues(), f"{source}: nothing imported")

    report = ImportReport(level=level, source=source)
    new_rows: list[dict[str, Any]] = []
    for feature in features:
        area = existing.get(feature.code)
        if area is None:
            new_rows.append(_new_row(feature, level))
            report.created.append(feature.code)
        else:
            _update_area(db, area, feature, report)
        if feature.repaired:
            report.repaired.append(feature.code)
    db.flush()
    # NOTE: new areas go in as one bulk INSERT; ORM objects one by one are ten times slower for 50,000 grids.
    for start in range(0, len(new_rows), 5000):
        db.execute(insert(Area), new_rows[start : start + 5000])
    locate.invalidate(db)
    return report


def infer_level(collection: dict[str, Any]) -> AreaLevel | None:
    """Returns the level every feature of `collection` names in its "level" property, if they all name the same."""
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(features, list) or not features:
        return None
    named = {
        f["properties"].get("level") if isinstance(f, dict) and isinstance(f.get("properties"), dict) else None
        for f in features
    }
    if len(named) != 1:
        return None
    value = named.pop()
    return AreaLevel(value) if value in {level.value for level in AreaLevel} else None


def _features_of(collection: Any, source: str) -> list[Any]:
    if not isinstance(collection, dict):
        raise InputError([Issue(source, "not a GeoJSON object")], f"{source}: nothing imported")
    kind = collection.get("type")
    if kind == "Feature":
        return [collection]
    if kind != "FeatureCollection" or not isinstance(collection.get("features"), list):
        raise InputError(
            [Issue(source, f"not a GeoJSON FeatureCollection (type is {kind!r})", "type")],
            f"{source}: nothing imported",
        )
    declared_crs = collection.get("crs")
    declared = None
    if isinstance(declared_crs, dict) and isinstance(declared_crs.get("properties"), dict):
        declared = declared_crs["properties"].get("name")
    if declared and not str(declared).upper().endswith(ACCEPTED_FILE_CRS):
        raise InputError(
            [
                Issue(
                    source,
                    f"the file declares the coordinate system {declared!r}; gridgov reads longitude/latitude in "
                    "degrees (WGS84, GCJ-02 or BD-09): reproject the file first",
                    "crs",
                )
            ],
            f"{source}: nothing imported",
        )
    if not collection["features"]:
        raise InputError([Issue(source, "the FeatureCollection has no features")], f"{source}: nothing imported")
    return collection["features"]


def _where(source: str, index: int, code: str | None) -> str:
    return f"{source} feature {index}" + (f" (code {code})" if code else "")


def _text(value: Any) -> str | None:
    """Returns a code-like value as text: strings stripped, whole numbers without a decimal point."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value.strip() or None
    return None


def _count(value: Any) -> int | None:
    """Returns a non-negative whole number from a cell or property; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().replace(",", "").isdigit():
        number = int(value.strip().replace(",", ""))
    else:
        raise ValueError
    if number < 0:
        raise ValueError
    return number


def _code_problem(code: str) -> str | None:
    if len(code) > CODE_MAX:
        return f"code {code!r} is longer than {CODE_MAX} characters"
    if "/" in code or any(ch.isspace() or not ch.isprintable() for ch in code):
        return f"code {code!r} contains a slash, a space or a control character"
    return None


def _parse_feature(
    index: int,
    raw: Any,
    level: AreaLevel,
    code_field: str,
    name_field: str,
    parent_field: str,
    crs: Crs,
    fix: bool,
    source: str,
    issues: _Issues,
    seen: dict[str, int],
) -> _Feature | None:
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        issues.add(index, _where(source, index, None), "not a GeoJSON Feature")
        return None
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict):
        issues.add(index, _where(source, index, None), "properties is not an object", "properties")
        return None
    ok = True

    code = _text(properties.get(code_field))
    where = _where(source, index, code)
    if code is None:
        shown = properties.get(code_field)
        detail = "missing" if shown in (None, "") else f"not text or a whole number: {shown!r}"
        issues.add(index, where, f"code {detail}", code_field)
        ok = False
    elif problem := _code_problem(code):
        issues.add(index, where, problem, code_field)
        ok = False
    elif code in seen:
        issues.add(index, where, f"duplicate code {code} (also feature {seen[code]})", code_field)
        ok = False
    else:
        seen[code] = index

    raw_name = properties.get(name_field)
    name = _text(raw_name)
    if name is None:
        detail = "name missing" if raw_name in (None, "") else f"name must be text, got {raw_name!r}"
        issues.add(index, where, detail, name_field)
        ok = False
    elif len(name) > NAME_MAX:
        issues.add(index, where, f"name longer than {NAME_MAX} characters", name_field)
        ok = False

    declared_level = properties.get("level")
    if isinstance(declared_level, str) and declared_level.strip() and declared_level.strip() != level.value:
        issues.add(
            index, where, f"wrong level: the feature says {declared_level!r} but this import is for {level}", "level"
        )
        ok = False

    parent_code = _text(properties.get(parent_field))
    if level is AreaLevel.district and parent_code is not None:
        issues.add(index, where, f"wrong level: a district has no parent (got {parent_code})", parent_field)
        ok = False
    elif level is not AreaLevel.district and parent_code is None:
        issues.add(index, where, f"parent code missing (a {level}'s parent is a {level.parent_level})", parent_field)
        ok = False

    counts: dict[str, int | None] = {}
    for name_of_count in ("population", "households"):
        value = properties.get(name_of_count)
        counts[name_of_count] = None
        if value is None or value == "":
            continue
        try:
            counts[name_of_count] = _count(value)
        except ValueError:
            issues.add(index, where, f"{name_of_count} must be a whole number ≥ 0, got {value!r}", name_of_count)
            ok = False

    geometry, repaired = _parse_geometry(index, where, raw.get("geometry"), level, crs, fix, issues)
    if geometry is None or not ok or code is None or name is None:
        return None
    used = {code_field, name_field, parent_field}
    extra = {key: value for key, value in properties.items() if key not in used and key not in COMPUTED_PROPERTIES}
    return _Feature(
        index=index,
        where=where,
        code=code,
        name=name,
        parent_code=parent_code,
        geometry=geometry,
        population=counts["population"],
        households=counts["households"],
        extra=extra,
        repaired=repaired,
    )


def _parse_geometry(
    index: int, where: str, raw: Any, level: AreaLevel, crs: Crs, fix: bool, issues: _Issues
) -> tuple[BaseGeometry | None, bool]:
    allowed = GEOMETRY_TYPES[level]
    if not raw:
        issues.add(index, where, "geometry missing", "geometry")
        return None, False
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in allowed:
        issues.add(index, where, f"a {level} must be a {' or '.join(allowed)}, not {kind!r}", "geometry")
        return None, False
    try:
        geometry = shapely.force_2d(shape(raw))
    except Exception as exc:  # shapely raises several types for malformed coordinates
        issues.add(index, where, f"malformed {kind} coordinates ({exc})", "geometry")
        return None, False
    if geometry.is_empty:
        issues.add(index, where, "empty geometry", "geometry")
        return None, False
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        issues.add(index, where, "coordinates contain NaN or infinity", "geometry")
        return None, False
    min_x, min_y, max_x, max_y = geometry.bounds
    if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        if max(abs(min_x), abs(max_x)) <= 90 and max(abs(min_y), abs(max_y)) <= 180:
            hint = "they look like [latitude, longitude]: GeoJSON puts longitude first"
        else:
            hint = "projected coordinates (metres)? gridgov reads longitude/latitude in degrees"
        issues.add(index, where, f"coordinates out of range ({min_x:g}, {min_y:g}): {hint}", "geometry")
        return None, False
    geometry = geometry_to_wgs84(geometry, crs)
    if geometry.is_valid:
        return orient(geometry), False
    reason = shapely.is_valid_reason(geometry)
    if not fix:
        issues.add(index, where, f"invalid geometry: {reason} (use --fix to repair it with make_valid)", "geometry")
        return None, False
    repaired = repair(geometry, allowed)
    if repaired is None or not repaired.is_valid:
        issues.add(index, where, f"invalid geometry that make_valid cannot turn into a {kind}: {reason}", "geometry")
        return None, False
    return orient(repaired), True


def _among(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """Returns `column IN (values)` with the values written into the SQL text.

    NOTE: psycopg 3 prepares a statement after five runs and PostgreSQL then plans it generically, with the list
    as parameters it can neither hash nor estimate: a 900-code IN list over 50,000 areas took 0.8 s instead of
    40 ms. Literal values (quoted by SQLAlchemy) give a fresh plan for each chunk.
    """
    return column.in_(bindparam(f"among_{column.key}", list(values), expanding=True, literal_execute=True))


def _areas_by_code(db: Session, codes: Iterable[str]) -> dict[str, Area]:
    unique = sorted(set(codes))
    found: dict[str, Area] = {}
    for start in range(0, len(unique), _CHUNK):
        for area in db.scalars(select(Area).where(_among(Area.code, unique[start : start + _CHUNK]))):
            found[area.code] = area
    return found


def _check_tree_place(
    feature: _Feature,
    level: AreaLevel,
    existing: dict[str, Area],
    parents: dict[str, Area],
    parent_field: str,
    issues: _Issues,
) -> None:
    index, where = feature.index, feature.where
    current = existing.get(feature.code)
    if current is not None and current.level != level:
        issues.add(
            index, where, f"wrong level: code {feature.code} already exists as a {current.level}, not a {level}", "code"
        )
    if feature.parent_code is None:
        return
    parent = parents.get(feature.parent_code)
    if parent is None:
        issues.add(
            index,
            where,
            f"unknown parent {feature.parent_code}: import the {level.parent_level} level first",
            parent_field,
        )
        return
    if parent.level != level.parent_level:
        issues.add(
            index,
            where,
            f"wrong level: parent {parent.code} is a {parent.level}; a {level}'s parent must be a {level.parent_level}",
            parent_field,
        )
        return
    feature.parent = parent
    problem = _statistical_code_problem(feature.code, level, parent.code)
    if problem:
        issues.add(index, where, problem, "code")


def _is_statistical(code: str, level: AreaLevel) -> bool:
    return code.isascii() and code.isdigit() and len(code) == STATISTICAL_CODE_LENGTHS.get(level, -1)


def _statistical_code_problem(code: str, level: AreaLevel, parent_code: str) -> str | None:
    """Checks a child of a statistically coded parent: its code must extend the parent's by three digits."""
    parent_level = level.parent_level
    if parent_level is None or level not in STATISTICAL_CODE_LENGTHS or not _is_statistical(parent_code, parent_level):
        return None
    length = STATISTICAL_CODE_LENGTHS[level]
    if _is_statistical(code, level) and code.startswith(parent_code):
        return None
    return (
        f"code {code} does not follow its parent's statistical code: a {level} under {parent_code} needs a "
        f"{length}-digit code starting with {parent_code} (e.g. {parent_code}{'0' * (length - len(parent_code) - 1)}1)"
    )


def _geometries_of_children(db: Session, parent_ids: Sequence[int]) -> list[tuple[int, str, str, BaseGeometry]]:
    rows: list[tuple[int, str, str, BaseGeometry]] = []
    for start in range(0, len(parent_ids), _CHUNK):
        chunk = parent_ids[start : start + _CHUNK]
        found = db.execute(
            select(Area.parent_id, Area.code, Area.name, type_coerce(Area.geometry, LargeBinary)).where(
                _among(Area.parent_id, chunk), Area.geometry.is_not(None)
            )
        ).all()
        rows += [(parent_id, code, name, shapely.from_wkb(bytes(wkb))) for parent_id, code, name, wkb in found]
    return rows


def _outside_by(
    children: NDArray[np.object_], parents: NDArray[np.object_], tolerance_m: float
) -> list[tuple[int, float, float]]:
    """Returns (i, metres, m²) for each metric child that sticks out of its metric parent by more than tolerance."""
    # NOTE: a micrometre more than asked, so that rounding in the projection never rejects a shared edge.
    covered = shapely.covers(shapely.buffer(parents, tolerance_m + 1e-6, quad_segs=4), children)
    problems = []
    for i in np.flatnonzero(~covered):
        child, parent = children[i], parents[i]
        outside = child.difference(parent)
        points = shapely.points(shapely.get_coordinates(outside if not outside.is_empty else child))
        reach = float(shapely.distance(points, parent).max()) if len(points) else 0.0
        problems.append((int(i), reach, float(outside.area)))
    return problems


def _check_containment(
    db: Session,
    features: list[_Feature],
    existing: dict[str, Area],
    level: AreaLevel,
    tolerance_m: float,
    issues: _Issues,
) -> None:
    inside_parent = [f for f in features if f.parent is not None and f.parent.geometry is not None]
    # Children of areas whose boundary this import changes must still fit inside the new boundary.
    replaced = {
        existing[f.code].id: f
        for f in features
        if f.code in existing and existing[f.code].level == level and not _same_geometry(existing[f.code], f)
    }
    children = _geometries_of_children(db, sorted(replaced)) if replaced else []
    if not inside_parent and not children:
        return
    sample = [f.geometry for f in features] + [f.parent.geometry for f in inside_parent if f.parent is not None]
    projection = MetricProjection.around(sample)

    if inside_parent:
        child_m = projection.to_metric(np.array([f.geometry for f in inside_parent], dtype=object))
        parent_geometry = {f.parent.code: f.parent.geometry for f in inside_parent if f.parent is not None}
        parent_codes = list(parent_geometry)
        parent_m = dict(
            zip(
                parent_codes,
                projection.to_metric(np.array([parent_geometry[c] for c in parent_codes], dtype=object)),
                strict=True,
            )
        )
        parents_m = np.array([parent_m[f.parent.code] for f in inside_parent if f.parent is not None], dtype=object)
        for i, reach, outside_m2 in _outside_by(child_m, parents_m, tolerance_m):
            feature = inside_parent[i]
            issues.add(
                feature.index,
                feature.where,
                f"lies outside its parent {feature.parent_code} by up to {reach:.1f} m ({outside_m2:.0f} m² outside; "
                f"tolerance {tolerance_m:g} m)",
                "geometry",
            )

    if children:
        owners = [replaced[parent_id] for parent_id, _, _, _ in children]
        child_m = projection.to_metric(np.array([geometry for _, _, _, geometry in children], dtype=object))
        owner_m = projection.to_metric(np.array([owner.geometry for owner in owners], dtype=object))
        for i, reach, _ in _outside_by(child_m, owner_m, tolerance_m):
            _, code, name, _ = children[i]
            owner = owners[i]
            issues.add(
                owner.index,
                owner.where,
                f"the new boundary leaves its existing child {code} ({name}) outside by up to {reach:.1f} m "
                f"(tolerance {tolerance_m:g} m)",
                "geometry",
            )


def _check_siblings(
    db: Session, features: list[_Feature], level: AreaLevel, tolerance_m2: float, issues: _Issues
) -> None:
    new = [
        f
        for f in features
        if f.geometry.geom_type in POLYGONAL and (f.parent is not None or level is AreaLevel.district)
    ]
    if not new:
        return
    codes = {f.code for f in features}
    parent_ids = sorted({f.parent.id for f in new if f.parent is not None})
    others: list[tuple[str, int | None, BaseGeometry]] = []
    if level is AreaLevel.district:
        query = select(Area.code, Area.parent_id, type_coerce(Area.geometry, LargeBinary)).where(
            Area.level == level, Area.geometry.is_not(None)
        )
        others = [(c, p, shapely.from_wkb(bytes(g))) for c, p, g in db.execute(query) if c not in codes]
    else:
        others = [
            (code, parent_id, geometry)
            for parent_id, code, _, geometry in _geometries_of_children(db, parent_ids)
            if code not in codes and geometry.geom_type in POLYGONAL
        ]
    # Members: this import's features first, then untouched existing siblings.
    parent_of = [f.parent.id if f.parent is not None else None for f in new] + [p for _, p, _ in others]
    geometries = [f.geometry for f in new] + [g for _, _, g in others]
    projection = MetricProjection.around(geometries)
    metric = projection.to_metric(np.array(geometries, dtype=object))
    tree = shapely.STRtree(metric)
    queried, found = tree.query(metric[: len(new)], predicate="intersects")
    keep = (found != queried) & ~((found < len(new)) & (found > queried))  # each new pair once, on the later one
    keep &= np.array([parent_of[a] == parent_of[b] for a, b in zip(queried, found, strict=True)], dtype=bool)
    queried, found = queried[keep], found[keep]
    if not queried.size:
        return
    overlap = shapely.area(shapely.intersection(metric[queried], metric[found]))
    for a, b, m2 in zip(queried, found, overlap, strict=True):
        if m2 <= tolerance_m2 + 0.01:  # NOTE: a hundredth of a square metre of rounding is never an overlap
            continue
        feature = new[a]
        other = f"{new[b].code} (feature {new[b].index})" if b < len(new) else f"{others[b - len(new)][0]} (existing)"
        issues.add(
            feature.index,
            feature.where,
            f"overlaps its sibling {other} by {m2:.0f} m² (tolerance {tolerance_m2:g} m²)",
            "geometry",
        )


def _path(feature: _Feature) -> str:
    return (feature.parent.path if feature.parent else "/") + feature.code + "/"


def _geometry_columns(geometry: BaseGeometry) -> dict[str, Any]:
    min_lng, min_lat, max_lng, max_lat = geometry.bounds
    return {
        "geometry": geometry,
        "min_lng": min_lng,
        "min_lat": min_lat,
        "max_lng": max_lng,
        "max_lat": max_lat,
        "area_m2": round(area_m2(geometry), 2),
    }


def _new_row(feature: _Feature, level: AreaLevel) -> dict[str, Any]:
    return {
        "code": feature.code,
        "name": feature.name,
        "level": level,
        "parent_id": feature.parent.id if feature.parent else None,
        "path": _path(feature),
        "population": feature.population,
        "households": feature.households,
        "attributes": feature.extra,
        **_geometry_columns(feature.geometry),
    }


def _update_area(db: Session, area: Area, feature: _Feature, report: ImportReport) -> None:
    path = _path(feature)
    if _unchanged(area, feature, feature.parent, path):
        report.unchanged.append(feature.code)
        return
    report.updated.append(feature.code)
    if area.path != path:
        _move_descendants(db, area.path, path)
    area.name = feature.name
    area.parent_id = feature.parent.id if feature.parent else None
    area.path = path
    for column, value in _geometry_columns(feature.geometry).items():
        setattr(area, column, value)
    if feature.population is not None:
        area.population = feature.population
    if feature.households is not None:
        area.households = feature.households
    if feature.extra:
        area.attributes = {**(area.attributes or {}), **feature.extra}


def _same_geometry(area: Area, feature: _Feature) -> bool:
    return area.geometry is not None and bool(
        shapely.equals_exact(area.geometry, feature.geometry, tolerance=UNCHANGED_TOLERANCE_DEG)
    )


def _unchanged(area: Area, feature: _Feature, parent: Area | None, path: str) -> bool:
    return (
        area.name == feature.name
        and area.parent_id == (parent.id if parent else None)
        and area.path == path
        and _same_geometry(area, feature)
        and (feature.population is None or area.population == feature.population)
        and (feature.households is None or area.households == feature.households)
        and all((area.attributes or {}).get(key) == value for key, value in feature.extra.items())
    )


def _move_descendants(db: Session, old_path: str, new_path: str) -> None:
    descendants = db.scalars(select(Area).where(Area.path.startswith(old_path, autoescape=True), Area.path != old_path))
    for descendant in descendants:
        descendant.path = new_path + descendant.path[len(old_path) :]


# --- import: attributes from XLSX / CSV -----------------------------------------------------------------------------


def _column(headers: Iterable[str], key: str, chosen: str | None) -> str | None:
    names = list(headers)
    if chosen is not None:
        return chosen if chosen in names else None
    lowered = {name.strip().lower(): name for name in names}
    for alias in ATTRIBUTE_COLUMNS[key]:
        if alias.lower() in lowered:
            return lowered[alias.lower()]
    return None


def import_attributes(
    *,
    db: Session,
    rows: list[dict[str, Any]],
    source: str = "input",
    row_numbers: Sequence[int] | None = None,
    code_field: str | None = None,
) -> ImportReport:
    """Sets name, population, households and extra attribute columns of existing areas from table rows by code."""
    numbers = list(row_numbers) if row_numbers is not None else list(range(2, len(rows) + 2))
    headers: dict[str, None] = {}
    for row in rows:
        headers.update(dict.fromkeys(row))
    code_column = _column(headers, "code", code_field)
    if code_column is None:
        expected = repr(code_field) if code_field else " or ".join(repr(a) for a in ATTRIBUTE_COLUMNS["code"])
        issue = Issue(source, f"no code column: expected a column named {expected}")
        raise InputError([issue], f"{source}: nothing imported")
    name_column = _column(headers, "name", None)
    count_columns = {key: _column(headers, key, None) for key in ("population", "households")}
    special = {code_column, name_column, *count_columns.values()}

    issues = _Issues()
    parsed: list[tuple[int, str, str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for position, (number, row) in enumerate(zip(numbers, rows, strict=True)):
        code = _text(row.get(code_column))
        where = f"{source} row {number}" + (f" (code {code})" if code else "")
        if code is None:
            issues.add(position, where, "code missing", code_column)
            continue
        if code in seen:
            issues.add(position, where, f"duplicate code {code} (also row {seen[code]})", code_column)
            continue
        seen[code] = number
        values: dict[str, Any] = {}
        if name_column and row.get(name_column) is not None:
            name = _text(row[name_column])
            if name is None or len(name) > NAME_MAX:
                issues.add(position, where, f"name must be text of at most {NAME_MAX} characters", name_column)
            else:
                values["name"] = name
        for key, column in count_columns.items():
            if column and row.get(column) is not None:
                try:
                    values[key] = _count(row[column])
                except ValueError:
                    issues.add(position, where, f"{key} must be a whole number ≥ 0, got {row[column]!r}", column)
        extra = {key: value for key, value in row.items() if key not in special and value is not None}
        parsed.append((position, code, where, {**values, "attributes": extra}))

    areas = _areas_by_code(db, [code for _, code, _, _ in parsed])
    for position, code, where, _ in parsed:
        if code not in areas:
            issues.add(position, where, f"unknown area code {code}: import its boundary first", code_column)
    if issues:
        raise InputError(issues.issues(), f"{source}: nothing imported")

    report = ImportReport(level=None, source=source)
    for _, code, _, values in parsed:
        area = areas[code]
        extra = values.pop("attributes")
        merged = {**(area.attributes or {}), **extra}
        changed = merged != (area.attributes or {}) or any(getattr(area, key) != value for key, value in values.items())
        if not changed:
            report.unchanged.append(code)
            continue
        for key, value in values.items():
            setattr(area, key, value)
        area.attributes = merged
        report.updated.append(code)
    db.flush()
    locate.invalidate(db)
    return report


# --- reading --------------------------------------------------------------------------------------------------------


def get(*, db: Session, code: str) -> Area:
    """Returns the area with `code`; raises NotFoundError."""
    area = db.scalars(select(Area).where(Area.code == code)).one_or_none()
    if area is None:
        raise NotFoundError(f"no area with code {code!r}")
    return area


def list_ancestors(*, db: Session, area: Area) -> list[Area]:
    """Returns the ancestors of `area` from the district down to its parent."""
    codes = [code for code in area.path.strip("/").split("/") if code][:-1]
    if not codes:
        return []
    found = _areas_by_code(db, codes)
    return [found[code] for code in codes if code in found]


def list_children(*, db: Session, area: Area) -> list[Area]:
    """Returns the direct children of `area` ordered by code."""
    return list(db.scalars(select(Area).where(Area.parent_id == area.id).order_by(Area.code)))


def describe(*, db: Session, code: str, include_geometry: bool = True) -> AreaRead:
    """Returns one area with its parent, ancestors, children and (optionally) its boundary as GeoJSON."""
    area = get(db=db, code=code)
    ancestors = list_ancestors(db=db, area=area)
    bbox = None if area.min_lng is None else [area.min_lng, area.min_lat, area.max_lng, area.max_lat]
    geometry = None
    if include_geometry and area.geometry is not None:
        geometry = _geojson_geometries(np.array([area.geometry], dtype=object))[0]
    return AreaRead(
        id=area.id,
        code=area.code,
        name=area.name,
        level=area.level,
        path=area.path,
        parent=AreaRef.model_validate(ancestors[-1]) if ancestors else None,
        ancestors=[AreaRef.model_validate(a) for a in ancestors],
        children=[AreaRef.model_validate(c) for c in list_children(db=db, area=area)],
        population=area.population,
        households=area.households,
        area_m2=area.area_m2,
        bbox=bbox,
        attributes=area.attributes or {},
        geometry=geometry,
        created_at=area.created_at,
        updated_at=area.updated_at,
    )


def count_by_level(*, db: Session) -> dict[AreaLevel, int]:
    """Returns how many areas each level has."""
    counts = dict.fromkeys(LEVEL_ORDER, 0)
    for level, count in db.execute(select(Area.level, func.count(Area.id)).group_by(Area.level)):
        counts[AreaLevel(level)] = count
    return counts


def get_tree(
    *,
    db: Session,
    max_level: AreaLevel | str | None = None,
    root_code: str | None = None,
    depth: int | None = None,
) -> list[AreaTreeNode]:
    """Returns the area tree (or the subtree of `root_code`) listed down to a level; the next level is counted.

    The listed depth is `depth` levels below the root (or the districts) if given, else `max_level`, else down to
    communities (or one level below a root at or under community level).
    """
    root = get(db=db, code=root_code) if root_code else None
    base = root.level if root is not None else AreaLevel.district
    if depth is not None:
        max_level = LEVEL_ORDER[min(base.depth + max(depth, 0), len(LEVEL_ORDER) - 1)]
    elif max_level is None:
        max_level = (
            AreaLevel.community if base.depth < AreaLevel.community.depth else LEVEL_ORDER[min(base.depth + 1, 4)]
        )
    max_level = AreaLevel(max_level)
    if max_level.depth < base.depth:
        max_level = base
    listed = LEVEL_ORDER[: max_level.depth + 1]
    query = select(
        Area.id, Area.code, Area.name, Area.level, Area.parent_id, Area.population, Area.households, Area.area_m2
    ).where(Area.level.in_(listed))
    if root is not None:
        query = query.where(Area.path.startswith(root.path, autoescape=True))
    nodes: dict[int, AreaTreeNode] = {}
    parent_of: dict[int, int | None] = {}
    for area_id, code, name, level, parent_id, population, households, size in db.execute(query):
        nodes[area_id] = AreaTreeNode(
            id=area_id,
            code=code,
            name=name,
            level=level,
            population=population,
            households=households,
            area_m2=size,
        )
        parent_of[area_id] = parent_id

    counted = LEVEL_ORDER[max_level.depth + 1] if max_level.depth + 1 < len(LEVEL_ORDER) else None
    if counted is not None and nodes:
        query = select(Area.parent_id, func.count(Area.id)).where(Area.level == counted).group_by(Area.parent_id)
        for parent_id, count in db.execute(query):
            if parent_id in nodes:
                nodes[parent_id].counts[counted] = count

    roots: list[AreaTreeNode] = []
    for area_id, node in nodes.items():
        parent_id = parent_of[area_id]
        if parent_id in nodes and (root is None or area_id != root.id):
            nodes[parent_id].children.append(node)
        else:
            roots.append(node)

    def finish(node: AreaTreeNode) -> dict[AreaLevel, int]:
        node.children.sort(key=lambda child: child.code)
        totals: dict[AreaLevel, int] = defaultdict(int, node.counts)
        for child in node.children:
            totals[child.level] += 1
            for level, count in finish(child).items():
                totals[level] += count
        node.counts = {level: totals[level] for level in LEVEL_ORDER if totals.get(level)}
        return node.counts

    roots.sort(key=lambda node: node.code)
    for node in roots:
        finish(node)
    return roots


# --- export ---------------------------------------------------------------------------------------------------------


def _geojson_geometries(geometries: NDArray[np.object_]) -> list[dict[str, Any] | None]:
    import json

    texts = shapely.to_geojson(geometries)
    return [None if text is None else json.loads(text) for text in texts]


def _simplified(geometries: NDArray[np.object_], metres: float) -> NDArray[np.object_]:
    """Simplifies polygons by about `metres`, keeping shared edges shared when the level tiles without overlaps."""
    polygonal = np.array([g is not None and g.geom_type in POLYGONAL for g in geometries], dtype=bool)
    if not polygonal.any() or metres <= 0:
        return geometries
    projection = MetricProjection.around(geometries[polygonal])
    metric = projection.to_metric(geometries[polygonal])
    simplified = shapely.coverage_simplify(metric, metres)
    if not (shapely.is_valid(simplified).all() and not shapely.is_empty(simplified).any()):
        # Not a clean coverage (overlaps or gaps): simplify each boundary on its own instead.
        simplified = shapely.simplify(metric, metres, preserve_topology=True)
    result = geometries.copy()
    result[polygonal] = projection.to_wgs84(simplified)
    return result


def _rounded(geometries: NDArray[np.object_], digits: int) -> NDArray[np.object_]:
    rounded = shapely.transform(geometries, lambda xy: np.round(xy, digits))
    # NOTE: rounding can fold a very thin polygon onto itself; keep the original where it would.
    broken = ~shapely.is_valid(rounded) & shapely.is_valid(geometries)
    rounded[broken] = geometries[broken]
    return rounded


def export_geojson(
    *,
    db: Session,
    level: AreaLevel | str,
    simplify_m: float | None = None,
    within_code: str | None = None,
    crs: Crs | str = Crs.wgs84,
    digits: int = 7,
) -> dict[str, Any]:
    """Returns the areas of one level (optionally within an area) as a GeoJSON FeatureCollection that imports back."""
    level, crs = AreaLevel(level), Crs(crs)
    query = select(Area).where(Area.level == level)
    if within_code:
        root = get(db=db, code=within_code)
        query = query.where(Area.path.startswith(root.path, autoescape=True))
    areas = sorted(db.scalars(query), key=lambda area: area.code)
    parent_ids = sorted({a.parent_id for a in areas if a.parent_id is not None})
    parent_codes: dict[int, str] = {}
    for start in range(0, len(parent_ids), _CHUNK):
        chunk = parent_ids[start : start + _CHUNK]
        parent_codes.update(
            (area_id, code) for area_id, code in db.execute(select(Area.id, Area.code).where(_among(Area.id, chunk)))
        )
    geometries = np.array([area.geometry for area in areas], dtype=object)
    if areas:
        if simplify_m:
            geometries = _simplified(geometries, float(simplify_m))
        if crs is not Crs.wgs84:
            geometries = shapely.transform(geometries, lambda xy: np.column_stack(from_wgs84(xy[:, 0], xy[:, 1], crs)))
        geometries = _rounded(geometries, digits)
    features = []
    for area, geometry in zip(areas, _geojson_geometries(geometries) if areas else [], strict=True):
        properties: dict[str, Any] = {
            "code": area.code,
            "name": area.name,
            "level": area.level.value,
            "parent": parent_codes.get(area.parent_id) if area.parent_id else None,
            "population": area.population,
            "households": area.households,
            "area_m2": area.area_m2,
        }
        for key, value in (area.attributes or {}).items():
            properties.setdefault(key, value)
        features.append({"type": "Feature", "id": area.code, "properties": properties, "geometry": geometry})
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs is not Crs.wgs84:
        collection["gridgov:crs"] = crs.value  # foreign member: tells a reader the coordinates are not WGS84
    return collection
