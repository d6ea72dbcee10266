"""A small world for the party tests: the synthetic two-street district, buildings and households, users per role
and a party tree.

Streets: W = 410105001 (communities W001 north, W002 south), E = 410105002. Buildings (points): B1, B2 in grid
W001001; B3 in W001002; B4 in W001003; B5 in W002001; B6 in E001001. Households: 3 in each building (rooms 101-103).

Tree (codes):
  W-DGW (street, W)
    W-N (community 党委, W001)
      W-N-G1 (grid branch covering two grids: W001001 and W001002)
        W-N-G1-B1 (building group, B1)
          W-N-G1-B1-H1 (党员中心户, B1)
      W-N-G2 (grid branch, W001003)
    W-S (community 党支部, W002)
      W-S-G1 (grid branch, W002001)
  E-DGW (street, E)
    E-N (community 党总支, E001)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.party import service
from gridgov.domains.party.schemas import OrgIn, PartyTreeDocument
from gridgov.domains.people.models import Household
from tests.domains.areas.synthetic import collection, feature, grid_boxes, lnglat
from tests.domains.auth.world import PASSWORD, load_world

W, E = "410105001", "410105002"
W_N, W_S, E_N = f"{W}001", f"{W}002", f"{E}001"
BUILDINGS = {  # code: (grid, x offset share, y offset share)
    "B1": (f"{W_N}001", 0.3, 0.3),
    "B2": (f"{W_N}001", 0.7, 0.7),
    "B3": (f"{W_N}002", 0.5, 0.5),
    "B4": (f"{W_N}003", 0.5, 0.5),
    "B5": (f"{W_S}001", 0.5, 0.5),
    "B6": (f"{E_N}001", 0.5, 0.5),
}
# name: role, unit code, scope area code (besides the auth world's users)
EXTRA_USERS: dict[str, tuple[Role, str | None, str | None]] = {
    "secretary_s": (Role.community_secretary, f"{W_S}-JWH", W_S),
    "street_e": (Role.street_dispatcher, f"{E}-CYZX", E),
}


def building_code(name: str) -> str:
    return f"{BUILDINGS[name][0]}{name[1:].zfill(5)}"


def tree_document() -> PartyTreeDocument:
    """Returns the world's party tree as a document."""
    org = OrgIn.model_validate
    return PartyTreeDocument(
        orgs=[
            org({"code": "W-DGW", "name": "经八路街道党工委", "level": "street", "areas": [W], "secretary": "王书记"}),
            org({"code": "W-N", "name": "经八北社区党委", "level": "community", "kind": "党委", "parent": "W-DGW",
                 "areas": [W_N]}),
            org({"code": "W-N-G1", "name": "经八北社区第一网格党支部", "level": "grid", "parent": "W-N",
                 "areas": [f"{W_N}001", f"{W_N}002"]}),
            org({"code": "W-N-G1-B1", "name": "1号楼院党小组", "level": "building", "parent": "W-N-G1",
                 "areas": [building_code("B1")]}),
            org({"code": "W-N-G1-B1-H1", "name": "1号楼党员中心户", "level": "household", "parent": "W-N-G1-B1",
                 "areas": [building_code("B1")]}),
            org({"code": "W-N-G2", "name": "经八北社区第三网格党支部", "level": "grid", "parent": "W-N",
                 "areas": [f"{W_N}003"]}),
            org({"code": "W-S", "name": "经八南社区党支部", "level": "community", "kind": "branch", "parent": "W-DGW",
                 "areas": [W_S]}),
            org({"code": "W-S-G1", "name": "经八南社区第一网格党支部", "level": "grid", "parent": "W-S",
                 "areas": [f"{W_S}001"]}),
            org({"code": "E-DGW", "name": "花园路街道党工委", "level": "street", "areas": [E]}),
            org({"code": "E-N", "name": "花园北社区党总支", "level": "community", "kind": "general_branch",
                 "parent": "E-DGW", "areas": [E_N]}),
        ]
    )  # fmt: skip


@dataclass
class PartyWorld:
    """Handles on the loaded world."""

    db: Session
    users: dict[str, User] = field(default_factory=dict)
    households: dict[str, list[int]] = field(default_factory=dict)  # building name → household ids

    def actor(self, name: str) -> Actor:
        return auth_service.actor_of(self.users[name])

    def area(self, code: str) -> Area:
        return self.db.scalars(select(Area).where(Area.code == code)).one()


def load_buildings(db: Session) -> None:
    """Imports the world's buildings as points inside their grids."""
    features = []
    for name, (grid, fx, fy) in BUILDINGS.items():
        x0, y0, x1, y1 = grid_boxes(grid[:12])[grid]
        lng, lat = lnglat(x0 + (x1 - x0) * fx, y0 + (y1 - y0) * fy)
        point = {"type": "Point", "coordinates": [lng, lat]}
        features.append(feature(building_code(name), f"{name}号楼", grid, point))
    area_service.import_geojson(db=db, collection=collection(*features), level=AreaLevel.building, source="b.geojson")


def load_party_world(db: Session, *, with_tree: bool = True) -> PartyWorld:
    """Loads areas, buildings, households, users and (by default) the party tree."""
    auth = load_world(db, with_cases=False)
    load_buildings(db)
    world = PartyWorld(db=db, users=dict(auth.users))
    for name, (role, unit, scope) in EXTRA_USERS.items():
        world.users[name] = auth_service.create_user(
            db=db,
            data=UserCreate(
                username=name, display_name=f"{name} 用户", role=role, unit=unit, scope=scope, password=PASSWORD
            ),
        )
    for name in BUILDINGS:
        building = world.area(building_code(name))
        rows = [Household(building_id=building.id, area_path=building.path, room=f"{n}01") for n in (1, 2, 3)]
        db.add_all(rows)
        db.flush()
        world.households[name] = [r.id for r in rows]
    if with_tree:
        service.import_document(db=db, document=tree_document(), source="world tree")
    db.flush()
    return world
