"""Coordinate conversion between WGS84, GCJ-02 (国测局, AMap/Tencent/WeChat) and BD-09 (Baidu), and helpers.

GCJ-02 is WGS84 with a published obfuscation applied inside China; BD-09 is GCJ-02 with a further rotation.
The forward formulas are the public ones; GCJ-02 → WGS84 has no closed form and is solved by fixed-point
iteration, which converges below a millimetre in a few steps. Points outside China pass through unchanged,
as every Chinese map provider does.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_GEOD = Geod(ellps="WGS84")

FloatArray = NDArray[np.float64]


class Crs(StrEnum):
    """Coordinate reference systems accepted at the edges; gridgov stores WGS84."""

    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


def out_of_china(lng: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Returns True where a point lies outside the rough China box in which GCJ-02 applies."""
    lng, lat = np.asarray(lng, dtype=float), np.asarray(lat, dtype=float)
    return ~((lng >= 72.004) & (lng <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271))


def _delta(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x, y = lng - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlng += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlng += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlng += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlng, dlat


def wgs84_to_gcj02(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Converts WGS84 to GCJ-02 (vectorised); points outside China are returned unchanged."""
    lng, lat = np.asarray(lng, dtype=float), np.asarray(lat, dtype=float)
    dlng, dlat = _delta(lng, lat)
    outside = out_of_china(lng, lat)
    return np.where(outside, lng, lng + dlng), np.where(outside, lat, lat + dlat)


def gcj02_to_wgs84(lng: ArrayLike, lat: ArrayLike, iterations: int = 6) -> tuple[FloatArray, FloatArray]:
    """Converts GCJ-02 to WGS84 by fixed-point iteration (error well under 1 cm inside China)."""
    g_lng, g_lat = np.asarray(lng, dtype=float), np.asarray(lat, dtype=float)
    w_lng, w_lat = g_lng.copy(), g_lat.copy()
    for _ in range(iterations):
        t_lng, t_lat = wgs84_to_gcj02(w_lng, w_lat)
        w_lng, w_lat = w_lng - (t_lng - g_lng), w_lat - (t_lat - g_lat)
    outside = out_of_china(g_lng, g_lat)
    return np.where(outside, g_lng, w_lng), np.where(outside, g_lat, w_lat)


def gcj02_to_bd09(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Converts GCJ-02 to BD-09 (Baidu)."""
    x, y = np.asarray(lng, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    outside = out_of_china(x, y)
    return np.where(outside, x, z * np.cos(theta) + 0.0065), np.where(outside, y, z * np.sin(theta) + 0.006)


def bd09_to_gcj02(lng: ArrayLike, lat: ArrayLike, iterations: int = 4) -> tuple[FloatArray, FloatArray]:
    """Converts BD-09 (Baidu) to GCJ-02: the public closed-form inverse, refined by fixed-point iteration."""
    b_lng, b_lat = np.asarray(lng, dtype=float), np.asarray(lat, dtype=float)
    x, y = b_lng - 0.0065, b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lng, g_lat = z * np.cos(theta), z * np.sin(theta)
    # NOTE: the closed form is only good to ~10 cm; a few Newton-free corrections bring it under a millimetre.
    for _ in range(iterations):
        t_lng, t_lat = gcj02_to_bd09(g_lng, g_lat)
        g_lng, g_lat = g_lng - (t_lng - b_lng), g_lat - (t_lat - b_lat)
    outside = out_of_china(b_lng, b_lat)
    return np.where(outside, b_lng, g_lng), np.where(outside, b_lat, g_lat)


def wgs84_to_bd09(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Converts WGS84 to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def bd09_to_wgs84(lng: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Converts BD-09 to WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


_TO_WGS84 = {
    Crs.wgs84: lambda lng, lat: (np.asarray(lng, dtype=float), np.asarray(lat, dtype=float)),
    Crs.gcj02: gcj02_to_wgs84,
    Crs.bd09: bd09_to_wgs84,
}
_FROM_WGS84 = {
    Crs.wgs84: lambda lng, lat: (np.asarray(lng, dtype=float), np.asarray(lat, dtype=float)),
    Crs.gcj02: wgs84_to_gcj02,
    Crs.bd09: wgs84_to_bd09,
}


def to_wgs84(lng: ArrayLike, lat: ArrayLike, crs: Crs | str) -> tuple[FloatArray, FloatArray]:
    """Converts coordinates given in `crs` to WGS84 (vectorised)."""
    return _TO_WGS84[Crs(crs)](lng, lat)


def from_wgs84(lng: ArrayLike, lat: ArrayLike, crs: Crs | str) -> tuple[FloatArray, FloatArray]:
    """Converts WGS84 coordinates to `crs` (vectorised), e.g. for display on a GCJ-02 base map."""
    return _FROM_WGS84[Crs(crs)](lng, lat)


def point_to_wgs84(lng: float, lat: float, crs: Crs | str) -> tuple[float, float]:
    """Converts one point given in `crs` to WGS84."""
    x, y = to_wgs84(lng, lat, crs)
    return float(x), float(y)


def geometry_to_wgs84(geometry: BaseGeometry, crs: Crs | str) -> BaseGeometry:
    """Returns `geometry` with every vertex converted from `crs` to WGS84."""
    if Crs(crs) is Crs.wgs84:
        return geometry
    return shapely.transform(geometry, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs)))


def distance_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Returns the geodesic distance in metres between two WGS84 points."""
    return float(_GEOD.inv(lng1, lat1, lng2, lat2)[2])


def area_m2(geometry: BaseGeometry) -> float:
    """Returns the geodesic area in square metres of a WGS84 polygon or multipolygon (0 for points)."""
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return 0.0
    return abs(float(_GEOD.geometry_area_perimeter(geometry)[0]))


def metres_to_degrees(metres: float, lat: float) -> float:
    """Returns a rough angle in degrees that spans `metres` at latitude `lat` (for buffers and tolerances)."""
    return metres / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
