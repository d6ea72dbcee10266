"""Read-only JSON API of the area tree, and point → grid lookup."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from gridgov.core.db import DbSession
from gridgov.domains.areas import locate, service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.schemas import AreaRead, AreaTreeNode, LocateResult

router = APIRouter(tags=["areas"])


@router.get("/areas/tree", response_model=list[AreaTreeNode])
def get_area_tree(
    db: DbSession,
    root: Annotated[str | None, Query(description="Code of the area to start from (default: every district).")] = None,
    depth: Annotated[
        int | None,
        Query(ge=0, le=4, description="Levels to list below the root; the level under the last one is counted."),
    ] = None,
) -> list[AreaTreeNode]:
    """Returns the area tree, by default down to communities, with grids counted."""
    return service.get_tree(db=db, root_code=root, depth=depth)


@router.get(
    "/areas/geojson",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}, "description": "A GeoJSON FeatureCollection."}},
)
def get_area_geojson(
    db: DbSession,
    level: Annotated[AreaLevel, Query(description="Which level to return.")] = AreaLevel.grid,
    simplify: Annotated[
        float | None, Query(ge=0, le=10_000, description="Simplify boundaries by about this many metres (maps).")
    ] = None,
    within: Annotated[str | None, Query(description="Only areas inside the area with this code.")] = None,
) -> JSONResponse:
    """Returns every area of a level as a WGS84 GeoJSON FeatureCollection, optionally simplified."""
    collection: dict[str, Any] = service.export_geojson(db=db, level=level, simplify_m=simplify, within_code=within)
    return JSONResponse(collection, media_type="application/geo+json")


@router.get("/areas/{code}", response_model=AreaRead)
def get_area(
    code: str,
    db: DbSession,
    geometry: Annotated[bool, Query(description="Include the boundary as GeoJSON.")] = True,
) -> AreaRead:
    """Returns one area with its parent, ancestors, children and boundary."""
    return service.describe(db=db, code=code, include_geometry=geometry)


@router.get("/locate", response_model=LocateResult)
def get_locate(
    db: DbSession,
    lng: Annotated[str | None, Query(description="Longitude in decimal degrees, e.g. 113.6853.")] = None,
    lat: Annotated[str | None, Query(description="Latitude in decimal degrees, e.g. 34.7842.")] = None,
    crs: Annotated[str | None, Query(description="Coordinate system of the point: wgs84, gcj02 or bd09.")] = "wgs84",
) -> LocateResult:
    """Returns the grid, community, street and district of a point, or the nearest grid when it is in none."""
    x, y, parsed_crs = locate.parse_coordinates(lng, lat, crs)
    return locate.resolve(db=db, lng=x, lat=y, crs=parsed_crs)
