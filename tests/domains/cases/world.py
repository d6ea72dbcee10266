"""A small world for case tests: the synthetic 16-grid district plus a catalogue with units and rules.

Matter types:
- SJ0102 暴露垃圾 (event): street sanitation team handles it; admitted to grids; evidence required;
  register/dispatch 0.5 working hours, handle 4 working hours, verify 2 working hours.
- SJ0501 占道经营 (event): street urban-management team; in street 410105002 an area rule overrides it to the
  district 城管局. No evidence required.
- BJ0101 上水井盖 (component): the water company, department-only; urgent limits in natural hours.
- ZZ0101 矛盾纠纷 (social): the community committee (grid-admitted), handle 2 working days.
- SJ0601 其他事件: its rule names a function no unit has, so it always waits in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.models import Unit
from gridgov.domains.catalog.schemas import CatalogDocument
from tests.domains.areas.synthetic import lnglat, load_tree

STREET_W, STREET_E = "410105001", "410105002"
COMMUNITY_W_N = "410105001001"

LIMITS = {"register": "0.5wh", "dispatch": "0.5wh", "handle": "4wh", "verify": "2wh"}


def catalogue() -> CatalogDocument:
    units = [
        {"code": "CENTRE", "name": "区城运中心", "kind": "district_centre", "level": "district", "area": "410105"},
        {
            "code": "CGJ",
            "name": "区城市管理局",
            "kind": "district_bureau",
            "level": "district",
            "function": "urban_management",
            "area": "410105",
        },
        {"code": "WATER", "name": "供水公司", "kind": "enterprise", "level": "district", "function": "water"},
    ]
    for street in (STREET_W, STREET_E):
        units += [
            {
                "code": f"{street}-CYZX",
                "name": f"{street}城运中心",
                "kind": "street_centre",
                "level": "street",
                "area": street,
            },
            {
                "code": f"{street}-HWS",
                "name": f"{street}环卫所",
                "kind": "street_team",
                "level": "street",
                "function": "sanitation",
                "area": street,
            },
            {
                "code": f"{street}-CGZD",
                "name": f"{street}城管中队",
                "kind": "street_team",
                "level": "street",
                "function": "urban_management",
                "area": street,
            },
        ]
        for n in ("001", "002"):
            units.append(
                {
                    "code": f"{street}{n}-JWH",
                    "name": f"{street}{n}居委会",
                    "kind": "community",
                    "level": "community",
                    "function": "community_affairs",
                    "area": f"{street}{n}",
                }
            )
    matter_types = [
        {
            "code": "SJ0102",
            "name": "暴露垃圾",
            "kind": "event",
            "major_code": "01",
            "major_name": "市容环境",
            "minor_code": "02",
            "keywords": ["垃圾"],
            "time_limits": {"normal": LIMITS},
        },
        {
            "code": "SJ0501",
            "name": "占道经营",
            "kind": "event",
            "major_code": "05",
            "major_name": "街面秩序",
            "minor_code": "01",
            "evidence_required": False,
            "time_limits": {"normal": LIMITS},
        },
        {
            "code": "BJ0101",
            "name": "上水井盖",
            "kind": "component",
            "major_code": "01",
            "major_name": "公用设施",
            "minor_code": "01",
            "department_only": True,
            "default_urgency": "urgent",
            "time_limits": {
                "normal": LIMITS,
                "urgent": {"register": "0.5h", "dispatch": "0.5h", "handle": "4h", "verify": "2h"},
            },
        },
        {
            "code": "ZZ0101",
            "name": "矛盾纠纷",
            "kind": "social",
            "major_code": "01",
            "major_name": "矛盾纠纷",
            "minor_code": "01",
            "evidence_required": False,
            "time_limits": {"normal": {**LIMITS, "handle": "2wd"}},
        },
        {
            "code": "SJ0601",
            "name": "其他事件",
            "kind": "event",
            "major_code": "06",
            "major_name": "其他事件",
            "minor_code": "01",
            "evidence_required": False,
            "time_limits": {"normal": LIMITS},
        },
    ]
    responsibilities = [
        {"matter": "SJ0102", "level": "street", "function": "sanitation", "legal_basis": "illustrative"},
        {"matter": "SJ0501", "level": "street", "function": "urban_management"},
        {"matter": "SJ0501", "area": STREET_E, "level": "district", "unit": "CGJ"},
        {"matter": "BJ0101", "level": "district", "unit": "WATER"},
        {"matter": "ZZ0101", "level": "community", "function": "community_affairs"},
        {"matter": "SJ0601", "level": "district", "unit": "CGJ"},
    ]
    grid_access = [
        {"matter": "SJ0102", "admitted": True},
        {"matter": "ZZ0101", "admitted": True},
        {"matter": "SJ0501", "admitted": False},
    ]
    return CatalogDocument.model_validate(
        {"units": units, "matter_types": matter_types, "responsibilities": responsibilities, "grid_access": grid_access}
    )


@dataclass
class World:
    """Handles on the loaded world: units by code, actors by role."""

    db: Session

    def unit(self, code: str) -> Unit:
        return self.db.scalars(select(Unit).where(Unit.code == code)).one()

    def area(self, code: str) -> Area:
        return self.db.scalars(select(Area).where(Area.code == code)).one()

    def actor(self, role: Role, unit: str | None = None, user_id: int | None = None, name: str | None = None) -> Actor:
        return Actor(name=name or f"{role}", role=role, user_id=user_id, unit_id=self.unit(unit).id if unit else None)

    @property
    def grid_worker(self) -> Actor:
        return self.actor(Role.grid_worker, f"{COMMUNITY_W_N}-JWH", user_id=101, name="网格员甲")

    @property
    def other_grid_worker(self) -> Actor:
        return self.actor(Role.grid_worker, f"{COMMUNITY_W_N}-JWH", user_id=102, name="网格员乙")

    @property
    def street_dispatcher(self) -> Actor:
        return self.actor(Role.street_dispatcher, f"{STREET_W}-CYZX", user_id=201, name="街道派遣员")

    @property
    def district_dispatcher(self) -> Actor:
        return self.actor(Role.district_dispatcher, "CENTRE", user_id=301, name="区值班长")

    @property
    def leader(self) -> Actor:
        return self.actor(Role.district_leader, "CENTRE", user_id=401, name="区领导")

    @property
    def sanitation(self) -> Actor:
        return self.actor(Role.unit_handler, f"{STREET_W}-HWS", user_id=501, name="环卫所处置员")

    @property
    def citizen(self) -> Actor:
        return Actor(name="市民", role=Role.citizen)


def point(x_m: float = 120.0, y_m: float = 880.0) -> tuple[float, float]:
    """A WGS84 point inside the synthetic district (default: grid 410105001001001, north-west)."""
    return lnglat(x_m, y_m)


def load_world(db: Session) -> World:
    """Loads the synthetic areas and the catalogue into `db` (inside the test's transaction)."""
    load_tree(db)
    catalog_service.import_document(db=db, document=catalogue(), source="world.yaml")
    db.flush()
    return World(db=db)


def add_token_user(
    db: Session,
    username: str,
    role: Role,
    unit: str | None,
    scope: str | None,
    *,
    display_name: str | None = None,
    scopes: tuple[str, ...] = ("cases:read", "cases:write"),
) -> tuple[User, str]:
    """Creates a token-only user and an API token for them; returns the user and the token text."""
    user = auth_service.create_user(
        db=db,
        data=UserCreate(username=username, display_name=display_name or username, role=role, unit=unit, scope=scope),
    )
    _token, text = auth_service.create_token(db=db, user=user, name="tests", scopes=list(scopes))
    return user, text


def bearer(token: str) -> dict[str, str]:
    """Returns the Authorization header of an API token."""
    return {"Authorization": f"Bearer {token}"}
