"""The demo catalogue: the static district part (`data/catalog.yaml`) plus generated street and community units.

Street offices and communities come from the generator, so their units are generated here: for each of the
17 streets a 办事处 (street_office), a 城运中心 (street_centre) and four teams (城管中队, 环卫所, 综治中心,
市政维修队), and for each community its 居民委员会. Their functions are what the district-wide responsibility
rules in catalog.yaml resolve against ("the sanitation team of the case's street").
"""

from __future__ import annotations

from importlib import resources

from gridgov.demo.generate import DemoAreas
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.enums import UnitKind
from gridgov.domains.catalog.schemas import CatalogDocument, UnitIn

# suffix, name suffix, kind, function; the office comes first because the others name it as their parent.
STREET_UNITS: tuple[tuple[str, str, UnitKind, str], ...] = (
    ("BSC", "办事处", UnitKind.street_office, "street_affairs"),
    ("CYZX", "城市运行管理中心", UnitKind.street_centre, "operations"),
    ("CGZD", "城管中队", UnitKind.street_team, "urban_management"),
    ("HWS", "环卫所", UnitKind.street_team, "sanitation"),
    ("ZZZX", "综治中心", UnitKind.street_team, "social_governance"),
    ("SZWX", "市政维修队", UnitKind.street_team, "maintenance"),
)
COMMUNITY_UNIT_SUFFIX = "JWH"  # 居民委员会
COMMUNITY_FUNCTION = "community_affairs"


def load_static_catalog() -> CatalogDocument:
    """Reads the packaged district-level catalogue through the catalogue's own file reader."""
    with resources.as_file(resources.files("gridgov.demo").joinpath("data/catalog.yaml")) as path:
        return catalog_service.load_file(path)


def generate_units(areas: DemoAreas) -> list[UnitIn]:
    """Returns the units of every generated street and community."""
    units: list[UnitIn] = []
    for feature in areas.features(AreaLevel.street):
        code, name = feature["properties"]["code"], feature["properties"]["name"]
        office = f"{code}-{STREET_UNITS[0][0]}"
        for suffix, label, kind, function in STREET_UNITS:
            unit_code = f"{code}-{suffix}"
            units.append(
                UnitIn(
                    code=unit_code,
                    name=f"{name}{label}",
                    kind=kind,
                    level=AreaLevel.street,
                    function=function,
                    parent=None if unit_code == office else office,
                    area=code,
                )
            )
    for feature in areas.features(AreaLevel.community):
        properties = feature["properties"]
        units.append(
            UnitIn(
                code=f"{properties['code']}-{COMMUNITY_UNIT_SUFFIX}",
                name=f"{properties['name']}居民委员会",
                kind=UnitKind.community,
                level=AreaLevel.community,
                function=COMMUNITY_FUNCTION,
                parent=f"{properties['parent']}-{STREET_UNITS[0][0]}",
                area=properties["code"],
            )
        )
    return units


def build_catalog(areas: DemoAreas) -> CatalogDocument:
    """Returns the whole demo catalogue: the static district part with the generated units appended."""
    document = load_static_catalog()
    # Appended, so the static rows keep the file locations that error messages name.
    document.units.extend(generate_units(areas))
    return document
