"""API shapes of the area tree and of point → grid lookup."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridgov.core.geo import Crs
from gridgov.domains.areas.enums import AreaLevel


class AreaRef(BaseModel):
    """A pointer to an area, as other objects and lists show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    level: AreaLevel


class AreaRead(AreaRef):
    """One area with its place in the tree, figures and (optionally) its WGS84 boundary as GeoJSON."""

    path: str = Field(description="Codes of the ancestors and the area itself: /district/street/.../code/")
    parent: AreaRef | None
    ancestors: list[AreaRef] = Field(description="From the district down to the parent.")
    children: list[AreaRef]
    population: int | None
    households: int | None
    area_m2: float | None = Field(description="Geodesic area in square metres (0 for a point).")
    bbox: list[float] | None = Field(description="[min_lng, min_lat, max_lng, max_lat] in WGS84.")
    attributes: dict[str, Any]
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON geometry in WGS84.")
    created_at: dt.datetime
    updated_at: dt.datetime


class AreaTreeNode(BaseModel):
    """A node of the area tree down to a chosen level; deeper levels are counted, not listed."""

    id: int
    code: str
    name: str
    level: AreaLevel
    population: int | None = None
    households: int | None = None
    area_m2: float | None = None
    counts: dict[AreaLevel, int] = Field(
        default_factory=dict, description="Number of descendants per level (listed and counted levels)."
    )
    children: list[AreaTreeNode] = Field(default_factory=list)


class Coordinates(BaseModel):
    """A longitude/latitude pair in a named coordinate system."""

    lng: float
    lat: float
    crs: Crs = Crs.wgs84


class LocateResult(BaseModel):
    """Which grid (and community, street, district) a point falls in; the nearest grid when it is in none."""

    status: Literal["inside", "outside", "empty"] = Field(
        description="inside: in a grid; outside: in no grid (see nearest); empty: no grids are imported."
    )
    input: Coordinates
    wgs84: Coordinates
    grid: AreaRef | None = None
    community: AreaRef | None = None
    street: AreaRef | None = None
    district: AreaRef | None = None
    nearest: AreaRef | None = Field(None, description="When outside: the grid nearest to the point.")
    distance_m: float | None = Field(None, description="When outside: geodesic distance to that grid in metres.")
