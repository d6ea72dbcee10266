"""Enumerations of the area tree."""

from enum import StrEnum


class AreaLevel(StrEnum):
    """The levels of the area tree, from the district down to a building (楼院)."""

    district = "district"
    street = "street"
    community = "community"
    grid = "grid"
    building = "building"

    @property
    def depth(self) -> int:
        return LEVEL_ORDER.index(self)

    @property
    def parent_level(self) -> "AreaLevel | None":
        return None if self.depth == 0 else LEVEL_ORDER[self.depth - 1]


LEVEL_ORDER: tuple[AreaLevel, ...] = tuple(AreaLevel)

LEVEL_LABELS_ZH = {
    AreaLevel.district: "区",
    AreaLevel.street: "街道",
    AreaLevel.community: "社区",
    AreaLevel.grid: "网格",
    AreaLevel.building: "楼院",
}

LEVEL_PLURALS_EN = {
    AreaLevel.district: "districts",
    AreaLevel.street: "streets",
    AreaLevel.community: "communities",
    AreaLevel.grid: "grids",
    AreaLevel.building: "buildings",
}
