"""Geometry helpers of the area tree: a local metric projection, and repairing or checking boundaries."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

POLYGONAL = ("Polygon", "MultiPolygon")


_A = 6378137.0  # WGS84 semi-major axis
_E2 = 0.00669437999014  # WGS84 first eccentricity squared


@dataclass(frozen=True)
class MetricProjection:
    """A local affine map from WGS84 degrees to metres around a district (equirectangular at its centre).

    Tolerances (metres, square metres) and simplification are measured here. It is affine on purpose: GeoJSON edges
    are straight in longitude/latitude, and only an affine map keeps them straight, so containment and shared
    edges mean the same in metres as in degrees (a transverse Mercator bends a 40 km parallel edge by ~18 m). The
    scale error is tan(lat)·Δlat, about 0.2 % twenty kilometres north or south of the centre.
    """

    lng0: float
    lat0: float

    @classmethod
    def around(cls, geometries: list[BaseGeometry] | NDArray[np.object_]) -> MetricProjection:
        """Returns the projection centred on the bounding box of `geometries` (WGS84)."""
        min_lng, min_lat, max_lng, max_lat = shapely.total_bounds(np.asarray(geometries, dtype=object))
        if not np.isfinite(min_lng):
            return cls(0.0, 0.0)
        return cls(float(min_lng + max_lng) / 2.0, float(min_lat + max_lat) / 2.0)

    @property
    def scale(self) -> tuple[float, float]:
        """Metres per degree of longitude and of latitude at the centre, on the WGS84 ellipsoid."""
        phi = math.radians(self.lat0)
        w = 1.0 - _E2 * math.sin(phi) ** 2
        per_radian_lat = _A * (1.0 - _E2) / w**1.5
        per_radian_lng = _A / math.sqrt(w) * math.cos(phi)
        return math.radians(per_radian_lng), math.radians(per_radian_lat)

    def to_metric(self, geometries: NDArray[np.object_]) -> NDArray[np.object_]:
        """Returns `geometries` (WGS84 degrees) in local metres."""
        kx, ky = self.scale
        return shapely.transform(geometries, lambda xy: (xy - [self.lng0, self.lat0]) * [kx, ky])

    def to_wgs84(self, geometries: NDArray[np.object_]) -> NDArray[np.object_]:
        """Returns metric `geometries` back in WGS84 degrees."""
        kx, ky = self.scale
        return shapely.transform(geometries, lambda xy: xy / [kx, ky] + [self.lng0, self.lat0])


def keep_types(geometry: BaseGeometry, types: tuple[str, ...]) -> BaseGeometry | None:
    """Returns the parts of `geometry` whose type is in `types` (e.g. after make_valid), or None if none is left."""
    if geometry.is_empty:
        return None
    if geometry.geom_type in types:
        return geometry
    parts = [part for part in shapely.get_parts(geometry) if not part.is_empty and part.geom_type in types]
    if not parts and geometry.geom_type == "GeometryCollection":
        parts = [
            part
            for sub in shapely.get_parts(geometry)
            for part in shapely.get_parts(sub)
            if not part.is_empty and part.geom_type in types
        ]
    if not parts:
        return None
    if all(part.geom_type in POLYGONAL for part in parts):
        merged = shapely.union_all(parts)
        return merged if merged.geom_type in types else None
    return parts[0] if len(parts) == 1 else None


def repair(geometry: BaseGeometry, types: tuple[str, ...]) -> BaseGeometry | None:
    """Returns `geometry` made valid with GEOS make_valid, keeping only parts of `types`; None if nothing is left."""
    return keep_types(shapely.make_valid(geometry), types)


def orient(geometry: BaseGeometry) -> BaseGeometry:
    """Returns a polygonal geometry with counter-clockwise shells and clockwise holes (RFC 7946 right-hand rule)."""
    if geometry.geom_type in POLYGONAL:
        return shapely.orient_polygons(geometry, exterior_cw=False)
    return geometry
