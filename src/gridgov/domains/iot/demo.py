"""IoT part of the Jinshui demo: the device types and rules of `demo/data/iot.yaml` and ~600 generated devices.

Devices are drawn deterministically (a fixed seed) on the demo grids already in the database, and imported
through the registry's own importers, so the demo is checked like a district's files; loading it twice changes
nothing. Owners are units of the demo catalogue: the water company for manhole covers and hydrants, the gas
company for gas detectors, the municipal-facilities centre for ponding sensors and street lights, the ecology
and environment bureau for noise and dust monitors, the street's sanitation team (环卫所) for bins and the
community's residents' committee (居委会) for the smoke detectors in its homes.
"""

from __future__ import annotations

import datetime as dt
import random
from importlib import resources

import shapely
from sqlalchemy.orm import Session

from gridgov.domains.areas import locate
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.iot import registry
from gridgov.domains.iot.files import DeviceFile, DeviceRow
from gridgov.domains.iot.schemas import DeviceIn, IotConfigDocument

SEED = 410105
SOURCE = "gridgov demo iot"

# type code → (code prefix, short name, how many, owner: a unit code, or "street:<suffix>" / "community:<suffix>"
# for the unit of the device's own street or community)
FLEET: dict[str, tuple[str, str, int, str]] = {
    "smoke_detector": ("YG", "烟感", 150, "community:JWH"),
    "manhole_tilt": ("JG", "井盖", 100, "410105-QY-GS"),
    "bin_fill": ("LJT", "垃圾桶", 100, "street:HWS"),
    "street_light": ("LD", "路灯", 80, "410105-SZZX"),
    "hydrant_pressure": ("XHS", "消防栓", 50, "410105-QY-GS"),
    "water_level": ("JS", "积水点", 40, "410105-SZZX"),
    "gas_detector": ("RQ", "燃气", 40, "410105-QY-RQ"),
    "noise_monitor": ("ZS", "噪声", 20, "410105-STHJ"),
    "dust_monitor": ("YC", "扬尘", 20, "410105-STHJ"),
}
INSTALLED_FROM = dt.date(2023, 3, 1)
INSTALLED_DAYS = 900


def load_config_document() -> IotConfigDocument:
    """Reads the packaged demo config (device types and rules) through the registry's file reader."""
    with resources.as_file(resources.files("gridgov.demo").joinpath("data/iot.yaml")) as path:
        return registry.load_config(path)


def generate_devices(*, db: Session, seed: int = SEED) -> DeviceFile:
    """Draws the demo devices on the grids in the database: a random point inside a random grid each."""
    index = locate.get_index(db=db)
    rng = random.Random(seed)
    result = DeviceFile(source=SOURCE)
    if not len(index):
        return result
    number = 0
    for type_code, (prefix, label, count, owner_rule) in FLEET.items():
        for n in range(1, count + 1):
            position = rng.randrange(len(index))
            geometry = index.geometries[position]
            min_x, min_y, max_x, max_y = geometry.bounds
            while True:  # rejection sampling inside the grid's bounding box: grids are compact, so this is quick
                # NOTE: rounded to 1e-7° (~1 cm) before the test, so the stored point is the one found inside.
                lng, lat = round(rng.uniform(min_x, max_x), 7), round(rng.uniform(min_y, max_y), 7)
                if shapely.contains_xy(geometry, lng, lat):
                    break
            refs = index.refs_at(position)
            grid, street, community = refs[AreaLevel.grid], refs[AreaLevel.street], refs[AreaLevel.community]
            scope, _, suffix = owner_rule.partition(":")
            if scope == "street" and street is not None:
                owner = f"{street.code}-{suffix}"
            elif scope == "community" and community is not None:
                owner = f"{community.code}-{suffix}"
            else:
                owner = owner_rule
            installed = INSTALLED_FROM + dt.timedelta(days=rng.randrange(INSTALLED_DAYS))
            number += 1
            device = DeviceIn(
                code=f"{prefix}-{n:04d}",
                serial=f"{prefix}{installed:%Y}{rng.randrange(10**6):06d}",
                name=f"{label}{n:04d}（{grid.name}）" if grid else f"{label}{n:04d}",
                type=type_code,
                owner=owner,
                address=f"{street.name if street else ''}{community.name if community else ''}",
                installed_at=dt.datetime.combine(installed, dt.time(10, 0)),
                lng=lng,
                lat=lat,
            )
            result.rows.append(DeviceRow(where=f"{SOURCE} device {number} (code {device.code})", device=device))
    return result


def load_demo(*, db: Session) -> dict[str, int]:
    """Imports the demo device types, rules and devices (no commit); returns how many of each the demo has."""
    document = load_config_document()
    registry.import_config(db=db, document=document, source="demo/data/iot.yaml")
    devices = generate_devices(db=db)
    registry.import_devices(db=db, devices=devices)
    return {"device_types": len(document.device_types), "rules": len(document.rules), "devices": len(devices.rows)}
